package walstore

import (
	"sync"
	"testing"

	"github.com/walkeeper/walkeeper/pgwal"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	ops := map[string]*countObserver{}
	m := &Metrics{
		WriteSeconds: &countObserver{}, WriteBytes: &countObserver{}, FlushSeconds: &countObserver{},
		OpSeconds: func(op string) Observer {
			mu.Lock()
			defer mu.Unlock()
			if ops[op] == nil {
				ops[op] = &countObserver{}
			}
			return ops[op]
		},
	}
	cfg := fakeConfig(t.TempDir(), testSeg)
	cfg.Metrics = m
	s, err := Open(cfg, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := pgwal.LSN(testSeg + 64)
	if err := s.InitializeFirstSegment(start); err != nil {
		t.Fatal(err)
	}
	if err := s.Truncate(start); err != nil {
		t.Fatal(err)
	}
	const writes = 40
	data := fakeWAL(start, writes*4096)
	for i := range writes {
		if err := s.Write(start+pgwal.LSN(i*4096), data[i*4096:(i+1)*4096]); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.WriteSeconds.(*countObserver).n.Load(); n != writes {
		t.Errorf("write seconds observed %d times", n)
	}
	if n := m.WriteBytes.(*countObserver).n.Load(); n != writes {
		t.Errorf("write bytes observed %d times", n)
	}
	if n := m.FlushSeconds.(*countObserver).n.Load(); n < writes {
		t.Errorf("flush seconds observed %d times", n)
	}
	// Group commit: many writes, one Flush, one fdatasync.
	flushes := m.FlushSeconds.(*countObserver).n.Load()
	next := start + pgwal.LSN(len(data))
	more := fakeWAL(next, writes*512)
	for i := range writes {
		if err := s.Write(next+pgwal.LSN(i*512), more[i*512:(i+1)*512]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := m.FlushSeconds.(*countObserver).n.Load() - flushes; n != 1 {
		t.Errorf("%d writes and one Flush made %d fdatasyncs", writes, n)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := m.FlushSeconds.(*countObserver).n.Load() - flushes; n != 1 {
		t.Errorf("a Flush with nothing new synced")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, op := range []string{OpInitializeFirstSegment, OpTruncateWAL, OpInitializeSegment} {
		if ops[op] == nil || ops[op].n.Load() == 0 {
			t.Errorf("operation %s not observed", op)
		}
	}
}
