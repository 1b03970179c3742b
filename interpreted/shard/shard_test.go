package shard

import (
	"errors"
	"testing"
)

func TestHashCombineVector(t *testing.T) {
	if got := hashCombine(0xb1ff3b40, 0); got != 0xfb7923c9 {
		t.Fatalf("hash_combine(0xb1ff3b40, 0) = %#x, want 0xfb7923c9", got)
	}
}

func TestKeyToShardNumberVectors(t *testing.T) {
	tests := []struct {
		name   string
		key    Key
		count  uint8
		stripe uint32
		want   uint8
	}{
		{"upstream", Key{F1: 0, F2: 0x67f, F3: 5, F4: 0x400c, F5: 0, F6: 0x7d06}, 10, 32768, 8},
		{"rel 16384 blk 0", RelBlockKey(1663, 5, 16384, 0, 0), 4, 2048, 0},
		{"rel 16384 blk 2048", RelBlockKey(1663, 5, 16384, 0, 2048), 4, 2048, 3},
		{"rel 16384 blk 4096", RelBlockKey(1663, 5, 16384, 0, 4096), 4, 2048, 2},
		{"rel 16385 blk 0", RelBlockKey(1663, 5, 16385, 0, 0), 8, 2048, 1},
		{"same stripe", RelBlockKey(1663, 5, 16384, 0, 2049), 4, 2048, 3},
		{"unsharded", RelBlockKey(1663, 5, 16384, 0, 2048), 0, 2048, 0},
		{"count 1", RelBlockKey(1663, 5, 16384, 0, 2048), 1, 2048, 0},
		{"init fork", RelBlockKey(1663, 5, 16384, InitForkNum, 2048), 4, 2048, 0},
		{"rel size key", RelBlockKey(1663, 5, 16384, 0, 0xFFFFFFFF), 4, 2048, 0},
		{"relnode 0", RelBlockKey(1663, 5, 0, 0, 2048), 4, 2048, 0},
		{"non-relation key", Key{F1: 1, F4: 16384, F6: 2048}, 4, 2048, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := KeyToShardNumber(tc.count, tc.stripe, tc.key); got != tc.want {
				t.Errorf("KeyToShardNumber(%d, %d, %s) = %d, want %d", tc.count, tc.stripe, tc.key, got, tc.want)
			}
		})
	}
}

func TestIsKeyLocal(t *testing.T) {
	blk := RelBlockKey(1663, 5, 16384, 0, 2048) // shard 3 of 4
	vm := RelBlockKey(1663, 5, 16384, VisibilityMapFork, 2048)
	initFork := RelBlockKey(1663, 5, 16384, InitForkNum, 2048)
	meta := Key{F1: 1, F2: 0x7F}
	tests := []struct {
		name  string
		shard Identity
		key   Key
		want  bool
	}{
		{"unsharded owns all", Unsharded(), blk, true},
		{"count 1 owns all", Identity{Number: 0, Count: 1, StripeSize: 8}, blk, true},
		{"owner", Identity{3, 4, 2048}, blk, true},
		{"shard 0 not owner", Identity{0, 4, 2048}, blk, false},
		{"other shard", Identity{1, 4, 2048}, blk, false},
		{"vm fork is striped too", Identity{KeyToShardNumber(4, 2048, vm), 4, 2048}, vm, true},
		{"init fork on shard 0", Identity{0, 4, 2048}, initFork, true},
		{"init fork not on 3", Identity{3, 4, 2048}, initFork, false},
		{"metadata on shard 0", Identity{0, 4, 2048}, meta, true},
		{"metadata not on 2", Identity{2, 4, 2048}, meta, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.shard.IsKeyLocal(tc.key); got != tc.want {
				t.Errorf("%s.IsKeyLocal(%s) = %v, want %v", tc.shard, tc.key, got, tc.want)
			}
		})
	}
}

// TestPartition: every relation block is local to exactly one shard.
func TestPartition(t *testing.T) {
	for _, count := range []uint8{2, 3, 4, 8} {
		for rel := uint32(16384); rel < 16400; rel++ {
			for blk := uint32(0); blk < 20000; blk += 97 {
				k := RelBlockKey(1663, 5, rel, 0, blk)
				n := 0
				for num := uint8(0); num < count; num++ {
					if (Identity{num, count, 256}).IsKeyLocal(k) {
						n++
					}
				}
				if n != 1 {
					t.Fatalf("%s local to %d of %d shards", k, n, count)
				}
			}
		}
	}
}

func TestCompactKey(t *testing.T) {
	tests := []struct {
		name string
		key  Key
		want CompactKey
	}{
		// high = spc<<40 | db<<8 | rel>>24; low = (rel&0xFFFFFF)<<40 | fork<<32 | blk
		{"relation block", RelBlockKey(1663, 5, 16384, 0, 7),
			CompactKey{High: 0x0000_067F_0000_0005_00, Low: 0x0040_00_00_0000_0007}},
		{"all fields", Key{F1: 0x81, F2: 0x1234, F3: 0xAABBCCDD, F4: 0x11223344, F5: 2, F6: 0xDEADBEEF},
			CompactKey{High: 0x01_1234_AABBCCDD_11, Low: 0x223344_02_DEADBEEF}},
		{"shared catalog", RelBlockKey(1664, 0, 1262, 0, 0), CompactKey{High: 0x0000_0680_0000_0000_00, Low: 0x0004EE_00_00000000}},
		{"special f2", Key{F2: 0xFFFFFFFF, F4: 1}, CompactKey{High: 0x0000_FFFF_0000_0000_00, Low: 0x000001_00_00000000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.key.Compact()
			if err != nil || got != tc.want {
				t.Fatalf("Compact(%s) = %#x %#x, %v; want %#x %#x", tc.key, got.High, got.Low, err, tc.want.High, tc.want.Low)
			}
			back := got.Key()
			want := tc.key
			want.F1 &= 0x7F
			want.F2 &= 0xFFFF
			if back != want {
				t.Fatalf("Key() = %s, want %s", back, want)
			}
		})
	}
	if _, err := RelBlockKey(70000, 5, 16384, 0, 0).Compact(); !errors.Is(err, ErrUnsupportedKey) {
		t.Fatalf("tablespace 70000: %v, want ErrUnsupportedKey", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		s  Identity
		ok bool
	}{
		{Unsharded(), true},
		{Identity{0, 0, 0}, true},
		{Identity{3, 4, 2048}, true},
		{Identity{4, 4, 2048}, false},
		{Identity{1, 4, 0}, false},
		{Identity{1, 0, 2048}, false},
	} {
		if err := tc.s.Validate(); (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadIdentity)) {
			t.Errorf("%s.Validate() = %v", tc.s, err)
		}
	}
}
