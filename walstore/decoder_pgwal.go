package walstore

import "github.com/walkeeper/walkeeper/pgwal"

// pgDecoder adapts pgwal.Decoder to recordDecoder.
type pgDecoder struct{ d *pgwal.Decoder }

func newPGDecoder(start pgwal.LSN, pgVersion uint32, segSize uint64) recordDecoder {
	return pgDecoder{pgwal.NewDecoderSegSize(start, pgVersion, uint32(segSize))}
}

func (p pgDecoder) Feed(b []byte) { p.d.Feed(b) }

func (p pgDecoder) NextEnd() (pgwal.LSN, bool, error) {
	rec, ok, err := p.d.Next()
	return rec.NextLSN, ok, err
}
