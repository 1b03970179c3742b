package interpreted

import (
	"fmt"
	"testing"

	"github.com/walkeeper/walkeeper/interpreted/shard"
	"github.com/walkeeper/walkeeper/pgwal"
)

// benchRecords is a small mix: heap inserts into 16 relations, one FPI,
// one commit.
func benchRecords() [][]byte {
	var recs [][]byte
	for i := range 16 {
		rel := pgwal.RelFileNode{SpcNode: 1663, DBNode: 5, RelNode: 16384 + uint32(i)}
		recs = append(recs, buildRecord(10, 0x00, 700, []testBlock{{rel: rel, blkno: uint32(i * 100), data: make([]byte, 120)}}, 0, le(uint16(3), uint8(0))))
	}
	page := testPage(400)
	recs = append(recs, buildRecord(0, 0xB0, 0, []testBlock{{rel: testRel, blkno: 9, image: append(page[:100:100], page[2000:]...), hole: 100, apply: true}}, 0, nil))
	recs = append(recs, buildRecord(1, 0x80, 700, nil, 0, le(int64(1), uint32(1), uint32(5), uint32(1663))))
	return recs
}

func shardsOf(n int) []shard.Identity {
	if n == 0 {
		return []shard.Identity{shard.Unsharded()}
	}
	s := make([]shard.Identity, n)
	for i := range s {
		s[i] = shard.Identity{Number: uint8(i), Count: uint8(n), StripeSize: 2048}
	}
	return s
}

func BenchmarkInterpret(b *testing.B) {
	recs := benchRecords()
	size := 0
	for _, r := range recs {
		size += len(r)
	}
	for _, n := range []int{0, 4, 8} {
		b.Run(fmt.Sprintf("shards=%d", n), func(b *testing.B) {
			in, _ := NewInterpreter(Config{PGVersion: 15})
			shards := shardsOf(n)
			var out []Record
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				for _, r := range recs {
					var err error
					if out, err = in.Interpret(out, r, 0x1000, shards); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

func BenchmarkAppendPayload(b *testing.B) {
	in, _ := NewInterpreter(Config{PGVersion: 15})
	rs := &Records{NextRecordLSN: 0x2000, RawWALStartLSN: Some(pgwal.LSN(0x1000))}
	for _, r := range benchRecords() {
		out, _ := in.Interpret(nil, r, 0x1000, shardsOf(0))
		rs.Records = append(rs.Records, out...)
	}
	raw := len(AppendRecordsBincode(nil, rs))
	for _, enc := range []Encoding{
		{Format: FormatBincode},
		{Format: FormatProtobuf},
		{Format: FormatProtobuf, Compression: Compression{Zstd: true, Level: 1}},
		{Format: FormatBincode, Compression: Compression{Zstd: true, Level: 1}},
	} {
		name := enc.Format.String()
		if enc.Compression.Zstd {
			name += "+zstd1"
		}
		b.Run(name, func(b *testing.B) {
			var dst []byte
			b.SetBytes(int64(raw))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, err = enc.AppendPayload(dst[:0], rs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(dst)), "wire-bytes")
		})
	}
	// Baseline: the generated protobuf code that AppendRecordsProto replaces.
	b.Run("protobuf-generated", func(b *testing.B) {
		var dst []byte
		b.SetBytes(int64(raw))
		b.ReportAllocs()
		for b.Loop() {
			dst, _ = MarshalRecordsProto(dst[:0], rs)
		}
	})
}
