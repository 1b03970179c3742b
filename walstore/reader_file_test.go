package walstore

import (
	"bytes"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/walkeeper/walkeeper/pgwal"
)

// TestReaderSegmentFile: SegmentFile hands out the file only for ranges
// wholly in one local segment file, at the offset ReadAt reads from.
func TestReaderSegmentFile(t *testing.T) {
	t.Parallel()
	tl := newReaderTimeline(t, rand.New(rand.NewPCG(9, 9)))
	s, dir, segStart, tlStart, data, end := tl.s, tl.dir, tl.segStart, tl.tlStart, tl.data, tl.end
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

	// The handed-out file survives its segment being renamed (full →
	// .partial, as truncation does) and removed; a new reader finds the
	// segment gone.
	at := pgwal.LSN(3 * testSeg)
	f, off, ok := r.SegmentFile(at, 4096)
	if !ok {
		t.Fatal("no file for the second segment")
	}
	full := segPath(dir, 3, testSeg, false)
	if _, err := os.Stat(full); err != nil {
		full = segPath(dir, 3, testSeg, true)
	}
	if err := os.Rename(full, full+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(full + ".moved"); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4096)
	if _, err := f.ReadAt(got, off); err != nil || !bytes.Equal(got, data[at-tlStart:][:4096]) {
		t.Fatalf("read of the removed segment: %v", err)
	}
	if f2, _, ok := r.SegmentFile(at+4096, 4096); !ok || f2 != f {
		t.Fatal("the reader dropped its open file of the removed segment")
	}
	r3 := s.NewReader(tlStart, tlStart)
	defer r3.Close()
	if _, _, ok := r3.SegmentFile(at, 4096); ok {
		t.Fatal("a new reader got a file of a removed segment")
	}
}
