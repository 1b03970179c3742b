package interpreted

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/walkeeper/walkeeper/pgwal"
)

// TestMetadataBincode checks every MetadataRecord variant against bytes
// written out by hand from spec §6.6/§6.8, and the round trip.
func TestMetadataBincode(t *testing.T) {
	rel := pgwal.RelFileNode{SpcNode: 1663, DBNode: 5, RelNode: 16384} // 67F, 5, 4000
	tests := []struct {
		name string
		m    MetadataRecord
		hex  string
	}{
		{"heapam clear vm bits", &ClearVMBits{NewHeapBlkno: Some[uint32](7), VMRel: RelTag{ForkNum: 2, SpcNode: 1663, DBNode: 5, RelNode: 16384}, Flags: 3},
			"00000000 00000000 | 01 00000007 | 00 | 02 0000067F 00000005 00004000 | 03"},
		{"neonrmgr clear vm bits", &ClearVMBits{Neon: true, OldHeapBlkno: Some[uint32](0x10000), VMRel: RelTag{ForkNum: 2, RelNode: 1}, Flags: 2},
			"00000001 00000000 | 00 | 01 00010000 | 02 00000000 00000000 00000001 | 02"},
		{"smgr create", &SmgrCreate{Rel: RelTag{ForkNum: 1, SpcNode: 1663, DBNode: 5, RelNode: 16384}},
			"00000002 00000000 | 01 0000067F 00000005 00004000"},
		{"smgr truncate", &SmgrTruncate{BlkNo: 9, Rel: rel, Flags: 7},
			"00000002 00000001 | 00000009 0000067F 00000005 00004000 00000007"},
		{"dbase create", &DbaseCreate{DBID: 16400, TablespaceID: 1663, SrcDBID: 1, SrcTablespaceID: 1663},
			"00000003 00000000 | 00004010 0000067F 00000001 0000067F"},
		{"dbase drop", &DbaseDrop{DBID: 16400, TablespaceIDs: []uint32{1663, 1664}},
			"00000003 00000001 | 00004010 0000000000000002 0000067F 00000680"},
		{"clog zero page", &ClogZeroPage{SegNo: 1, RPageNo: 31}, "00000004 00000000 | 00000001 0000001F"},
		{"clog truncate", &ClogTruncate{PageNo: 2, OldestXID: 3, OldestXIDDB: 4}, "00000004 00000001 | 00000002 00000003 00000004"},
		{"xact commit", &XactRecord{Kind: XactCommit, Parsed: XactParsedRecord{XID: 0x300, Info: 0, XactTime: -2, XInfo: 0x07,
			DBID: 5, TSID: 1663, Subxacts: []uint32{0x301}, XNodes: []pgwal.RelFileNode{rel}, OriginLSN: 0},
			OriginID: 0, XLXID: 0x300, LSN: 0x1_0000_0028},
			"00000005 00000000 | 00000300 00 FFFFFFFFFFFFFFFE 00000007 00000005 0000067F" +
				"0000000000000001 00000301 | 0000000000000001 0000067F 00000005 00004000 | 0000000000000000" +
				"| 0000 00000300 0000000100000028"},
		{"xact abort prepared", &XactRecord{Kind: XactAbortPrepared, Parsed: XactParsedRecord{XID: 9, Info: 0x40, OriginLSN: 0xAB},
			OriginID: 3, XLXID: 8, LSN: 0x50},
			"00000005 00000003 | 00000009 40 0000000000000000 00000000 00000000 00000000 0000000000000000 0000000000000000 00000000000000AB | 0003 00000008 0000000000000050"},
		{"xact prepare", &XactPrepare{XLXID: 0x2A, Data: []byte{0xDE, 0xAD}}, "00000005 00000004 | 0000002A 0000000000000002 DEAD"},
		{"multixact zero page", &MultiXactZeroPage{Kind: SlruMultiXactOffsets, SegNo: 0, RPageNo: 5}, "00000006 00000000 | 00000002 00000000 00000005"},
		{"multixact create", &MultiXactCreate{Mid: 1, Moff: 2, NMembers: 1, Members: []MultiXactMember{{XID: 0x400, Status: 5}}},
			"00000006 00000001 | 00000001 00000002 00000001 0000000000000001 00000400 00000005"},
		{"multixact truncate", &MultiXactTruncate{OldestMultiDB: 1, StartTruncOff: 2, EndTruncOff: 3, StartTruncMemb: 4, EndTruncMemb: 5},
			"00000006 00000002 | 00000001 00000002 00000003 00000004 00000005"},
		{"relmap update", &RelmapUpdate{DBID: 0, TSID: 1664, NBytes: 524, Buf: []byte{1, 2}},
			"00000007 00000000 | 00000000 00000680 0000020C 0000000000000002 0102"},
		{"xlog raw", &XlogRaw{Info: 0x10, LSN: 0x2000028, Buf: []byte{9}}, "00000008 00000000 | 10 0000000002000028 0000000000000001 09"},
		{"logical message put", &LogicalMessagePut{Path: "pg_logical/x", Buf: []byte("hi")},
			"00000009 00000000 | 000000000000000C 70675F6C6F676963616C2F78 0000000000000002 6869"},
		{"standby running xacts", &StandbyRunningXacts{OldestRunningXID: 0x1234}, "0000000A 00000000 | 00001234"},
		{"replorigin set", &ReploriginSet{RemoteLSN: 0x1_00000002, NodeID: 7}, "0000000B 00000000 | 0000000100000002 0007"},
		{"replorigin drop", &ReploriginDrop{NodeID: 0xFFFF}, "0000000B 00000001 | FFFF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := hx(t, tc.hex)
			got := AppendMetadataRecord(nil, tc.m)
			if !bytes.Equal(got, want) {
				t.Fatalf("bincode\n got %x\nwant %x", got, want)
			}
			back, err := ParseMetadataRecord(want)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tc.m) {
				t.Fatalf("round trip %+v, want %+v", back, tc.m)
			}
			if _, err := ParseMetadataRecord(append(want, 0)); !errors.Is(err, ErrBincode) {
				t.Fatalf("trailing byte: %v", err)
			}
			if _, err := ParseMetadataRecord(want[:len(want)-1]); !errors.Is(err, ErrBincode) {
				t.Fatalf("short: %v", err)
			}
		})
	}
}

