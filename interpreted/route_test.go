package interpreted

import (
	"errors"
	"testing"

	"github.com/walkeeper/walkeeper/interpreted/shard"
	"github.com/walkeeper/walkeeper/pgwal"
)

func fourShards() []shard.Identity {
	s := make([]shard.Identity, 4)
	for i := range s {
		s[i] = shard.Identity{Number: uint8(i), Count: 4, StripeSize: 2048}
	}
	return s
}

// TestRouteBlocks: blocks 0, 2048 and 4096 of relation 16384 land on shards
// 0, 3 and 2 of 4 (spec §6.10 vectors); shard 0 observes the others.
func TestRouteBlocks(t *testing.T) {
	blocks := []testBlock{
		{rel: testRel, blkno: 0, data: []byte{1}},
		{rel: testRel, blkno: 2048, data: []byte{2}},
		{rel: testRel, blkno: 4096, data: []byte{3}},
	}
	rec := buildRecord(11, 0x00, 0, blocks, 0, le(uint16(1)))
	out, err := interpretOne(t, Config{PGVersion: 15}, rec, fourShards())
	if err != nil {
		t.Fatal(err)
	}
	key := func(blk uint32) shard.CompactKey {
		k, _ := shard.RelBlockKey(1663, 5, 16384, 0, blk).Compact()
		return k
	}
	type meta struct {
		kind ValueMetaKind
		blk  uint32
	}
	want := [][]meta{
		{{Serialized, 0}, {Observed, 2048}, {Observed, 4096}},
		{},
		{{Serialized, 4096}},
		{{Serialized, 2048}},
	}
	for i, w := range want {
		b := out[i].Batch
		if len(b.Metadata) != len(w) {
			t.Fatalf("shard %d: %d metas, want %d", i, len(b.Metadata), len(w))
		}
		var n uint64
		for j, m := range b.Metadata {
			if m.Kind != w[j].kind || m.Key != key(w[j].blk) || m.LSN != 0x1000 {
				t.Fatalf("shard %d meta %d: %+v, want %v", i, j, m, w[j])
			}
			if m.Kind == Serialized {
				n++
			}
		}
		if b.Len != n || (n == 0) != (len(b.Raw) == 0) {
			t.Fatalf("shard %d: len %d raw %d", i, b.Len, len(b.Raw))
		}
		if empty := out[i].IsEmpty(); empty != (i == 1) {
			t.Fatalf("shard %d: IsEmpty %v", i, empty)
		}
	}
}

// TestRouteClearVMBits: each shard keeps the heap blocks whose VM page it
// owns (heap block / 32672 → VM block).
func TestRouteClearVMBits(t *testing.T) {
	shards := fourShards()
	// heap block 0 → VM block 0 (shard 0); heap block 32672*2048 → VM block 2048 (shard 3).
	oldBlk := uint32(heapBlocksPerVMPage * 2048)
	blocks := []testBlock{{rel: testRel, blkno: 0, data: []byte{1}}, {rel: testRel, blkno: oldBlk, data: []byte{1}}}
	main := le(uint32(9), uint16(1), uint8(0), uint8(3), uint32(0), uint32(0), uint16(2))
	rec := buildRecord(10, 0x20, 0, blocks, 0, main)
	out, err := interpretOne(t, Config{PGVersion: 15}, rec, shards)
	if err != nil {
		t.Fatal(err)
	}
	want := []MetadataRecord{
		&ClearVMBits{NewHeapBlkno: Some[uint32](0), VMRel: testVM, Flags: 3},
		nil,
		nil,
		&ClearVMBits{OldHeapBlkno: Some(oldBlk), VMRel: testVM, Flags: 3},
	}
	for i := range shards {
		got, w := out[i].Metadata, want[i]
		if (got == nil) != (w == nil) || (got != nil && *got.(*ClearVMBits) != *w.(*ClearVMBits)) {
			t.Fatalf("shard %d: %#v, want %#v", i, got, w)
		}
	}
	out, _ = interpretOne(t, Config{PGVersion: 15}, rec, unshared)
	if m := out[0].Metadata.(*ClearVMBits); !m.NewHeapBlkno.Valid || !m.OldHeapBlkno.Valid {
		t.Fatalf("unsharded: %#v", m)
	}
}

func TestRouteMetadata(t *testing.T) {
	shards := fourShards()
	put := buildRecord(21, 0x00, 0, nil, 0, le(uint32(5), uint32(0), uint64(12), uint64(1), "neon-file:a\x00", "z"))
	out, err := interpretOne(t, Config{PGVersion: 15}, put, shards)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range out {
		if (r.Metadata != nil) != (i == 0) {
			t.Fatalf("logical message put on shard %d: %v", i, r.Metadata)
		}
	}
	commit := buildRecord(1, 0x00, 7, nil, 0, le(int64(1)))
	out, _ = interpretOne(t, Config{PGVersion: 15}, commit, shards)
	for i, r := range out {
		if r.Metadata == nil || r.IsEmpty() || r.XID != 7 {
			t.Fatalf("commit on shard %d: %+v", i, r)
		}
	}
	create := buildRecord(4, 0x00, 7, nil, 0, le(uint32(1), uint32(2), uint32(3), uint32(4)))
	out, _ = interpretOne(t, Config{PGVersion: 15}, create, shards)
	for i, r := range out {
		if !r.FlushUncommitted || r.IsEmpty() {
			t.Fatalf("create database on shard %d: %+v", i, r)
		}
	}
}

func TestUnsupportedTablespace(t *testing.T) {
	rec := buildRecord(11, 0, 0, []testBlock{{rel: pgwal.RelFileNode{SpcNode: 70000, DBNode: 5, RelNode: 1}, data: []byte{1}}}, 0, nil)
	if _, err := interpretOne(t, Config{PGVersion: 15}, rec, unshared); !errors.Is(err, shard.ErrUnsupportedKey) || !errors.Is(err, ErrBadWAL) {
		t.Fatalf("err = %v", err)
	}
}
