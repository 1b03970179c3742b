package walstore

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/walkeeper/walkeeper/pgwal"
)

// fileBytes reads segment segNo (either name) whole.
func fileBytes(t *testing.T, dir string, segNo uint64) []byte {
	t.Helper()
	f, err := openForRead(dir, segNo, testSeg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, testSeg+1)
	n, _ := f.ReadAt(b, 0)
	return b[:n]
}

func TestTruncate(t *testing.T) {
	t.Parallel()
	const start = pgwal.LSN(2 * testSeg)
	for _, tc := range []struct {
		name     string
		end      pgwal.LSN
		wantSegs []string
	}{
		{"mid partial segment", start + 3*testSeg + 640, []string{"000000010000000000000002", "000000010000000000000003", "000000010000000000000004", "000000010000000000000005.partial"}},
		{"mid full segment", start + testSeg + 1280, []string{"000000010000000000000002", "000000010000000000000003.partial"}},
		{"segment boundary", start + 2*testSeg, []string{"000000010000000000000002", "000000010000000000000003", "000000010000000000000004.partial"}},
		{"timeline start", start, []string{"000000010000000000000002.partial"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := openFake(t, dir, 0)
			if err := s.Truncate(start); err != nil {
				t.Fatal(err)
			}
			data := fakeWAL(start, 3*testSeg+testSeg/2)
			end := writeChunks(t, s, rand.New(rand.NewPCG(3, 3)), start, data)
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := s.Truncate(end + fakeRecSize); !errors.Is(err, ErrBadTruncation) {
				t.Fatalf("truncate past the end: %v", err)
			}
			if err := s.Truncate(tc.end); err != nil {
				t.Fatal(err)
			}
			for name, got := range map[string]pgwal.LSN{"write": s.WriteLSN(), "write_record": s.WriteRecordLSN(), "flush": s.FlushLSN(), "raw flush": s.RawFlushLSN()} {
				if got != tc.end {
					t.Errorf("%s_lsn = %s, want %s", name, got, tc.end)
				}
			}
			if got := segNames(t, dir); !slices.Equal(got, tc.wantSegs) {
				t.Fatalf("segments %v, want %v", got, tc.wantSegs)
			}
			segNo, off := tc.end.SegmentNumber(testSeg), tc.end.SegmentOffset(testSeg)
			b := fileBytes(t, dir, segNo)
			if len(b) != testSeg || !bytes.Equal(b[off:], make([]byte, testSeg-off)) {
				t.Fatalf("tail of %d not zero (len %d)", segNo, len(b))
			}
			if first := (segNo * testSeg); pgwal.LSN(first) >= start && !bytes.Equal(b[:off], data[first-uint64(start):first-uint64(start)+off]) {
				t.Fatal("bytes before the truncation point changed")
			}
			// Writing resumes at the truncation point.
			more := fakeWAL(tc.end, testSeg+fakeRecSize)
			writeChunks(t, s, rand.New(rand.NewPCG(4, 4)), tc.end, more)
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
			if got := s.FlushLSN(); got != tc.end+pgwal.LSN(len(more)) {
				t.Fatalf("flush after resuming %s", got)
			}
		})
	}
}

