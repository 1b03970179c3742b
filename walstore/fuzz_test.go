package walstore

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/walkeeper/walkeeper/pgwal"
)

// fuzzSeg is the segment size of the recovery fuzz target: small, but one
// the real decoder accepts.
const fuzzSeg = 1 << 20

// fuzzWAL is valid WAL of ~40 records (some crossing pages) starting at
// fuzzStart, and the record boundaries in it.
func fuzzWAL() (wal []byte, bounds []pgwal.LSN) {
	enc := pgwal.NewEncoder(fuzzStart, pgVersion, 1)
	bounds = []pgwal.LSN{fuzzStart}
	body := make([]byte, 1500)
	for i := range 40 {
		for j := range body {
			body[j] = byte(i + j)
		}
		wal, _ = enc.AppendRecord(wal, pgwal.RMLogicalMsgID, 0, uint32(i), body[:100+i*97%1400])
		bounds = append(bounds, enc.LSN().Align8())
	}
	return wal, bounds
}

const fuzzStart = pgwal.LSN(fuzzSeg + 2*pgwal.XLogBlockSize + 80)

// FuzzRecover overwrites part of a valid segment with arbitrary bytes and
// checks that finding the end of WAL never panics, never ends before the
// damage's record boundary unless it reports corruption, and ignores
// garbage that lies beyond a gap of zeros after the end.
func FuzzRecover(f *testing.F) {
	wal, bounds := fuzzWAL()
	f.Add(uint32(0), []byte{})
	f.Add(uint32(len(wal)), []byte("garbage right after the end"))
	f.Add(uint32(len(wal)+4096), []byte("garbage after zeros"))
	f.Add(uint32(len(wal)/2), make([]byte, 512))
	f.Add(uint32(21), []byte{0xFF})
	f.Add(uint32(9000), []byte{0, 0, 0, 0, 1, 2, 3})
	f.Fuzz(func(t *testing.T, at uint32, patch []byte) {
		at %= uint32(len(wal) + 3*pgwal.XLogBlockSize)
		if len(patch) > 4*pgwal.XLogBlockSize {
			patch = patch[:4*pgwal.XLogBlockSize]
		}
		dir := t.TempDir()
		seg := make([]byte, fuzzSeg)
		off := fuzzStart.SegmentOffset(fuzzSeg)
		copy(seg[off:], wal)
		copy(seg[off+uint64(at):], patch)
		if err := os.WriteFile(filepath.Join(dir, pgwal.SegmentName(1, fuzzSeg)+pgwal.PartialSuffix), seg, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := Config{Dir: dir, SegSize: fuzzSeg, PGVersion: pgVersion, SystemID: 1, NoSync: true}
		end, err := findEnd(&cfg, cfg.logger(), fuzzStart, 0)
		damage := fuzzStart + pgwal.LSN(at)
		before := fuzzStart
		for _, b := range bounds {
			if b <= damage {
				before = b
			}
		}
		if len(patch) == 0 {
			damage, before = bounds[len(bounds)-1]+1, bounds[len(bounds)-1]
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if end < before {
			t.Fatalf("end %s before the last boundary %s ahead of the damage at %s", end, before, damage)
		}
		if walEnd := bounds[len(bounds)-1]; damage >= walEnd+8 && end != walEnd {
			t.Fatalf("garbage after the end at %s moved the end from %s to %s", damage, walEnd, end)
		}
	})
}
