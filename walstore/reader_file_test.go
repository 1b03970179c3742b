package walstore

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/walkeeper/walkeeper/pgwal"
)

// TestReaderSegmentFile: SegmentFile hands out the file only for ranges
// wholly in one local segment file, at the offset ReadAt reads from.
func TestReaderSegmentFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openFake(t, dir, 0)
	const segStart = pgwal.LSN(2 * testSeg)
	tlStart := segStart + 2*pgwal.XLogBlockSize + 320
	if err := s.InitializeFirstSegment(tlStart); err != nil {
		t.Fatal(err)
	}
	if err := s.Truncate(tlStart); err != nil {
		t.Fatal(err)
	}
	data := fakeWAL(tlStart, 2*testSeg)
	end := writeChunks(t, s, rand.New(rand.NewPCG(9, 9)), tlStart, data)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	r := s.NewReader(tlStart, tlStart)
	defer r.Close()
	tests := []struct {
		name string
		lsn  pgwal.LSN
		n    int
		ok   bool
	}{
		{"synthetic prefix", segStart + 10, 100, false},
		{"at timeline start", tlStart, 1000, true},
		{"to segment end", 3*testSeg - 100, 100, true},
		{"across a segment", 3*testSeg - 100, 101, false},
		{"next segment", 3 * testSeg, 8192, true},
		{"missing segment", 10 * testSeg, 10, false},
		{"empty", tlStart, 0, false},
	}
	for _, tt := range tests {
		f, off, ok := r.SegmentFile(tt.lsn, tt.n)
		if ok != tt.ok {
			t.Fatalf("%s: ok %t, want %t", tt.name, ok, tt.ok)
		}
		if !ok || tt.lsn+pgwal.LSN(tt.n) > end {
			continue
		}
		got := make([]byte, tt.n)
		if _, err := f.ReadAt(got, off); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !bytes.Equal(got, data[tt.lsn-tlStart:][:tt.n]) {
			t.Fatalf("%s: file bytes at %d differ from the WAL at %s", tt.name, off, tt.lsn)
		}
	}
	if _, _, ok := s.NewReader(tlStart, tlStart+testSeg).SegmentFile(tlStart+64, 10); ok {
		t.Fatal("a range below local_start_lsn was handed out")
	}
}
