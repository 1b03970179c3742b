package walstore

import (
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/walkeeper/walkeeper/pgwal"
)

// boundaryBefore is where recovery must stop when WAL is damaged from
// lsn on: the end of the last record that ends at or before lsn.
func (w *realWAL) boundaryBefore(lsn pgwal.LSN) pgwal.LSN {
	b := w.start
	for _, r := range w.records {
		if r.EndLSN > lsn {
			break
		}
		b = r.NextLSN
	}
	return b
}

// segFileAt opens the file holding lsn for writing and returns the offset.
func segFileAt(t *testing.T, dir string, lsn pgwal.LSN) (*os.File, int64) {
	t.Helper()
	const seg = pgwal.DefaultSegmentSize
	f, _, err := openForWrite(dir, lsn.SegmentNumber(seg), seg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, int64(lsn.SegmentOffset(seg))
}

func writeAt(t *testing.T, dir string, lsn pgwal.LSN, b []byte) {
	t.Helper()
	f, off := segFileAt(t, dir, lsn)
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// copyDir copies the regular files of src into a new temp dir.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		out.Close()
	}
	return dst
}

// crcLSN is the LSN of byte 21 of r's header, the second byte of
// xl_crc. A header can cross a page (PostgreSQL splits it like any other
// record bytes), and the real WAL's last record sometimes does: the byte
// is then after the next page's header.
func crcLSN(t *testing.T, r pgwal.Record) pgwal.LSN {
	t.Helper()
	p := skipPayload(r.StartLSN, 21, pgwal.DefaultSegmentSize)
	if p.PageOffset() == 0 {
		p += pgwal.LSN(pageHeaderSize(p, pgwal.DefaultSegmentSize))
	}
	return p
}

