package reader

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/walkeeper/walkeeper/interpreted"
	"github.com/walkeeper/walkeeper/interpreted/shard"
	"github.com/walkeeper/walkeeper/pgwal"
)

func sampleRecords() *interpreted.Records {
	page := bytes.Repeat([]byte{7}, pgwal.BlockSize)
	raw := interpreted.AppendImageValue(nil, page)
	off := uint64(len(raw))
	raw = interpreted.AppendWalRecordValue(raw, false, []byte("record"))
	return &interpreted.Records{
		Records: []interpreted.Record{{
			Metadata: &interpreted.XlogRaw{Info: 0xB0, LSN: 0x3000, Buf: []byte{1}},
			Batch: interpreted.ValueBatch{
				Raw: raw,
				Metadata: []interpreted.ValueMeta{
					{Kind: interpreted.Serialized, Key: shard.CompactKey{High: 1, Low: 1}, LSN: 0x3000, Len: off, WillInit: true},
					{Kind: interpreted.Observed, Key: shard.CompactKey{High: 1, Low: 2}, LSN: 0x3000},
					{Kind: interpreted.Serialized, Key: shard.CompactKey{High: 1, Low: 3}, LSN: 0x3000, BatchOffset: off, Len: uint64(len(raw)) - off},
				},
				MaxLSN: 0x3000,
				Len:    2,
			},
			NextRecordLSN: 0x3000,
			XID:           1,
		}},
		NextRecordLSN:  0x3000,
		RawWALStartLSN: interpreted.Some(pgwal.LSN(0x2FF0)),
	}
}

func TestRoundTrip(t *testing.T) {
	rs := sampleRecords()
	for _, enc := range []interpreted.Encoding{
		{Format: interpreted.FormatProtobuf},
		{Format: interpreted.FormatBincode},
		{Format: interpreted.FormatProtobuf, Compression: interpreted.Compression{Zstd: true, Level: 1}},
		{Format: interpreted.FormatBincode, Compression: interpreted.Compression{Zstd: true, Level: 1}},
		{Format: interpreted.FormatProtobuf, Compression: interpreted.Compression{Zstd: true, Level: 19}},
		{Format: interpreted.FormatProtobuf, Compression: interpreted.Compression{Zstd: true, Level: -5}},
	} {
		t.Run(enc.Format.String(), func(t *testing.T) {
			msg := interpreted.AppendMessageHeader(nil, 0x4000, 0x5000)
			msg, err := enc.AppendPayload(msg, rs)
			if err != nil {
				t.Fatal(err)
			}
			if enc.Compression.Zstd && len(msg) > interpreted.MessageHeaderSize+pgwal.BlockSize/2 {
				t.Errorf("zstd level %d left %d bytes", enc.Compression.Level, len(msg))
			}
			m, err := DecodeMessage(msg, enc)
			if err != nil {
				t.Fatal(err)
			}
			if m.StreamingLSN != 0x4000 || m.CommitLSN != 0x5000 || !reflect.DeepEqual(m.Records, rs) {
				t.Fatalf("decoded %s %s %+v", m.StreamingLSN, m.CommitLSN, m.Records)
			}
			vals, err := Values(&m.Records.Records[0].Batch)
			if err != nil {
				t.Fatal(err)
			}
			if vals[0].Image == nil || vals[1] != nil || string(vals[2].Rec) != "record" {
				t.Fatalf("values %+v", vals)
			}
			// An empty batch is still a full payload.
			empty := &interpreted.Records{NextRecordLSN: 0x6000, RawWALStartLSN: interpreted.Some(pgwal.LSN(0x5FF8))}
			p, err := enc.AppendPayload(nil, empty)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodePayload(p, enc)
			if err != nil || !reflect.DeepEqual(got, empty) {
				t.Fatalf("empty batch: %+v, %v", got, err)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	zstd := interpreted.Encoding{Compression: interpreted.Compression{Zstd: true, Level: 1}}
	if _, err := DecodePayload([]byte("not zstd"), zstd); !errors.Is(err, ErrDecompress) {
		t.Fatalf("garbage: %v", err)
	}
	if _, err := DecodePayload([]byte{0x18, 0}, interpreted.Encoding{}); !errors.Is(err, interpreted.ErrBadProtobuf) {
		t.Fatalf("no next_record_lsn: %v", err)
	}
	b := &interpreted.ValueBatch{Raw: []byte{0, 0}, Metadata: []interpreted.ValueMeta{{Len: 3}}}
	if _, err := Values(b); err == nil {
		t.Fatal("value beyond raw accepted")
	}
}
