package shard

import (
	"errors"
	"fmt"
)

// ErrUnsupportedKey: a key that does not fit the pageserver's 128-bit
// CompactKey, such as a relation in a tablespace whose OID exceeds 0xFFFF.
// The reference reader fails with "Unsupported key decoded".
var ErrUnsupportedKey = errors.New("unsupported key decoded")

// Fork numbers (ForkNumber in common/relpath.h).
const (
	MainForkNum       uint8 = 0
	FSMForkNum        uint8 = 1
	VisibilityMapFork uint8 = 2
	InitForkNum       uint8 = 3
)

// Key mirrors the pageserver's Key: six fields, of which a relation block
// uses f1=0, f2=spcnode, f3=dbnode, f4=relnode, f5=forknum, f6=blkno.
type Key struct {
	F1 uint8
	F2 uint32
	F3 uint32
	F4 uint32
	F5 uint8
	F6 uint32
}

// RelBlockKey is the key of block blkno of a relation fork.
func RelBlockKey(spcNode, dbNode, relNode uint32, forkNum uint8, blkno uint32) Key {
	return Key{F2: spcNode, F3: dbNode, F4: relNode, F5: forkNum, F6: blkno}
}

// String prints the key like the pageserver: 36 hex digits.
func (k Key) String() string {
	return fmt.Sprintf("%02X%08X%08X%08X%02X%08X", k.F1, k.F2, k.F3, k.F4, k.F5, k.F6)
}

// IsRelBlockKey reports a relation block key (not a size key, not metadata).
func (k Key) IsRelBlockKey() bool { return k.F1 == 0 && k.F4 != 0 && k.F6 != 0xFFFFFFFF }

// Representable reports whether k fits a CompactKey: f2 at most 0xFFFF or one
// of the two special values the pageserver uses.
func (k Key) Representable() bool {
	return k.F2 <= 0xFFFF || k.F2 == 0xFFFFFFFF || k.F2 == 0x22222222
}

// CompactKey is the pageserver's i128 key, split into its upper and lower
// 64 bits (the protobuf CompactKey{high, low}; bincode writes high then low,
// big-endian).
type CompactKey struct {
	High uint64
	Low  uint64
}

// Compact packs k as (f1&0x7F)<<120 | (f2&0xFFFF)<<104 | f3<<72 | f4<<40 |
// f5<<32 | f6. It fails with ErrUnsupportedKey if k is not Representable.
func (k Key) Compact() (CompactKey, error) {
	if !k.Representable() {
		return CompactKey{}, fmt.Errorf("%w: %s", ErrUnsupportedKey, k)
	}
	return CompactKey{
		High: uint64(k.F1&0x7F)<<56 | uint64(k.F2&0xFFFF)<<40 | uint64(k.F3)<<8 | uint64(k.F4)>>24,
		Low:  uint64(k.F4&0xFFFFFF)<<40 | uint64(k.F5)<<32 | uint64(k.F6),
	}, nil
}

// Key unpacks c (the inverse of Compact for representable keys, with f2
// reduced to 16 bits).
func (c CompactKey) Key() Key {
	return Key{
		F1: uint8(c.High>>56) & 0x7F,
		F2: uint32(c.High>>40) & 0xFFFF,
		F3: uint32(c.High >> 8),
		F4: uint32(c.High)<<24 | uint32(c.Low>>40),
		F5: uint8(c.Low >> 32),
		F6: uint32(c.Low),
	}
}