// TestCorruptionTable damages a store's files the ways a crash or a disk
// can and checks what reopening recovers (etcd's repair_test): torn tails
// end at the last whole record, a zeroed sector is a torn write even with
// valid WAL after it, and a CRC error followed by valid WAL is ErrCorrupt.
func TestCorruptionTable(t *testing.T) {
	w := getRealWAL(t)
	base := t.TempDir()
	s := writeRealWAL(t, w, base, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	n := len(w.records)
	lastSeg := pgwal.LSN(w.end.SegmentNumber(pgwal.DefaultSegmentSize) * pgwal.DefaultSegmentSize)
	inLastSeg := n - 1
	for inLastSeg > 0 && w.records[inLastSeg-1].StartLSN > lastSeg+pgwal.DefaultSegmentSize/4 {
		inLastSeg--
	}
	mid := w.records[n/2]
	// mid lies in a complete segment (fdatasynced whole, then renamed):
	// damage there is corruption. Damage in the .partial is a torn write.
	midSeg := mid.StartLSN.SegmentNumber(pgwal.DefaultSegmentSize)
	if _, err := os.Stat(segPath(base, midSeg, pgwal.DefaultSegmentSize, false)); err != nil {
		t.Fatalf("the middle record %s is not in a complete segment: %v", mid.StartLSN, err)
	}
	// torn: a record in the .partial whose first sector-piece a lost
	// write could have zeroed (it does not start on a sector boundary and
	// its header lies before the sector end).
	var torn pgwal.Record
	for i := inLastSeg; i < n; i++ {
		c := w.records[i]
		if c.StartLSN%512 != 0 && (c.StartLSN+511)&^511 < c.EndLSN && c.StartLSN.PageOffset()+24 < pgwal.XLogBlockSize {
			torn = c
			break
		}
	}
	if torn.StartLSN == 0 {
		t.Fatal("no record suitable for the torn-write case in the .partial segment")
	}
	partialAt := (w.records[inLastSeg].StartLSN + 511) &^ 511
	rng := rand.New(rand.NewPCG(4, 4))
	garbage := func(k int) []byte {
		b := make([]byte, k)
		for i := range b {
			b[i] = byte(rng.Uint32() | 1)
		}
		return b
	}
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, dir string)
		wantEnd pgwal.LSN // 0: want ErrCorrupt at wantAt
		wantAt  pgwal.LSN
	}{
		{name: "clean", damage: func(*testing.T, string) {}, wantEnd: w.end},
		{
			name: "truncated mid-record",
			damage: func(t *testing.T, dir string) {
				r := w.records[inLastSeg]
				f, off := segFileAt(t, dir, r.StartLSN+(r.EndLSN-r.StartLSN)/2)
				if err := f.Truncate(off); err != nil {
					t.Fatal(err)
				}
			},
			wantEnd: w.boundaryBefore(w.records[inLastSeg].StartLSN + (w.records[inLastSeg].EndLSN-w.records[inLastSeg].StartLSN)/2),
		},
		{
			name:   "zeroed sector in a complete segment",
			damage: func(t *testing.T, dir string) { writeAt(t, dir, (mid.StartLSN+511)&^511, make([]byte, 512)) },
			wantAt: w.boundaryBefore((mid.StartLSN + 511) &^ 511),
		},
		{
			name: "zeroed page header in a complete segment",
			damage: func(t *testing.T, dir string) {
				writeAt(t, dir, mid.StartLSN-pgwal.LSN(mid.StartLSN.PageOffset())+pgwal.XLogBlockSize, make([]byte, 512))
			},
			wantAt: w.boundaryBefore(mid.StartLSN - pgwal.LSN(mid.StartLSN.PageOffset()) + pgwal.XLogBlockSize),
		},
		{
			name:    "zeroed sector in the partial segment",
			damage:  func(t *testing.T, dir string) { writeAt(t, dir, partialAt, make([]byte, 512)) },
			wantEnd: w.boundaryBefore(partialAt),
		},
		{
			name: "lost first sector-piece of a write in the partial segment",
			damage: func(t *testing.T, dir string) {
				writeAt(t, dir, torn.StartLSN, make([]byte, int((torn.StartLSN+511)&^511-torn.StartLSN)))
			},
			wantEnd: torn.StartLSN,
		},
		{
			name:    "garbage after zeros",
			damage:  func(t *testing.T, dir string) { writeAt(t, dir, (w.end+70000)&^511, garbage(3000)) },
			wantEnd: w.end,
		},
		{
			name:    "garbage right after the end",
			damage:  func(t *testing.T, dir string) { writeAt(t, dir, w.end, garbage(2000)) },
			wantEnd: w.end,
		},
		{
			name: "flipped CRC byte in the last record",
			damage: func(t *testing.T, dir string) {
				writeAt(t, dir, crcLSN(t, w.records[n-1]), []byte{^byte(w.records[n-1].Header.CRC >> 8)})
			},
			wantEnd: w.boundaryBefore(w.records[n-1].StartLSN),
		},
		{
			name: "flipped CRC byte in the middle",
			damage: func(t *testing.T, dir string) {
				writeAt(t, dir, crcLSN(t, mid), []byte{^byte(mid.Header.CRC >> 8)})
			},
			wantAt: w.boundaryBefore(mid.StartLSN),
		},
		{
			name: "flipped CRC byte in the partial segment",
			damage: func(t *testing.T, dir string) {
				r := w.records[inLastSeg]
				writeAt(t, dir, crcLSN(t, r), []byte{^byte(r.Header.CRC >> 8)})
			},
			wantAt: w.boundaryBefore(w.records[inLastSeg].StartLSN),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, base)
			tc.damage(t, dir)
			s, err := Open(realConfig(dir, w.sysID), w.start, w.start)
			if tc.wantEnd == 0 {
				var ce *CorruptError
				if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.LSN != tc.wantAt {
					t.Fatalf("Open: %v, want ErrCorrupt at %s", err, tc.wantAt)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			if s.FlushLSN() != tc.wantEnd {
				t.Fatalf("recovered %s, want %s", s.FlushLSN(), tc.wantEnd)
			}
			checkReadBack(t, s, w, tc.wantEnd)
		})
	}
}

// TestCRCLSN checks the helper for headers on one page and across a
// page and a segment boundary.
func TestCRCLSN(t *testing.T) {
	seg := pgwal.LSN(pgwal.DefaultSegmentSize)
	for _, tc := range []struct{ start, want pgwal.LSN }{
		{seg + 0x2000 + 24, seg + 0x2000 + 24 + 21},
		{seg + 0x2000 + 8168, seg + 0x2000 + 8168 + 21},
		{seg + 0x2000 + 8176, seg + 0x4000 + 24 + 5},
		{2*seg - 16, 2*seg + 40 + 5},
	} {
		if got := crcLSN(t, pgwal.Record{StartLSN: tc.start}); got != tc.want {
			t.Errorf("record at %s: xl_crc byte 1 at %s, want %s", tc.start, got, tc.want)
		}
	}
}
