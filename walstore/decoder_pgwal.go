package walstore

import "github.com/walkeeper/walkeeper/pgwal"

// pgDecoder adapts pgwal.BoundaryDecoder to recordDecoder: the store needs
// record ends only, and the BoundaryDecoder validates WAL exactly as
// pgwal.Decoder does without copying or reassembling records. It holds the
// bytes of a Feed until NextEnd reports ok=false or an error, which every
// caller here waits for before its buffer is reused.
type pgDecoder struct{ d *pgwal.BoundaryDecoder }

func newPGDecoder(start pgwal.LSN, pgVersion uint32, segSize uint64) recordDecoder {
	return pgDecoder{pgwal.NewBoundaryDecoder(start, pgVersion, uint32(segSize))}
}

func (p pgDecoder) Feed(b []byte) { p.d.Feed(b) }

func (p pgDecoder) NextEnd() (pgwal.LSN, bool, error) {
	rec, ok, err := p.d.Next()
	return rec.NextLSN, ok, err
}

// Scan reports the ends of every record the fed bytes complete, in one
// call (see pgwal.BoundaryDecoder.Scan).
func (p pgDecoder) Scan(bound pgwal.LSN) (last, lastLE pgwal.LSN, err error) {
	return p.d.Scan(bound)
}
