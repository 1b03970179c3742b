package walstore

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/walkeeper/walkeeper/pgwal"
)

const testSeg = 64 << 10

// countObserver counts observations.
type countObserver struct{ n atomic.Int64 }

func (c *countObserver) Observe(float64) { c.n.Add(1) }

// segNames lists the segment file names in dir, sorted.
func segNames(t *testing.T, dir string) []string {
	t.Helper()
	segs, err := listSegments(dir, testSeg)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range segs {
		names = append(names, s.name)
	}
	return names
}

func openFake(t *testing.T, dir string, commit pgwal.LSN) *Store {
	t.Helper()
	s, err := Open(fakeConfig(dir, testSeg), commit, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// writeChunks writes data at start in random pieces and returns the end.
func writeChunks(t *testing.T, s *Store, rng *rand.Rand, start pgwal.LSN, data []byte) pgwal.LSN {
	t.Helper()
	for len(data) > 0 {
		n := min(len(data), 1+rng.IntN(3*fakeRecSize+testSeg/8))
		if err := s.Write(start, data[:n]); err != nil {
			t.Fatalf("Write(%s, %d): %v", start, n, err)
		}
		start += pgwal.LSN(n)
		data = data[n:]
	}
	return start
}

func TestWritePositionsAndSegments(t *testing.T) {
	t.Parallel()
	for _, noSync := range []bool{false, true} {
		dir := t.TempDir()
		cfg := fakeConfig(dir, testSeg)
		cfg.NoSync = noSync
		flushes := &countObserver{}
		cfg.Metrics = &Metrics{FlushSeconds: flushes}
		s, err := Open(cfg, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		start := pgwal.LSN(3*testSeg + 1024)
		if err := s.Write(start, fakeWAL(start, 64)); !errors.Is(err, ErrTruncationPending) {
			t.Fatalf("write before truncation: %v", err)
		}
		if err := s.Truncate(start); err != nil {
			t.Fatal(err)
		}
		data := fakeWAL(start, 3*testSeg+100)
		rng := rand.New(rand.NewPCG(1, 2))
		end := writeChunks(t, s, rng, start, data)
		recEnd := start + pgwal.LSN(len(data)/fakeRecSize*fakeRecSize)
		if s.WriteLSN() != end || s.WriteRecordLSN() != recEnd {
			t.Fatalf("write %s record %s, want %s %s", s.WriteLSN(), s.WriteRecordLSN(), end, recEnd)
		}
		// Completed segments were flushed on the way.
		if got, want := s.FlushLSN(), pgwal.LSN(6*testSeg); got != want {
			t.Fatalf("flush_record_lsn before Flush = %s, want %s", got, want)
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		if s.FlushLSN() != recEnd || s.RawFlushLSN() != end {
			t.Fatalf("after Flush: %s raw %s", s.FlushLSN(), s.RawFlushLSN())
		}
		want := []string{"000000010000000000000003", "000000010000000000000004", "000000010000000000000005", "000000010000000000000006.partial"}
		if got := segNames(t, dir); !slices.Equal(got, want) {
			t.Fatalf("segments %v, want %v", got, want)
		}
		for _, n := range want {
			st, err := os.Stat(filepath.Join(dir, n))
			if err != nil || st.Size() != testSeg {
				t.Fatalf("%s: %v size %d", n, err, st.Size())
			}
		}
		if noSync && flushes.n.Load() != 0 {
			t.Fatalf("NoSync made %d fdatasyncs", flushes.n.Load())
		}
		if !noSync && flushes.n.Load() < 4 {
			t.Fatalf("only %d fdatasyncs", flushes.n.Load())
		}
		r := s.NewReader(start, start)
		got := readAll(t, r, start, end)
		if !bytes.Equal(got, data) {
			t.Fatal("read back differs")
		}
		r.Close()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, tmpName)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("waltmp left after Close: %v", err)
		}
	}
}

// readAll reads [from, to) through r in reads of at most one segment.
func readAll(t *testing.T, r *Reader, from, to pgwal.LSN) []byte {
	t.Helper()
	out := make([]byte, 0, to-from)
	buf := make([]byte, 40000)
	for from < to {
		n, err := r.ReadAt(buf[:min(len(buf), int(to-from))], from)
		if err != nil {
			t.Fatalf("ReadAt(%s): %v", from, err)
		}
		if n == 0 {
			t.Fatalf("ReadAt(%s) read nothing", from)
		}
		if pgwal.LSN(n) > pgwal.LSN(testSeg)-pgwal.LSN(from.SegmentOffset(testSeg)) {
			t.Fatalf("ReadAt(%s) crossed a segment boundary", from)
		}
		out = append(out, buf[:n]...)
		from += pgwal.LSN(n)
	}
	return out
}

func TestWriteRules(t *testing.T) {
	t.Parallel()
	s := openFake(t, t.TempDir(), 0)
	start := pgwal.LSN(testSeg)
	if err := s.Truncate(start); err != nil {
		t.Fatal(err)
	}
	data := fakeWAL(start, 10*fakeRecSize)
	if err := s.Write(start, data[:100]); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   pgwal.LSN
		want error
	}{
		{start, ErrRewrite},
		{start + 99, ErrRewrite},
		{start + 101, ErrGap},
	} {
		if err := s.Write(tc.at, data[tc.at-start:]); !errors.Is(err, tc.want) {
			t.Errorf("Write at %s: %v, want %v", tc.at, err, tc.want)
		}
	}
	if err := s.Write(start+100, data[100:]); err != nil {
		t.Fatal(err)
	}
	if s.WriteRecordLSN() != start+pgwal.LSN(len(data)) {
		t.Fatalf("write_record_lsn %s", s.WriteRecordLSN())
	}
	// A decode error refuses further writes until a truncation.
	bad := fakeWAL(0, fakeRecSize)
	end := start + pgwal.LSN(len(data))
	if err := s.Write(end, bad); err == nil {
		t.Fatal("bad record accepted")
	}
	if err := s.Write(end+fakeRecSize, fakeWAL(end+fakeRecSize, fakeRecSize)); !errors.Is(err, ErrTruncationPending) {
		t.Fatalf("after decode error: %v", err)
	}
	if err := s.Truncate(end); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(end, fakeWAL(end, fakeRecSize)); err != nil {
		t.Fatal(err)
	}
}

func TestFlushErrorPoisons(t *testing.T) {
	t.Parallel()
	s := openFake(t, t.TempDir(), 0)
	if err := s.Truncate(testSeg); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(testSeg, fakeWAL(testSeg, 128)); err != nil {
		t.Fatal(err)
	}
	s.cur.Close() // the next fdatasync fails with EBADF
	if err := s.Flush(); err == nil {
		t.Fatal("Flush succeeded on a closed file")
	}
	if s.FlushLSN() != testSeg {
		t.Fatalf("flush_lsn advanced to %s after a failed sync", s.FlushLSN())
	}
	for name, err := range map[string]error{
		"Write":    s.Write(testSeg+128, fakeWAL(testSeg+128, 64)),
		"Flush":    s.Flush(),
		"Truncate": s.Truncate(testSeg),
	} {
		if err == nil {
			t.Errorf("%s after poisoning succeeded", name)
		}
	}
	s.cur = nil
}

// TestWriteEndingAtSegmentEnd: a write that fills a segment completes it
// (flushed, renamed) and opens the next one, so exactly one .partial
// exists; reopening ends at the boundary.
func TestWriteEndingAtSegmentEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openFake(t, dir, 0)
	start := pgwal.LSN(testSeg + testSeg/2)
	if err := s.Truncate(start); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(start, fakeWAL(start, testSeg/2)); err != nil {
		t.Fatal(err)
	}
	if s.FlushLSN() != 2*testSeg || s.RawFlushLSN() != 2*testSeg {
		t.Fatalf("completing a segment flushed to %s (raw %s)", s.FlushLSN(), s.RawFlushLSN())
	}
	want := []string{"000000010000000000000001", "000000010000000000000002.partial"}
	if got := segNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("segments %v, want %v", got, want)
	}
	s.Close()
	s = openFake(t, dir, start)
	if s.FlushLSN() != 2*testSeg {
		t.Fatalf("reopened at %s", s.FlushLSN())
	}
	if err := s.Truncate(2 * testSeg); err != nil {
		t.Fatal(err)
	}
	if got := segNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after truncation: segments %v, want %v", got, want)
	}
}

