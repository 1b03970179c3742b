package walstore

import (
	"errors"

	"github.com/walkeeper/walkeeper/pgwal"
)

// newPGDecoder adapts pgwal's decoder. Until package pgwal has one, every
// decode fails.
func newPGDecoder(start pgwal.LSN, pgVersion uint32) recordDecoder { return noDecoder{} }

type noDecoder struct{}

func (noDecoder) Feed([]byte) {}
func (noDecoder) NextEnd() (pgwal.LSN, bool, error) {
	return 0, false, errors.New("walstore: pgwal decoder not merged yet")
}
