package walstore

import "github.com/walkeeper/walkeeper/pgwal"

// recordDecoder is what the store needs from a streaming WAL decoder: feed
// it consecutive bytes and learn where complete records end.
type recordDecoder interface {
	// Feed adds the next bytes. The decoder may read b until NextEnd
	// returns ok=false or an error, so callers drain NextEnd before they
	// reuse b (or drop the decoder).
	Feed(b []byte)
	// NextEnd returns the record-aligned end (pgwal Record.NextLSN) of the
	// next complete record, ok=false when more input is needed.
	NextEnd() (end pgwal.LSN, ok bool, err error)
}

// decoderFactory starts a decoder at a record boundary.
type decoderFactory func(start pgwal.LSN, pgVersion uint32) recordDecoder

func (c *Config) newDecoder(start pgwal.LSN) recordDecoder {
	if c.decoder != nil {
		return c.decoder(start, c.PGVersion)
	}
	return newPGDecoder(start, c.PGVersion, c.SegSize)
}
