package interpreted

import (
	"bytes"
	"reflect"
	"runtime"
	"testing"

	"github.com/walkeeper/walkeeper/interpreted/shard"
	"github.com/walkeeper/walkeeper/pgwal"
)

// fuzzShardSets are the shard layouts a fuzz mode byte picks from.
var fuzzShardSets = [][]shard.Identity{
	{shard.Unsharded()},
	fourShards(),
	{{Number: 0, Count: 8, StripeSize: 1}, {Number: 5, Count: 8, StripeSize: 1}},
}

// FuzzInterpret feeds random and mutated records (the committed corpus
// holds one real PostgreSQL 15 record of each kind) to the interpreter in
// every version, heap layout and shard set: it must not panic, and its
// output must stay proportional to its input.
func FuzzInterpret(f *testing.F) {
	blk := []testBlock{{rel: testRel, blkno: 7, data: []byte{1}}}
	page := testPage(100)
	f.Add(buildRecord(10, 0x20, 1, append(blk, testBlock{rel: testRel, blkno: 40000, data: []byte{2}}), 0,
		le(uint32(9), uint16(1), uint8(0), uint8(3), uint32(0), uint32(0), uint16(2))), uint8(1))
	f.Add(buildRecord(0, 0xB0, 0, []testBlock{{rel: testRel, blkno: 1, image: append(page[:100:100], page[200:]...), hole: 100, apply: true}}, 0, nil), uint8(4))
	f.Add(buildRecord(1, 0xB0, 0, nil, 3, le(int64(-1), uint32(0x13F), uint32(5), uint32(1663), int32(1), uint32(801),
		int32(1), uint32(1663), uint32(5), uint32(16384), int32(1), make([]byte, 12), int32(1), make([]byte, 16), uint32(799), uint64(1))), uint8(2))
	f.Add(buildRecord(21, 0, 0, nil, 0, le(uint32(5), uint32(0), uint64(12), uint64(1), "neon-file:a\x00", "z")), uint8(7))
	f.Add(buildRecord(6, 0x20, 0, nil, 0, le(uint32(3), uint32(6), uint32(1), uint32(700), uint32(1))), uint8(0))
	f.Add(buildRecord(134, 0x40, 0, blk, 0, le(uint32(9), uint32(0), uint16(1), uint8(0), uint8(1))), uint8(3))
	f.Fuzz(func(t *testing.T, rec []byte, mode uint8) {
		cfg := Config{PGVersion: 14 + uint32(mode&3), HeapLayout: HeapLayout(mode >> 2 & 1)}
		shards := fuzzShardSets[int(mode>>3)%len(fuzzShardSets)]
		in, err := NewInterpreter(cfg)
		if err != nil {
			t.Fatal(err)
		}
		out, err := in.Interpret(nil, rec, 0x2000, shards)
		if err != nil {
			return
		}
		if len(out) != len(shards) {
			t.Fatalf("%d records for %d shards", len(out), len(shards))
		}
		nblocks := (len(rec) - pgwal.SizeOfXLogRecord) / 4 // a block reference takes at least 4 header bytes
		for i := range out {
			b := &out[i].Batch
			if len(b.Metadata) > nblocks || len(b.Raw) > nblocks*(ImageValueSize+walRecordValueOverhead+len(rec)) {
				t.Fatalf("shard %d: %d metas, %d raw bytes from a %d-byte record", i, len(b.Metadata), len(b.Raw), len(rec))
			}
			enc := AppendRecordsBincode(nil, &Records{Records: out[i : i+1]})
			back, err := ParseRecordsBincode(enc)
			if err != nil {
				t.Fatalf("own output does not parse: %v", err)
			}
			if !bytes.Equal(AppendRecordsBincode(nil, back), enc) {
				t.Fatal("bincode round trip changed the record")
			}
			rs := &Records{Records: out[i : i+1], NextRecordLSN: 0x2000, RawWALStartLSN: Some(pgwal.LSN(0x1FF8))}
			gen, _ := MarshalRecordsProto(nil, rs)
			fast, _ := AppendRecordsProto(nil, rs)
			if !bytes.Equal(gen, fast) {
				t.Fatalf("protobuf: generated %x, direct %x", gen, fast)
			}
		}
	})
}

