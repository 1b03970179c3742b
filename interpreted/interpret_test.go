package interpreted

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/walkeeper/walkeeper/interpreted/shard"
	"github.com/walkeeper/walkeeper/pgwal"
)

var (
	testRel  = pgwal.RelFileNode{SpcNode: 1663, DBNode: 5, RelNode: 16384}
	testVM   = RelTag{ForkNum: 2, SpcNode: 1663, DBNode: 5, RelNode: 16384}
	unshared = []shard.Identity{shard.Unsharded()}
)

func interpretOne(t *testing.T, cfg Config, rec []byte, shards []shard.Identity) ([]Record, error) {
	t.Helper()
	in, err := NewInterpreter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return in.Interpret(nil, rec, 0x1000, shards)
}

func TestInterpretMetadata(t *testing.T) {
	pg15 := Config{PGVersion: 150004}
	vanilla := Config{PGVersion: 15, HeapLayout: HeapLayoutVanilla}
	pg16 := Config{PGVersion: 16}
	pg17 := Config{PGVersion: 17}
	blk := func(n uint32) testBlock { return testBlock{rel: testRel, blkno: n, data: []byte{1}} }
	two := []testBlock{blk(40000), blk(3)}
	one := []testBlock{blk(7)}
	some := Some[uint32]
	tests := []struct {
		name    string
		cfg     Config
		rmid    uint8
		info    uint8
		xid     uint32
		blocks  []testBlock
		origin  uint16
		main    []byte
		want    MetadataRecord
		flush   bool
		wantErr bool
	}{
		{name: "heap insert clears", cfg: pg15, rmid: 10, info: 0x00, blocks: one, main: le(uint16(1), uint8(1)),
			want: &ClearVMBits{NewHeapBlkno: some(7), VMRel: testVM, Flags: 3}},
		{name: "heap insert no flag", cfg: pg15, rmid: 10, info: 0x80, blocks: one, main: le(uint16(1), uint8(0))},
		{name: "heap insert long main data", cfg: pg15, rmid: 10, info: 0x00, blocks: one, main: le(uint16(1), uint8(1), uint8(0)), wantErr: true},
		{name: "heap delete neon layout", cfg: pg15, rmid: 10, info: 0x10, blocks: one,
			main: le(uint32(9), uint16(1), uint16(0), uint32(0), uint8(0), uint8(1)),
			want: &ClearVMBits{NewHeapBlkno: some(7), VMRel: testVM, Flags: 3}},
		{name: "heap delete vanilla layout", cfg: vanilla, rmid: 10, info: 0x10, blocks: one,
			main: le(uint32(9), uint16(1), uint8(0), uint8(1)),
			want: &ClearVMBits{NewHeapBlkno: some(7), VMRel: testVM, Flags: 3}},
		{name: "vanilla delete read with neon layout", cfg: pg15, rmid: 10, info: 0x10, blocks: one,
			main: le(uint32(9), uint16(1), uint8(0), uint8(1)), wantErr: true},
		{name: "heap delete pg16", cfg: pg16, rmid: 10, info: 0x10, blocks: one,
			main: le(uint32(9), uint16(1), uint8(0), uint8(1)),
			want: &ClearVMBits{NewHeapBlkno: some(7), VMRel: testVM, Flags: 3}},
		{name: "heap update old and new", cfg: pg15, rmid: 10, info: 0x20, blocks: two,
			main: le(uint32(9), uint16(1), uint8(0), uint8(3), uint32(0), uint32(0), uint16(2)),
			want: &ClearVMBits{NewHeapBlkno: some(40000), OldHeapBlkno: some(3), VMRel: testVM, Flags: 3}},
		{name: "heap hot update vanilla", cfg: vanilla, rmid: 10, info: 0x40, blocks: one,
			main: le(uint32(9), uint16(1), uint8(0), uint8(1), uint32(0), uint16(2)),
			want: &ClearVMBits{OldHeapBlkno: some(7), VMRel: testVM, Flags: 3}},
		{name: "heap lock neon layout", cfg: pg15, rmid: 10, info: 0x60, blocks: one,
			main: le(uint32(9), uint16(1), uint16(0), uint32(0), uint8(0), uint8(1)),
			want: &ClearVMBits{OldHeapBlkno: some(7), VMRel: testVM, Flags: 2}},
		{name: "heap lock vanilla", cfg: vanilla, rmid: 10, info: 0x60, blocks: one,
			main: le(uint32(9), uint16(1), uint8(0), uint8(1)),
			want: &ClearVMBits{OldHeapBlkno: some(7), VMRel: testVM, Flags: 2}},
		{name: "heap flag without block", cfg: pg15, rmid: 10, info: 0x00, main: le(uint16(1), uint8(1)), wantErr: true},
		{name: "heap2 multi insert", cfg: pg15, rmid: 9, info: 0x50, blocks: one, main: le(uint8(1), uint8(0), uint16(2), uint16(1), uint16(2)),
			want: &ClearVMBits{NewHeapBlkno: some(7), VMRel: testVM, Flags: 3}},
		{name: "heap2 multi insert init page", cfg: pg15, rmid: 9, info: 0xD0, blocks: one, main: le(uint8(1), uint8(0), uint16(2)),
			want: &ClearVMBits{NewHeapBlkno: some(7), VMRel: testVM, Flags: 3}},
		{name: "heap2 multi insert bad offsets", cfg: pg15, rmid: 9, info: 0x50, blocks: one, main: le(uint8(1), uint8(0), uint16(2), uint16(1)), wantErr: true},
		{name: "heap2 lock updated", cfg: pg15, rmid: 9, info: 0x60, blocks: one, main: le(uint32(9), uint16(1), uint8(0), uint8(1)),
			want: &ClearVMBits{OldHeapBlkno: some(7), VMRel: testVM, Flags: 2}},
		{name: "heap2 prune: none", cfg: pg15, rmid: 9, info: 0x10, blocks: one, main: le(uint32(0))},
		{name: "neon rmgr on pg15", cfg: pg15, rmid: 134, info: 0x00, blocks: one, main: le(uint16(1), uint8(1)), wantErr: true},
		{name: "neon lock pg16", cfg: pg16, rmid: 134, info: 0x40, blocks: one, main: le(uint32(9), uint32(0), uint16(1), uint8(0), uint8(1)),
			want: &ClearVMBits{Neon: true, OldHeapBlkno: some(7), VMRel: testVM, Flags: 2}},
		{name: "neon update pg17", cfg: pg17, rmid: 134, info: 0x30, blocks: two,
			main: le(uint32(9), uint16(1), uint8(0), uint8(2), uint32(0), uint32(0), uint16(2)),
			want: &ClearVMBits{Neon: true, NewHeapBlkno: some(40000), VMRel: testVM, Flags: 3}},
		{name: "neon unknown", cfg: pg16, rmid: 134, info: 0x70, blocks: one, main: le(uint32(0)), wantErr: true},
		{name: "smgr create", cfg: pg15, rmid: 2, info: 0x10, main: le(uint32(1663), uint32(5), uint32(16384), int32(1)),
			want: &SmgrCreate{Rel: RelTag{ForkNum: 1, SpcNode: 1663, DBNode: 5, RelNode: 16384}}},
		{name: "smgr truncate", cfg: pg15, rmid: 2, info: 0x20, main: le(uint32(10), uint32(1663), uint32(5), uint32(16384), uint32(7)),
			want: &SmgrTruncate{BlkNo: 10, Rel: testRel, Flags: 7}},
		{name: "smgr truncate short", cfg: pg15, rmid: 2, info: 0x20, main: le(uint32(10)), wantErr: true},
		{name: "dbase create file copy", cfg: pg15, rmid: 4, info: 0x00, main: le(uint32(16400), uint32(1663), uint32(1), uint32(1663)),
			want: &DbaseCreate{DBID: 16400, TablespaceID: 1663, SrcDBID: 1, SrcTablespaceID: 1663}, flush: true},
		{name: "dbase create wal log", cfg: pg15, rmid: 4, info: 0x10, main: le(uint32(16400), uint32(1663))},
		{name: "dbase drop pg15", cfg: pg15, rmid: 4, info: 0x20, main: le(uint32(16400), uint32(2), uint32(1663), uint32(1664)),
			want: &DbaseDrop{DBID: 16400, TablespaceIDs: []uint32{1663, 1664}}},
		{name: "dbase drop pg14", cfg: Config{PGVersion: 14}, rmid: 4, info: 0x10, main: le(uint32(16400), uint32(1), uint32(1663)),
			want: &DbaseDrop{DBID: 16400, TablespaceIDs: []uint32{1663}}},
		{name: "dbase drop huge count", cfg: pg15, rmid: 4, info: 0x20, main: le(uint32(16400), uint32(0xFFFFFFFF)), wantErr: true},
		{name: "clog zero page", cfg: pg15, rmid: 3, info: 0x00, main: le(uint32(70)),
			want: &ClogZeroPage{SegNo: 2, RPageNo: 6}},
		{name: "clog zero page pg17", cfg: pg17, rmid: 3, info: 0x00, main: le(uint64(0x1_0000_0021)),
			want: &ClogZeroPage{SegNo: 1, RPageNo: 1}},
		{name: "clog truncate", cfg: pg15, rmid: 3, info: 0x10, main: le(uint32(4), uint32(700), uint32(5)),
			want: &ClogTruncate{PageNo: 4, OldestXID: 700, OldestXIDDB: 5}},
		{name: "clog unknown", cfg: pg15, rmid: 3, info: 0x20, main: le(uint32(4)), wantErr: true},
		{name: "multixact zero mem page", cfg: pg15, rmid: 6, info: 0x10, main: le(uint32(33)),
			want: &MultiXactZeroPage{Kind: SlruMultiXactMembers, SegNo: 1, RPageNo: 1}},
		{name: "multixact create", cfg: pg15, rmid: 6, info: 0x20, main: le(uint32(3), uint32(6), uint32(2), uint32(700), uint32(1), uint32(701), uint32(5)),
			want: &MultiXactCreate{Mid: 3, Moff: 6, NMembers: 2, Members: []MultiXactMember{{700, 1}, {701, 5}}}},
		{name: "multixact create short", cfg: pg15, rmid: 6, info: 0x20, main: le(uint32(3), uint32(6), uint32(2), uint32(700)), wantErr: true},
		{name: "multixact truncate", cfg: pg15, rmid: 6, info: 0x30, main: le(uint32(1), uint32(2), uint32(3), uint32(4), uint32(5)),
			want: &MultiXactTruncate{1, 2, 3, 4, 5}},
		{name: "relmap", cfg: pg15, rmid: 7, info: 0x00, main: le(uint32(5), uint32(1663), int32(4), "abcd"),
			want: &RelmapUpdate{DBID: 5, TSID: 1663, NBytes: 4, Buf: []byte("abcd")}},
		{name: "xlog raw", cfg: pg15, rmid: 0, info: 0x31, main: le(uint32(24576)),
			want: &XlogRaw{Info: 0x30, LSN: 0x1000, Buf: le(uint32(24576))}},
		{name: "standby running xacts", cfg: pg15, rmid: 8, info: 0x10, main: le(uint32(1), uint32(0), uint32(0), uint32(701), uint32(700), uint32(700), uint32(700)),
			want: &StandbyRunningXacts{OldestRunningXID: 700}},
		{name: "standby running xacts short", cfg: pg15, rmid: 8, info: 0x10, main: le(uint32(2), uint32(0), uint32(0), uint32(701), uint32(700), uint32(700), uint32(700)), wantErr: true},
		{name: "standby lock: none", cfg: pg15, rmid: 8, info: 0x00, main: le(uint32(1), uint32(700), uint32(5), uint32(16384))},
		{name: "replorigin set", cfg: pg15, rmid: 19, info: 0x00, main: le(uint64(0x5000), uint16(2), uint8(0), uint8(0), uint32(0)),
			want: &ReploriginSet{RemoteLSN: 0x5000, NodeID: 2}},
		{name: "replorigin drop", cfg: pg15, rmid: 19, info: 0x10, main: le(uint16(2)), want: &ReploriginDrop{NodeID: 2}},
		{name: "logical message neon-file", cfg: pg15, rmid: 21, info: 0x00,
			main: le(uint32(5), uint32(0), uint64(21), uint64(3), "neon-file:pg_stat/x\x00\x00", "abc"),
			want: &LogicalMessagePut{Path: "pg_stat/x\x00", Buf: []byte("abc")}},
		{name: "logical message other", cfg: pg15, rmid: 21, info: 0x00, main: le(uint32(5), uint32(1), uint64(2), uint64(1), "p\x00", "x")},
		{name: "logical message bad utf8", cfg: pg15, rmid: 21, info: 0x00, main: le(uint32(5), uint32(1), uint64(2), uint64(1), "\xff\x00", "x"), wantErr: true},
		{name: "logical message zero prefix", cfg: pg15, rmid: 21, info: 0x00, main: le(uint32(5), uint32(1), uint64(0), uint64(0)), wantErr: true},
		{name: "logical message beyond data", cfg: pg15, rmid: 21, info: 0x00, main: le(uint32(5), uint32(1), uint64(11), uint64(9), "neon-file:\x00", "x"), wantErr: true},
		{name: "xact prepare", cfg: pg15, rmid: 1, info: 0x10, xid: 800, main: le("prepared-state"),
			want: &XactPrepare{XLXID: 800, Data: []byte("prepared-state")}},
		{name: "xact commit minimal", cfg: pg15, rmid: 1, info: 0x00, xid: 800, main: le(int64(12345)),
			want: &XactRecord{Kind: XactCommit, Parsed: XactParsedRecord{XID: 800, XactTime: 12345}, XLXID: 800, LSN: 0x1000}},
		{name: "xact commit prepared, all parts", cfg: pg15, rmid: 1, info: 0xB0, xid: 0, origin: 3,
			main: le(int64(-1), uint32(0x13F), uint32(5), uint32(1663), // xinfo: dbinfo subxacts rels invals twophase origin dropped stats
				int32(2), uint32(801), uint32(802), // subxacts
				int32(1), uint32(1663), uint32(5), uint32(16384), // relfilenodes
				int32(1), make([]byte, 12), // dropped stats
				int32(2), make([]byte, 32), // invalidations
				uint32(799),               // twophase xid
				uint64(0xABCD), int64(0)), // origin lsn, timestamp
			want: &XactRecord{Kind: XactCommitPrepared, OriginID: 3, LSN: 0x1000, Parsed: XactParsedRecord{XID: 799, Info: 0x30, XactTime: -1,
				XInfo: 0x13F, DBID: 5, TSID: 1663, Subxacts: []uint32{801, 802}, XNodes: []pgwal.RelFileNode{testRel}, OriginLSN: 0xABCD}}},
		{name: "xact abort negative invals", cfg: pg15, rmid: 1, info: 0xA0, main: le(int64(1), uint32(0x08), int32(-1)), wantErr: true},
		{name: "xact abort negative subxacts", cfg: pg15, rmid: 1, info: 0xA0, main: le(int64(1), uint32(0x02), int32(-1)),
			want: &XactRecord{Kind: XactAbort, Parsed: XactParsedRecord{Info: 0x20, XactTime: 1, XInfo: 2}, LSN: 0x1000}},
		{name: "xact assignment: none", cfg: pg15, rmid: 1, info: 0x50, main: le(uint32(1), int32(0))},
		{name: "btree: none", cfg: pg15, rmid: 11, info: 0x00, blocks: one, main: le(uint16(1))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := buildRecord(tc.rmid, tc.info, tc.xid, tc.blocks, tc.origin, tc.main)
			out, err := interpretOne(t, tc.cfg, rec, unshared)
			if tc.wantErr {
				if !errors.Is(err, ErrBadWAL) {
					t.Fatalf("err = %v, want ErrBadWAL", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r := out[0]
			if !reflect.DeepEqual(r.Metadata, tc.want) {
				t.Fatalf("metadata %#v, want %#v", r.Metadata, tc.want)
			}
			if r.FlushUncommitted != tc.flush || r.XID != tc.xid || r.NextRecordLSN != 0x1000 {
				t.Fatalf("flush %v xid %d next %s", r.FlushUncommitted, r.XID, r.NextRecordLSN)
			}
			if tc.want != nil {
				// Every variant survives its bincode round trip.
				back, err := ParseMetadataRecord(AppendMetadataRecord(nil, tc.want))
				if err != nil || !reflect.DeepEqual(AppendMetadataRecord(nil, back), AppendMetadataRecord(nil, tc.want)) {
					t.Fatalf("bincode round trip: %v", err)
				}
			}
		})
	}
}

// page returns an 8192-byte page with pd_upper = upper and a marker byte.
func testPage(upper uint16) []byte {
	p := bytes.Repeat([]byte{0x5A}, pgwal.BlockSize)
	binary.LittleEndian.PutUint16(p[14:], upper)
	for i := 100; i < 200; i++ {
		p[i] = 0
	}
	return p
}

func TestInterpretValues(t *testing.T) {
	cfg := Config{PGVersion: 15}
	withHole := testPage(100)
	stored := append(append([]byte{}, withHole[:100]...), withHole[200:]...)
	newPage := testPage(0)
	tests := []struct {
		name     string
		rmid     uint8
		info     uint8
		block    testBlock
		image    []byte // expected page, nil for a WAL-record value
		willInit bool
	}{
		{"fpi with hole", 0, 0xB0, testBlock{rel: testRel, blkno: 1, image: stored, hole: 100, apply: true}, withHole, true},
		{"fpi for hint, full page", 0, 0xA0, testBlock{rel: testRel, blkno: 1, image: withHole, apply: true}, withHole, true},
		{"fpi new page keeps lsn", 0, 0xB0, testBlock{rel: testRel, blkno: 1, image: newPage, apply: true}, newPage, true},
		{"fpi with xlr flag bits", 0, 0xB2, testBlock{rel: testRel, blkno: 1, image: withHole, apply: true}, nil, true},
		{"fpi not applied", 0, 0xB0, testBlock{rel: testRel, blkno: 1, image: withHole}, nil, false},
		{"heap record with image", 10, 0x00, testBlock{rel: testRel, blkno: 1, image: withHole, apply: true, data: []byte{1}}, nil, true},
		{"will init", 10, 0x80, testBlock{rel: testRel, blkno: 1, willInit: true, data: []byte{1}}, nil, true},
		{"plain", 11, 0x00, testBlock{rel: testRel, blkno: 1, data: []byte{1}}, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var main []byte
			if tc.rmid == 10 {
				main = le(uint16(1), uint8(0))
			}
			rec := buildRecord(tc.rmid, tc.info, 0, []testBlock{tc.block}, 0, main)
			out, err := interpretOne(t, cfg, rec, unshared)
			if err != nil {
				t.Fatal(err)
			}
			b := out[0].Batch
			if len(b.Metadata) != 1 || b.Len != 1 || b.MaxLSN != 0x1000 {
				t.Fatalf("batch %+v", b)
			}
			m := b.Metadata[0]
			key, _ := shard.RelBlockKey(1663, 5, 16384, 0, 1).Compact()
			if m.Kind != Serialized || m.Key != key || m.LSN != 0x1000 || m.BatchOffset != 0 || m.Len != uint64(len(b.Raw)) || m.WillInit != tc.willInit {
				t.Fatalf("meta %+v", m)
			}
			v, err := ParseValue(b.Raw)
			if err != nil {
				t.Fatal(err)
			}
			if tc.image == nil {
				if v.Image != nil || !bytes.Equal(v.Rec, rec) || v.WillInit != tc.willInit {
					t.Fatalf("value %+v, want the whole record", v)
				}
				return
			}
			want := append([]byte{}, tc.image...)
			if binary.LittleEndian.Uint16(want[14:]) != 0 {
				copy(want, le(uint32(0), uint32(0x1000))) // pd_lsn = {xlogid 0, xrecoff 0x1000}
			}
			if !bytes.Equal(v.Image, want) {
				t.Fatalf("image differs, first bytes %x want %x", v.Image[:16], want[:16])
			}
		})
	}
}

// TestImageFlagsPerVersion: BKPIMAGE_APPLY is 0x04 in PostgreSQL 14 and
// 0x02 from 15 on (where 0x04 means PGLZ-compressed).
func TestImageFlagsPerVersion(t *testing.T) {
	page := testPage(100)
	rec := buildRecord(0, 0xB0, 0, []testBlock{{rel: testRel, blkno: 1, image: page, bimgInfo: 0x04}}, 0, nil)
	out, err := interpretOne(t, Config{PGVersion: 14}, rec, unshared)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := ParseValue(out[0].Batch.Raw); err != nil || v.Image == nil {
		t.Fatalf("PG14 applied image: %+v, %v", v, err)
	}
	if _, err := interpretOne(t, Config{PGVersion: 15}, rec, unshared); !errors.Is(err, ErrBadWAL) {
		t.Fatalf("PG15 compressed full-length image: %v", err)
	}
	// A compressed image (PG15: APPLY | PGLZ) is passed on as the record,
	// with will_init because it is applied.
	comp := buildRecord(0, 0xB0, 0, []testBlock{{rel: testRel, blkno: 1, image: page[:500], bimgInfo: 0x02 | 0x04}}, 0, nil)
	out, err = interpretOne(t, Config{PGVersion: 15}, comp, unshared)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := ParseValue(out[0].Batch.Raw); err != nil || v.Image != nil || !v.WillInit || !bytes.Equal(v.Rec, comp) {
		t.Fatalf("compressed image: %+v, %v", v, err)
	}
}

// TestInterpretResultsStayValid: results are cut from slabs shared by later
// records; interpreting more records (past several slabs, with 1 and 4
// shards) must not change a single byte of earlier results.
func TestInterpretResultsStayValid(t *testing.T) {
	for _, n := range []int{0, 4} {
		in, _ := NewInterpreter(Config{PGVersion: 15})
		type kept struct {
			rs   Records
			want []byte
		}
		var all []kept
		for i := range 200 { // about 200 × 20 KiB of values: many 64 KiB slabs
			for _, rec := range benchRecords() {
				out, err := in.Interpret(nil, rec, pgwal.LSN(0x1000+i), shardsOf(n))
				if err != nil {
					t.Fatal(err)
				}
				rs := Records{Records: out, NextRecordLSN: 0x2000}
				all = append(all, kept{rs, AppendRecordsBincode(nil, &rs)})
			}
		}
		for i, k := range all {
			if got := AppendRecordsBincode(nil, &k.rs); !bytes.Equal(got, k.want) {
				t.Fatalf("shards=%d: result %d changed after later records", n, i)
			}
		}
	}
}