func TestTruncateFastPathAndPending(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openFake(t, dir, 0)
	start := pgwal.LSN(testSeg)
	if err := s.Truncate(start); err != nil {
		t.Fatal(err)
	}
	end := writeChunks(t, s, rand.New(rand.NewPCG(5, 5)), start, fakeWAL(start, 10*fakeRecSize))
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	before := s.syncer.calls.Load()
	if err := s.Truncate(end); err != nil {
		t.Fatal(err)
	}
	if s.syncer.calls.Load() != before {
		t.Fatal("fast-path truncation synced")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A reload sets pending truncation; the same truncation is then a full one.
	s = openFake(t, dir, start)
	if s.FlushLSN() != end || !s.TruncationPending() {
		t.Fatalf("reloaded at %s, pending %v", s.FlushLSN(), s.TruncationPending())
	}
	if err := s.Write(end, fakeWAL(end, fakeRecSize)); !errors.Is(err, ErrTruncationPending) {
		t.Fatalf("write after reload: %v", err)
	}
	before = s.syncer.calls.Load()
	if err := s.Truncate(end); err != nil {
		t.Fatal(err)
	}
	if s.syncer.calls.Load() == before || s.TruncationPending() {
		t.Fatal("truncation after reload did not run")
	}
	if err := s.Write(end, fakeWAL(end, fakeRecSize)); err != nil {
		t.Fatal(err)
	}
}

// TestNoSync runs the same workload with and without NoSync: the files
// must come out identical, and NoSync must not sync anything.
func TestNoSync(t *testing.T) {
	t.Parallel()
	run := func(noSync bool) (string, int64) {
		dir := t.TempDir()
		cfg := fakeConfig(dir, testSeg)
		cfg.NoSync = noSync
		s, err := Open(cfg, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		start := pgwal.LSN(testSeg + 128)
		if err := s.Truncate(start); err != nil {
			t.Fatal(err)
		}
		end := writeChunks(t, s, rand.New(rand.NewPCG(6, 6)), start, fakeWAL(start, 3*testSeg))
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := s.Truncate(end - testSeg - 64); err != nil {
			t.Fatal(err)
		}
		calls := s.syncer.calls.Load()
		s.Close()
		s, err = Open(cfg, start, start)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Truncate(s.FlushLSN()); err != nil {
			t.Fatal(err)
		}
		return dir, calls + s.syncer.calls.Load()
	}
	syncDir, syncs := run(false)
	noSyncDir, noSyncs := run(true)
	if syncs == 0 || noSyncs != 0 {
		t.Fatalf("syncs: %d with sync, %d with NoSync", syncs, noSyncs)
	}
	a, b := segNames(t, syncDir), segNames(t, noSyncDir)
	if !slices.Equal(a, b) {
		t.Fatalf("files differ: %v vs %v", a, b)
	}
	for _, name := range a {
		x, _ := os.ReadFile(filepath.Join(syncDir, name))
		y, _ := os.ReadFile(filepath.Join(noSyncDir, name))
		if !bytes.Equal(x, y) {
			t.Fatalf("%s differs", name)
		}
	}
}

func TestInitializeFirstSegmentOnlyWhenEmpty(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openFake(t, dir, 0)
	start := pgwal.LSN(testSeg + 3*pgwal.XLogBlockSize + 200)
	if err := s.InitializeFirstSegment(start); err != nil {
		t.Fatal(err)
	}
	if err := s.Truncate(start); err != nil {
		t.Fatal(err)
	}
	prefix := segmentPrefix(&s.cfg, start)
	if got := fileBytes(t, dir, 1)[:len(prefix)]; !bytes.Equal(got, prefix) || len(prefix) != int(start.SegmentOffset(testSeg)) {
		t.Fatal("first segment does not start with the synthetic prefix")
	}
	writeChunks(t, s, rand.New(rand.NewPCG(7, 7)), start, fakeWAL(start, 4*fakeRecSize))
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	// Not empty any more: a second call must not touch the file.
	before := fileBytes(t, dir, 1)
	if err := s.InitializeFirstSegment(start + 3*fakeRecSize); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, fileBytes(t, dir, 1)) {
		t.Fatal("InitializeFirstSegment rewrote a non-empty store")
	}
}

// TestSetServerInfo: a store opened before the database identity was known
// (a timeline created over HTTP with system_id 0) writes and serves
// synthetic long page headers with the id a greeting set later, so a
// standby does not reject the first segment as another system's.
func TestSetServerInfo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openFake(t, dir, 0)
	const sysID = 0x1234567887654321
	s.SetServerInfo(sysID, 0)
	start := pgwal.LSN(testSeg + 2*pgwal.XLogBlockSize + 64)
	if err := s.InitializeFirstSegment(start); err != nil {
		t.Fatal(err)
	}
	if err := s.Truncate(start); err != nil {
		t.Fatal(err)
	}
	check := func(what string, page []byte) {
		t.Helper()
		h, err := pgwal.ParseXLogLongPageHeader(page)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if magic, _ := pgwal.PageMagic(s.cfg.PGVersion); h.SysID != sysID || h.Magic != magic {
			t.Fatalf("%s: long header %+v", what, h)
		}
	}
	check("file", fileBytes(t, dir, 1))
	r := s.NewReader(start, start)
	defer r.Close()
	buf := make([]byte, pgwal.SizeOfXLogLongPHD)
	if _, err := r.ReadAt(buf, pgwal.LSN(testSeg)); err != nil {
		t.Fatal(err)
	}
	check("reader", buf)
}
