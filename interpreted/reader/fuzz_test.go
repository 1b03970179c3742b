package reader

import (
	"testing"

	"github.com/walkeeper/walkeeper/interpreted"
)

// FuzzDecodeMessage: arbitrary CopyData payloads in every encoding must
// decode or fail, never panic; decoded values must be checkable.
func FuzzDecodeMessage(f *testing.F) {
	for mode := range uint8(4) {
		enc := encodingOf(mode)
		msg, err := enc.AppendMessage(nil, &interpreted.Batch{Records: *sampleRecords(), WALEndLSN: 1, AvailableWALEndLSN: 2})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(msg, mode)
	}
	f.Fuzz(func(t *testing.T, msg []byte, mode uint8) {
		m, err := DecodeMessage(msg, encodingOf(mode))
		if err != nil {
			return
		}
		for i := range m.Records.Records {
			Values(&m.Records.Records[i].Batch) //nolint:errcheck // only must not panic
		}
	})
}

func encodingOf(mode uint8) interpreted.Encoding {
	return interpreted.Encoding{Format: interpreted.Format(mode & 1), Compression: interpreted.Compression{Zstd: mode&2 != 0, Level: 1}}
}
