// Package shard decides which pageserver shard owns a key: the pageserver's
// ShardIdentity and key_to_shard_number (spec replication.md §6.10), which
// must match Neon's pageserver and compute bit for bit. It owns the Key and
// CompactKey types and nothing else; it knows no WAL and no network.
package shard

import (
	"errors"
	"fmt"
)

// ErrBadIdentity: shard parameters that cannot describe a shard.
var ErrBadIdentity = errors.New("invalid shard identity")

// DefaultStripeSize is the pageserver's default stripe (in 8 KiB pages).
const DefaultStripeSize = 2048

// Identity mirrors the pageserver's ShardIdentity (layout V1): shard Number
// of Count, with relation blocks striped in runs of StripeSize pages. Count
// below 2 (0 is "unsharded") makes every key local.
type Identity struct {
	Number     uint8
	Count      uint8
	StripeSize uint32
}

// Unsharded is the identity of a tenant that is not split (what the
// pageserver sends as count 0, number 0 and the default stripe).
func Unsharded() Identity { return Identity{StripeSize: DefaultStripeSize} }

// NewIdentity validates the three startup parameters. The reference accepts
// stripe 0 and divides by zero later; walkeeper refuses it when sharded.
func NewIdentity(number, count uint8, stripeSize uint32) (Identity, error) {
	s := Identity{Number: number, Count: count, StripeSize: stripeSize}
	return s, s.Validate()
}

// Validate reports ErrBadIdentity for a number out of range or a zero stripe
// with count ≥ 2.
func (s Identity) Validate() error {
	switch {
	case s.Count >= 2 && s.StripeSize == 0:
		return fmt.Errorf("%w: stripe size 0 with %d shards", ErrBadIdentity, s.Count)
	case s.Count >= 2 && s.Number >= s.Count, s.Count < 2 && s.Number != 0:
		return fmt.Errorf("%w: shard number %d of count %d", ErrBadIdentity, s.Number, s.Count)
	}
	return nil
}

// String is the pageserver's shard slug (number and count in hex, e.g.
// "0104") followed by the stripe size, for logs.
func (s Identity) String() string { return fmt.Sprintf("%02x%02x/%d", s.Number, s.Count, s.StripeSize) }

// IsShardZero reports shard 0, which tracks relation sizes and keeps every
// non-relation key.
func (s Identity) IsShardZero() bool { return s.Number == 0 }

// IsKeyLocal reports whether shard s stores key k.
func (s Identity) IsKeyLocal(k Key) bool {
	if s.Count < 2 || (keyIsShard0(k) && s.Number == 0) {
		return true
	}
	return KeyToShardNumber(s.Count, s.StripeSize, k) == s.Number
}

// keyIsShard0: everything except relation blocks lives on shard 0, and so do
// the blocks of init forks (unlogged tables), which basebackup needs.
func keyIsShard0(k Key) bool { return !k.IsRelBlockKey() || k.F5 == InitForkNum }

// KeyToShardNumber is the pageserver's key_to_shard_number: the shard a key
// is striped to. It must equal the compute's smgr hashing. stripeSize must
// be non-zero when count ≥ 2 (see Validate).
func KeyToShardNumber(count uint8, stripeSize uint32, k Key) uint8 {
	if count < 2 || keyIsShard0(k) {
		return 0
	}
	h := murmurHash32(k.F4)
	h = hashCombine(h, murmurHash32(k.F6/stripeSize))
	return uint8(h % uint32(count))
}

// murmurHash32 is murmurhash32 of PostgreSQL's common/hashfn.h.
func murmurHash32(h uint32) uint32 {
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// hashCombine is hash_combine of PostgreSQL's common/hashfn.h.
func hashCombine(a, b uint32) uint32 {
	b += 0x9e3779b9 + a<<6 + a>>2
	return a ^ b
}
