package interpreted

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"

	"github.com/walkeeper/walkeeper/interpreted/shard"
	"github.com/walkeeper/walkeeper/pgwal"
)

// hx builds bytes from hex written by hand; spaces and | are ignored.
func hx(t testing.TB, parts ...string) []byte {
	t.Helper()
	s := strings.NewReplacer(" ", "", "|", "", "\n", "", "\t", "").Replace(strings.Join(parts, ""))
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// smallBatch is a two-record batch whose encodings are written out by hand
// in the tests below.
func smallBatch(t testing.TB) *Records {
	raw := hx(t, "00000001 00000000 00 0000000000000004 41424344")
	return &Records{
		Records: []Record{{
			Metadata: &StandbyRunningXacts{OldestRunningXID: 0x1234},
			Batch: ValueBatch{
				Raw: raw,
				Metadata: []ValueMeta{
					{Kind: Serialized, Key: shard.CompactKey{High: 1, Low: 2}, LSN: 0x100, BatchOffset: 0, Len: 21},
					{Kind: Observed, Key: shard.CompactKey{High: 3, Low: 4}, LSN: 0x100},
				},
				MaxLSN: 0x100,
				Len:    1,
			},
			NextRecordLSN: 0x100,
			XID:           7,
		}, {
			NextRecordLSN:    0x108,
			FlushUncommitted: true,
		}},
		NextRecordLSN:  0x108,
		RawWALStartLSN: Some(pgwal.LSN(0xF0)),
	}
}

func smallBatchBincode(t testing.TB) []byte {
	return hx(t,
		"0000000000000002",
		// record A: Some(Standby::RunningXacts{0x1234})
		"01 0000000A 00000000 00001234",
		"0000000000000015 00000001 00000000 00 0000000000000004 41424344", // raw
		"0000000000000002",
		"00000000 0000000000000001 0000000000000002 0000000000000100 0000000000000000 0000000000000015 00",
		"00000001 0000000000000003 0000000000000004 0000000000000100",
		"0000000000000100 0000000000000001",  // max_lsn, len
		"0000000000000100 00000001 00000007", // next_record_lsn, No, xid
		// record B: no metadata, empty batch, flush Yes
		"00 0000000000000000 0000000000000000 0000000000000000 0000000000000000",
		"0000000000000108 00000000 00000000",
		"0000000000000108 01 00000000000000F0")
}

func smallBatchProto(t testing.TB) []byte {
	meta0 := "12 04 0801 1002 | 18 8002 | 20 00 | 28 15 | 30 00"
	meta1 := "08 01 | 12 04 0803 1004 | 18 8002"
	batchA := "0A 15 00000001 00000000 00 0000000000000004 41424344 | 12 0F " + meta0 + " | 12 0B " + meta1 + " | 18 8002 | 20 01"
	recA := "0A 0C 0000000A 00000000 00001234 | 12 3A " + batchA + " | 18 8002 | 28 07"
	recB := "12 00 | 18 8802 | 20 01"
	return hx(t, "0A 4F "+recA+" | 0A 07 "+recB+" | 10 8802 | 18 F001")
}

func TestRecordsBincode(t *testing.T) {
	rs := smallBatch(t)
	want := smallBatchBincode(t)
	got := AppendRecordsBincode(nil, rs)
	if !bytes.Equal(got, want) {
		t.Fatalf("bincode\n got %x\nwant %x", got, want)
	}
	back, err := ParseRecordsBincode(want)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, rs) {
		t.Fatalf("round trip: %+v, want %+v", back, rs)
	}
	for i := range want {
		if _, err := ParseRecordsBincode(want[:i]); err == nil {
			t.Fatalf("truncated to %d bytes: no error", i)
		}
	}
	if _, err := ParseRecordsBincode(append(want, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

func TestRecordsProto(t *testing.T) {
	rs := smallBatch(t)
	want := smallBatchProto(t)
	got, err := AppendRecordsProto(nil, rs)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("protobuf\n got %x\nwant %x", got, want)
	}
	if gen, err := MarshalRecordsProto(nil, rs); err != nil || !bytes.Equal(gen, want) {
		t.Fatalf("generated code\n got %x\nwant %x (%v)", gen, want, err)
	}
	back, err := ParseRecordsProto(want)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, rs) {
		t.Fatalf("round trip: %+v, want %+v", back, rs)
	}
}

// TestNextRecordLSNAlwaysPresent: an empty batch with LSN 0 still carries
// field 2 (the pageserver panics without it), and a payload without it is
// refused.
func TestNextRecordLSNAlwaysPresent(t *testing.T) {
	got, err := AppendRecordsProto(nil, &Records{})
	if err != nil {
		t.Fatal(err)
	}
	if want := hx(t, "10 00"); !bytes.Equal(got, want) {
		t.Fatalf("empty batch = %x, want %x", got, want)
	}
	got, _ = AppendRecordsProto(nil, &Records{NextRecordLSN: 0x1000, RawWALStartLSN: Some(pgwal.LSN(0))})
	if want := hx(t, "10 8020 18 00"); !bytes.Equal(got, want) {
		t.Fatalf("empty batch = %x, want %x", got, want)
	}
	for _, rs := range []*Records{{}, {NextRecordLSN: 0x1000, RawWALStartLSN: Some(pgwal.LSN(0))}} {
		gen, _ := MarshalRecordsProto(nil, rs)
		fast, _ := AppendRecordsProto(nil, rs)
		if !bytes.Equal(gen, fast) {
			t.Fatalf("generated %x, direct %x", gen, fast)
		}
	}
	if _, err := ParseRecordsProto(hx(t, "18 00")); err == nil {
		t.Fatal("batch without next_record_lsn accepted")
	}
	if _, err := ParseRecordsProto(hx(t, "0A 00 10 00")); err == nil {
		t.Fatal("record without batch accepted")
	}
	b := AppendRecordsBincode(nil, &Records{NextRecordLSN: 5})
	if want := hx(t, "0000000000000000 0000000000000005 00"); !bytes.Equal(b, want) {
		t.Fatalf("empty bincode batch = %x, want %x", b, want)
	}
}

func TestValues(t *testing.T) {
	rec := []byte{1, 2, 3}
	if got, want := AppendWalRecordValue(nil, true, rec), hx(t, "00000001 00000000 01 0000000000000003 010203"); !bytes.Equal(got, want) {
		t.Fatalf("wal record value %x, want %x", got, want)
	}
	page := bytes.Repeat([]byte{0xAB}, pgwal.BlockSize)
	img := AppendImageValue(nil, page)
	if want := append(hx(t, "00000000 0000000000002000"), page...); !bytes.Equal(img, want) || len(img) != ImageValueSize {
		t.Fatalf("image value header %x", img[:12])
	}
	v, err := ParseValue(img)
	if err != nil || !v.WillInit || !bytes.Equal(v.Image, page) {
		t.Fatalf("ParseValue(image) = %v, %v", v.WillInit, err)
	}
	v, err = ParseValue(AppendWalRecordValue(nil, false, rec))
	if err != nil || v.WillInit || v.Image != nil || !bytes.Equal(v.Rec, rec) {
		t.Fatalf("ParseValue(record) = %+v, %v", v, err)
	}
	for _, bad := range []string{"00000002", "00000001 00000001 00 0000000000000000", "00000001 00000000 02 0000000000000000", "00000000 0000000000000001"} {
		if _, err := ParseValue(hx(t, bad)); err == nil {
			t.Errorf("ParseValue(%s) accepted", bad)
		}
	}
}

func TestMessage(t *testing.T) {
	msg := AppendMessageHeader(nil, 0x1_0000_0020, 0x30)
	msg = append(msg, 0xEE)
	if want := hx(t, "30 0000000100000020 0000000000000030 EE"); !bytes.Equal(msg, want) {
		t.Fatalf("message %x, want %x", msg, want)
	}
	s, c, p, err := ParseMessage(msg)
	if err != nil || s != 0x1_0000_0020 || c != 0x30 || !bytes.Equal(p, []byte{0xEE}) {
		t.Fatalf("ParseMessage = %s %s %x %v", s, c, p, err)
	}
	if _, _, _, err := ParseMessage(hx(t, "77 0000000000000000 0000000000000000")); err == nil {
		t.Fatal("wrong tag accepted")
	}
}
