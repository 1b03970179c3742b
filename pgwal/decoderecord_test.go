package pgwal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// rec builds a whole record (header included) from body parts.
func rec(parts ...[]byte) []byte {
	body := bytes.Join(parts, nil)
	out := AppendXLogRecord(nil, XLogRecord{TotLen: uint32(SizeOfXLogRecord + len(body)), RMID: RMHeapID})
	out = append(out, body...)
	binary.LittleEndian.PutUint32(out[20:], RecordCRC(out))
	return out
}

func le16(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func rel(spc, db, r uint32) []byte {
	return append(append(le32(spc), le32(db)...), le32(r)...)
}

func TestDecodeRecord(t *testing.T) {
	t.Parallel()
	image := bytes.Repeat([]byte{0xAB}, BlockSize)
	for _, tc := range []struct {
		name    string
		version uint32
		data    []byte
		check   func(t *testing.T, r *DecodedRecord)
	}{
		{"no data", 15, rec(), func(t *testing.T, r *DecodedRecord) {
			if len(r.Blocks) != 0 || len(r.MainData) != 0 || r.MainDataOffset != 24 {
				t.Fatalf("%+v", r)
			}
		}},
		{"short main data", 15, rec([]byte{255, 3}, []byte("abc")), func(t *testing.T, r *DecodedRecord) {
			if string(r.MainData) != "abc" || r.MainDataOffset != 26 {
				t.Fatalf("main data %q at %d", r.MainData, r.MainDataOffset)
			}
		}},
		{"long main data, origin, toplevel xid", 16, rec([]byte{253}, le16(7), []byte{252}, le32(1234), []byte{254}, le32(300), make([]byte, 300)),
			func(t *testing.T, r *DecodedRecord) {
				if r.Origin != 7 || r.TopLevelXID != 1234 || len(r.MainData) != 300 {
					t.Fatalf("%+v", r)
				}
			}},
		{"blocks: data, same rel with full image, hole", 15, rec(
			[]byte{0, BkpBlockHasData | 1}, le16(4), rel(1663, 5, 16384), le32(7),
			[]byte{1, BkpBlockSameRel | BkpBlockHasImage | BkpBlockHasData | BkpBlockWillInit}, le16(2), le16(BlockSize), le16(0), []byte{0x02}, le32(8),
			[]byte{2, BkpBlockHasImage}, le16(0), le16(8000), le16(100), []byte{0x01}, rel(1, 2, 3), le32(9),
			[]byte{255, 1},
			[]byte("dddd"), image, []byte("ee"), image[:8000], []byte("m")),
			func(t *testing.T, r *DecodedRecord) {
				if len(r.Blocks) != 3 || string(r.MainData) != "m" {
					t.Fatalf("%d blocks, main %q", len(r.Blocks), r.MainData)
				}
				b0, b1, b2 := r.Blocks[0], r.Blocks[1], r.Blocks[2]
				if b0.Rel != (RelFileNode{1663, 5, 16384}) || b0.ForkNum != 1 || b0.BlkNo != 7 || string(b0.Data) != "dddd" || b0.HasImage {
					t.Fatalf("block 0 %+v", b0)
				}
				if b1.Rel != b0.Rel || b1.BlkNo != 8 || !b1.HasImage || !b1.ApplyImage || b1.Compressed || b1.HoleLength != 0 ||
					!bytes.Equal(b1.Image, image) || string(b1.Data) != "ee" || !b1.WillInit() || b1.ImageOffset != r.Blocks[0].DataOffset+4 {
					t.Fatalf("block 1 %+v", b1)
				}
				if b2.Rel != (RelFileNode{1, 2, 3}) || b2.HoleOffset != 100 || b2.HoleLength != 192 || b2.ApplyImage || len(b2.Image) != 8000 || b2.HasData {
					t.Fatalf("block 2 %+v", b2)
				}
			}},
		{"PG15 compressed image with hole", 15, rec(
			[]byte{0, BkpBlockHasImage}, le16(0), le16(50), le16(200), []byte{0x01 | 0x08 | 0x02}, le16(1000), rel(1, 2, 3), le32(1), make([]byte, 50)),
			func(t *testing.T, r *DecodedRecord) {
				b := r.Blocks[0]
				if !b.Compressed || !b.ApplyImage || b.HoleOffset != 200 || b.HoleLength != 1000 || len(b.Image) != 50 {
					t.Fatalf("%+v", b)
				}
			}},
		{"PG14 compressed image without hole", 14, rec(
			[]byte{0, BkpBlockHasImage}, le16(0), le16(50), le16(0), []byte{0x02 | 0x04}, rel(1, 2, 3), le32(1), make([]byte, 50)),
			func(t *testing.T, r *DecodedRecord) {
				b := r.Blocks[0]
				if !b.Compressed || !b.ApplyImage || b.HoleLength != 0 {
					t.Fatalf("%+v", b)
				}
			}},
		{"PG15 reads PG14's IS_COMPRESSED as APPLY", 15, rec(
			[]byte{0, BkpBlockHasImage}, le16(0), le16(BlockSize), le16(0), []byte{0x02}, rel(1, 2, 3), le32(1), image),
			func(t *testing.T, r *DecodedRecord) {
				if b := r.Blocks[0]; b.Compressed || !b.ApplyImage {
					t.Fatalf("%+v", b)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := DecodeRecord(tc.data, tc.version)
			if err != nil {
				t.Fatal(err)
			}
			if r.Header.TotLen != uint32(len(tc.data)) || len(r.Record) != len(tc.data) {
				t.Fatalf("header %+v", r.Header)
			}
			tc.check(t, r)
		})
	}
}

func TestDecodeRecordRejects(t *testing.T) {
	t.Parallel()
	good := rec([]byte{0, BkpBlockHasData}, le16(4), rel(1, 2, 3), le32(7), []byte{255, 1}, []byte("dddd"), []byte("m"))
	if _, err := DecodeRecord(good, 15); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"short", good[:20], ErrBadRecord},
		{"tot_len beyond data", good[:len(good)-1], ErrBadRecord},
		{"tot_len below header", append(le32(10), good[4:]...), ErrBadRecord},
		{"truncated block header", rec([]byte{0, BkpBlockHasData}, le16(4), rel(1, 2, 3)), ErrBadRecord},
		{"data shorter than declared", rec([]byte{0, BkpBlockHasData}, le16(4), rel(1, 2, 3), le32(7), []byte("ddd")), ErrBadRecord},
		{"data longer than declared", rec([]byte{255, 1}, []byte("mm")), ErrBadRecord},
		{"same rel first", rec([]byte{0, BkpBlockSameRel}, le16(0), le32(7)), ErrBadRecord},
		{"out of order", rec([]byte{1, 0}, le16(0), rel(1, 2, 3), le32(7), []byte{1, 0}, le16(0), rel(1, 2, 3), le32(8)), ErrBadRecord},
		{"invalid block id", rec([]byte{100, 0}), ErrBadRecord},
		{"has data with length 0", rec([]byte{0, BkpBlockHasData}, le16(0), rel(1, 2, 3), le32(7)), ErrBadRecord},
		{"data without has data", rec([]byte{0, 0}, le16(2), rel(1, 2, 3), le32(7), []byte("dd")), ErrBadRecord},
		{"full image of short length", rec([]byte{0, BkpBlockHasImage}, le16(0), le16(10), le16(0), []byte{0}, rel(1, 2, 3), le32(7), make([]byte, 10)), ErrBadRecord},
		{"hole without offset", rec([]byte{0, BkpBlockHasImage}, le16(0), le16(10), le16(0), []byte{1}, rel(1, 2, 3), le32(7), make([]byte, 10)), ErrBadRecord},
		{"image longer than a block", rec([]byte{0, BkpBlockHasImage}, le16(0), le16(9000), le16(0), []byte{0}, rel(1, 2, 3), le32(7), make([]byte, 9000)), ErrBadRecord},
		{"huge long main data", rec([]byte{254}, le32(0xFFFFFFFF)), ErrBadRecord},
	} {
		if _, err := DecodeRecord(tc.data, 15); !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := DecodeRecord(good, 13); !errors.Is(err, ErrUnsupportedVersion) {
		t.Errorf("PG13: %v", err)
	}
}