func TestMetadataBincodeErrors(t *testing.T) {
	for name, h := range map[string]string{
		"unknown outer":       "0000000C 00000000",
		"unknown inner":       "00000002 00000002",
		"failpoint":           "00000009 00000001",
		"bad option tag":      "00000000 00000000 02",
		"bad slru kind":       "00000006 00000000 00000003 00000000 00000000",
		"huge vec":            "00000003 00000001 00000000 FFFFFFFFFFFFFFFF",
		"non-utf8 path":       "00000009 00000000 0000000000000001 FF 0000000000000000",
		"length beyond input": "00000005 00000004 00000000 0000000000000010 00",
	} {
		if _, err := ParseMetadataRecord(hx(t, h)); !errors.Is(err, ErrBincode) {
			t.Errorf("%s: %v, want ErrBincode", name, err)
		}
	}
}

func TestParseSettings(t *testing.T) {
	for s, want := range map[string]HeapLayout{"neon": HeapLayoutNeon, "vanilla": HeapLayoutVanilla} {
		if got, err := ParseHeapLayout(s); err != nil || got != want || got.String() != s {
			t.Errorf("ParseHeapLayout(%q) = %v, %v", s, got, err)
		}
	}
	for s, want := range map[string]Format{"protobuf": FormatProtobuf, "bincode": FormatBincode} {
		if got, err := ParseFormat(s); err != nil || got != want || got.String() != s {
			t.Errorf("ParseFormat(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseHeapLayout("pg"); err == nil {
		t.Error("ParseHeapLayout accepted pg")
	}
	if _, err := ParseFormat("json"); err == nil {
		t.Error("ParseFormat accepted json")
	}
	if _, err := NewInterpreter(Config{PGVersion: 13}); err == nil {
		t.Error("PostgreSQL 13 accepted")
	}
}
