package walstore

import (
	"encoding/binary"
	"fmt"

	"github.com/walkeeper/walkeeper/pgwal"
)

// fakeRecSize is the size of a fake record: tests of file mechanics use
// small segments the real decoder does not accept, and these records.
const fakeRecSize = 64

// fakeDecoder decodes fake WAL: fixed 64-byte records whose first 8 bytes
// are their own LSN (little endian); anything else is a decode error.
type fakeDecoder struct {
	next pgwal.LSN
	buf  []byte
}

func newFakeDecoder(start pgwal.LSN, _ uint32) recordDecoder { return &fakeDecoder{next: start} }

func (d *fakeDecoder) Feed(b []byte) { d.buf = append(d.buf, b...) }

func (d *fakeDecoder) NextEnd() (pgwal.LSN, bool, error) {
	if len(d.buf) < fakeRecSize {
		return 0, false, nil
	}
	if got := pgwal.LSN(binary.LittleEndian.Uint64(d.buf)); got != d.next {
		return 0, false, fmt.Errorf("fake record at %s claims %s", d.next, got)
	}
	d.buf = d.buf[fakeRecSize:]
	d.next += fakeRecSize
	return d.next, true, nil
}

// fakeWAL returns n bytes of fake WAL starting at start (a multiple of
// fakeRecSize).
func fakeWAL(start pgwal.LSN, n int) []byte {
	b := make([]byte, n+fakeRecSize)
	for off := 0; off < n; off += fakeRecSize {
		binary.LittleEndian.PutUint64(b[off:], uint64(start)+uint64(off))
		for i := 8; i < fakeRecSize; i++ {
			b[off+i] = byte(off/fakeRecSize + i)
		}
	}
	return b[:n]
}

// fakeConfig is a Config for fake WAL with small segments in a temp dir.
func fakeConfig(dir string, segSize uint64) Config {
	return Config{Dir: dir, SegSize: segSize, PGVersion: 150000, SystemID: 7, decoder: newFakeDecoder}
}
