package walstore

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/walkeeper/walkeeper/pgwal"
)

// readerTimeline is a store whose timeline starts mid-segment (segment 2,
// two pages and 320 bytes in), with two segments of fake WAL written in
// random chunks from rng and flushed, for the Reader tests.
type readerTimeline struct {
	s        *Store
	dir      string
	segStart pgwal.LSN // the first segment's start
	tlStart  pgwal.LSN // timeline_start_lsn
	data     []byte    // the WAL from tlStart
	end      pgwal.LSN
}

func newReaderTimeline(t *testing.T, rng *rand.Rand) readerTimeline {
	t.Helper()
	tl := readerTimeline{dir: t.TempDir(), segStart: 2 * testSeg}
	tl.s = openFake(t, tl.dir, 0)
	tl.tlStart = tl.segStart + 2*pgwal.XLogBlockSize + 320
	if err := tl.s.InitializeFirstSegment(tl.tlStart); err != nil {
		t.Fatal(err)
	}
	if err := tl.s.Truncate(tl.tlStart); err != nil {
		t.Fatal(err)
	}
	tl.data = fakeWAL(tl.tlStart, 2*testSeg)
	tl.end = writeChunks(t, tl.s, rng, tl.tlStart, tl.data)
	if err := tl.s.Flush(); err != nil {
		t.Fatal(err)
	}
	return tl
}

func TestReaderPrefixAndErrors(t *testing.T) {
	t.Parallel()
	tl := newReaderTimeline(t, rand.New(rand.NewPCG(8, 8)))
	s, segStart, tlStart, data, end := tl.s, tl.segStart, tl.tlStart, tl.data, tl.end
	prefix := pgwal.AppendSegmentPrefix(nil, tlStart, s.cfg.SystemID, testSeg, s.cfg.PGVersion)

	r := s.NewReader(tlStart, tlStart)
	defer r.Close()
	// Reads before timeline start are synthetic and stop at it.
	buf := make([]byte, testSeg)
	n, err := r.ReadAt(buf, segStart+10)
	if err != nil || n != int(tlStart-segStart-10) || !bytes.Equal(buf[:n], prefix[10:]) {
		t.Fatalf("prefix read: %d %v", n, err)
	}
	// Whole stream from the segment start = prefix + WAL.
	got := readAll(t, r, segStart, end)
	if want := append(append([]byte(nil), prefix...), data...); !bytes.Equal(got, want) {
		t.Fatal("segment start..end differs from prefix + WAL")
	}
	// A read never crosses a segment boundary.
	if n, err := r.ReadAt(buf, 3*testSeg-100); err != nil || n != 100 {
		t.Fatalf("read at segment end: %d %v", n, err)
	}
	if _, err := r.ReadAt(buf, segStart-1); !errors.Is(err, ErrBeforeStart) {
		t.Fatalf("before the first segment: %v", err)
	}
	if _, err := r.ReadAt(buf, 10*testSeg); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing segment: %v", err)
	}
	// Bytes below local_start_lsn (after timeline start) are not local.
	r2 := s.NewReader(tlStart, tlStart+testSeg)
	defer r2.Close()
	if _, err := r2.ReadAt(buf, tlStart+64); !errors.Is(err, ErrNotFound) {
		t.Fatalf("below local start: %v", err)
	}
	if _, err := s.NewReader(tlStart, 0).ReadAt(buf, tlStart); err == nil {
		t.Fatal("reader with local_start_lsn 0 read")
	}
}

// TestReadWhileWriting has readers chase the flushed position while the
// writer appends across segments (run with -race).
func TestReadWhileWriting(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openFake(t, dir, 0)
	start := pgwal.LSN(testSeg)
	if err := s.Truncate(start); err != nil {
		t.Fatal(err)
	}
	data := fakeWAL(start, 6*testSeg)
	total := start + pgwal.LSN(len(data))
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := s.NewReader(start, start)
			defer r.Close()
			buf := make([]byte, 5000)
			for pos := start; pos < total; {
				avail := s.FlushLSN()
				if pos >= avail {
					runtime.Gosched()
					continue
				}
				n, err := r.ReadAt(buf[:min(len(buf), int(avail-pos))], pos)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(buf[:n], data[pos-start:pos-start+pgwal.LSN(n)]) {
					errs <- errors.New("read differs from written")
					return
				}
				pos += pgwal.LSN(n)
			}
		}()
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for pos := start; pos < total; {
		n := min(int(total-pos), 1+rng.IntN(20000))
		if err := s.Write(pos, data[pos-start:pos-start+pgwal.LSN(n)]); err != nil {
			t.Fatal(err)
		}
		pos += pgwal.LSN(n)
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestReaderPrefersPartial: when both names of a segment exist (a crash
// between a truncation's steps), readers take the .partial.
func TestReaderPrefersPartial(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, b := range map[string]byte{"000000010000000000000001": 'F', "000000010000000000000001.partial": 'P'} {
		if err := os.WriteFile(filepath.Join(dir, name), bytes.Repeat([]byte{b}, testSeg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(fakeConfig(dir, testSeg), testSeg, testSeg)
	defer r.Close()
	buf := make([]byte, 10)
	if n, err := r.ReadAt(buf, testSeg+5); err != nil || n != 10 || buf[0] != 'P' {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
}