func TestOpenChecks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, cfg := range []Config{
		{Dir: dir, SegSize: 64 << 10, PGVersion: 150000},     // too small for PostgreSQL
		{Dir: dir, SegSize: 3 << 20, PGVersion: 150000},      // not a power of two
		{Dir: filepath.Join(dir, "nope"), SegSize: 16 << 20}, // no directory
	} {
		if s, err := Open(cfg, 0, 0); err == nil {
			s.Close()
			t.Errorf("Open(%+v) succeeded", cfg)
		}
	}
	for _, commit := range []pgwal.LSN{0x1000004, 0x1002010, 0x1000020} {
		if s, err := Open(Config{Dir: dir, SegSize: 16 << 20, PGVersion: 150000}, commit, 0); err == nil {
			s.Close()
			t.Errorf("Open at commit_lsn %s (not a record boundary) succeeded", commit)
		}
	}
}

// TestStartWriteback checks the early writeback requests: page-aligned,
// at least writebackEvery long, contiguous from the start of each segment
// (and again after a truncation), never beyond what was written, about one
// per writebackEvery bytes, and none under NoSync.
func TestStartWriteback(t *testing.T) {
	t.Parallel()
	const seg = 4 * writebackEvery
	type req struct{ seg, off, n uint64 }
	for _, noSync := range []bool{false, true} {
		cfg := fakeConfig(t.TempDir(), seg)
		cfg.NoSync = noSync
		s, err := Open(cfg, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var reqs []req
		s.syncer.onWriteback = func(off, n uint64) { reqs = append(reqs, req{s.wbSeg, off, n}) }
		start := pgwal.LSN(seg + 1000)
		if err := s.Truncate(start); err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(3, 4))
		data := fakeWAL(start, 4*seg)
		pos, off := start, 0
		next := map[uint64]uint64{} // per segment: where the next request must start
		checked := 0
		write := func(n int) {
			t.Helper()
			if err := s.Write(pos, data[off:off+n]); err != nil {
				t.Fatal(err)
			}
			pos += pgwal.LSN(n)
			off += n
			last := (pos - 1).SegmentNumber(seg)
			for _, r := range reqs[checked:] {
				limit := uint64(seg)
				if r.seg == last {
					limit = (pos - 1).SegmentOffset(seg) + 1
				}
				switch {
				case r.off%writebackPage != 0 || r.n%writebackPage != 0 || r.n < writebackEvery:
					t.Fatalf("at %s: request %+v not page-aligned or short", pos, r)
				case r.off != next[r.seg]:
					t.Fatalf("at %s: request %+v, want it to start at %d", pos, r, next[r.seg])
				case r.off+r.n > limit:
					t.Fatalf("at %s: request %+v beyond the written %d", pos, r, limit)
				}
				next[r.seg] = r.off + r.n
			}
			checked = len(reqs)
		}
		for pos < start+pgwal.LSN(2*seg+3*writebackEvery) {
			write(1 + rng.IntN(300<<10))
		}
		if !noSync && (len(reqs) < 8 || len(reqs) > 11) {
			t.Fatalf("%d writeback requests over two segments of %d: %+v", len(reqs), seg, reqs)
		}
		// Back by two MiB within the current segment: its requests start
		// over from the segment's beginning.
		cut := start + (pos-2*writebackEvery-start)/fakeRecSize*fakeRecSize // a record boundary
		if cut.SegmentNumber(seg) != (pos - 1).SegmentNumber(seg) {
			t.Fatalf("cut %s not in the segment of %s", cut, pos)
		}
		if err := s.Truncate(cut); err != nil {
			t.Fatal(err)
		}
		delete(next, cut.SegmentNumber(seg))
		pos, off = cut, int(cut-start)
		for pos < cut+pgwal.LSN(3*writebackEvery) {
			write(1 + rng.IntN(300<<10))
		}
		if noSync && len(reqs) != 0 {
			t.Fatalf("NoSync: %d writeback requests", len(reqs))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