// FuzzParseRecordsBincode: bincode is canonical, so whatever parses must
// re-encode to the same bytes.
func FuzzParseRecordsBincode(f *testing.F) {
	f.Add(AppendRecordsBincode(nil, smallBatch(f)))
	f.Add(AppendRecordsBincode(nil, &Records{NextRecordLSN: 1}))
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := ParseRecordsBincode(b)
		if err != nil {
			return
		}
		if got := AppendRecordsBincode(nil, rs); !bytes.Equal(got, b) {
			t.Fatalf("re-encoded %x, input %x", got, b)
		}
	})
}

// FuzzParseMetadataRecord: as above, for one MetadataRecord.
func FuzzParseMetadataRecord(f *testing.F) {
	for _, m := range []MetadataRecord{
		&ClearVMBits{NewHeapBlkno: Some[uint32](1), VMRel: testVM, Flags: 3},
		&XactRecord{Kind: XactCommitPrepared, Parsed: XactParsedRecord{Subxacts: []uint32{1}, XNodes: []pgwal.RelFileNode{testRel}}},
		&MultiXactCreate{NMembers: 1, Members: []MultiXactMember{{1, 2}}},
		&LogicalMessagePut{Path: "p", Buf: []byte("b")},
		&DbaseDrop{TablespaceIDs: []uint32{1663}},
		&ReploriginSet{RemoteLSN: 1, NodeID: 2},
	} {
		f.Add(AppendMetadataRecord(nil, m))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMetadataRecord(b)
		if err != nil {
			return
		}
		if got := AppendMetadataRecord(nil, m); !bytes.Equal(got, b) {
			t.Fatalf("re-encoded %x, input %x", got, b)
		}
	})
}

// FuzzParseRecordsProto: whatever parses re-encodes to a message that
// parses to the same model.
func FuzzParseRecordsProto(f *testing.F) {
	f.Add(smallBatchProto(f))
	f.Add([]byte{0x10, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := ParseRecordsProto(b)
		if err != nil {
			return
		}
		enc, err := AppendRecordsProto(nil, rs)
		if err != nil {
			t.Fatal(err)
		}
		if gen, _ := MarshalRecordsProto(nil, rs); !bytes.Equal(gen, enc) {
			t.Fatalf("generated %x, direct %x", gen, enc)
		}
		back, err := ParseRecordsProto(enc)
		if err != nil || !reflect.DeepEqual(AppendRecordsBincode(nil, back), AppendRecordsBincode(nil, rs)) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// TestHugeCountsDoNotAllocate: counts read from WAL or bincode never size an
// allocation before the bytes behind them are known to exist.
func TestHugeCountsDoNotAllocate(t *testing.T) {
	recs := [][]byte{
		buildRecord(4, 0x20, 0, nil, 0, le(uint32(1), uint32(0xFFFFFFFF))),                                  // dbase drop
		buildRecord(6, 0x20, 0, nil, 0, le(uint32(1), uint32(1), uint32(0xFFFFFFFF))),                       // multixact create
		buildRecord(1, 0x80, 0, nil, 0, le(int64(1), uint32(0x06), int32(0x7FFFFFFF))),                      // subxacts
		buildRecord(1, 0x80, 0, nil, 0, le(int64(1), uint32(0x08), int32(0x7FFFFFFF))),                      // invals
		buildRecord(8, 0x10, 0, nil, 0, le(uint32(0xFFFFFFFF), uint32(0xFFFFFFFF), make([]byte, 16))),       // running xacts
		buildRecord(21, 0, 0, nil, 0, le(uint32(0), uint32(0), uint64(1)<<62, uint64(1)<<62, "neon-file:")), // logical message
	}
	bins := [][]byte{
		hx(t, "FFFFFFFFFFFFFFFF"),
		hx(t, "0000000000000001 00 FFFFFFFFFFFFFFFF"),
		hx(t, "00000005 00000000 00000000 00 0000000000000000 00000000 00000000 00000000 FFFFFFFFFFFFFFFF"),
	}
	in, _ := NewInterpreter(Config{PGVersion: 15})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, r := range recs {
		if _, err := in.Interpret(nil, r, 0x100, unshared); err == nil {
			t.Errorf("record %x accepted", r)
		}
	}
	for _, b := range bins {
		if _, err := ParseRecordsBincode(b); err == nil {
			if _, err := ParseMetadataRecord(b); err == nil {
				t.Errorf("bincode %x accepted", b)
			}
		}
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("allocated %d bytes", n)
	}
}
