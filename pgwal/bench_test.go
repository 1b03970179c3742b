package pgwal

import (
	"fmt"
	"testing"
)

// benchWAL generates about total bytes of WAL whose record sizes cycle
// through sizes (whole record lengths, header included).
func benchWAL(total int, sizes []int) (LSN, []byte, int) {
	start := LSN(0x1000028)
	e := NewEncoder(start, 15, 1)
	body := make([]byte, 1<<20)
	for i := range body {
		body[i] = byte(i * 7)
	}
	wal := make([]byte, 0, total+1<<20)
	i := 0
	for ; len(wal) < total; i++ {
		n := sizes[i%len(sizes)] - SizeOfXLogRecord
		wal, _ = e.AppendRecord(wal, RMHeapID, 0, uint32(i), body[:n])
	}
	return start, wal, i
}

// benchShapes are the WAL shapes of the decoder benchmarks: record sizes
// of pgbench, of full page images, and large records.
var benchShapes = []struct {
	name  string
	sizes []int
}{
	{"pgbench", []int{54, 171, 64, 229, 188, 293, 34, 79, 120, 54, 72}},
	{"fpi", []int{7429, 120, 8200, 54}},
	{"large", []int{256 << 10}},
	{"mixed", []int{130, 330, 1030, 8030}}, // walstore's benchmark WAL
}

// BenchmarkDecoder measures decoding throughput by WAL shape and by the
// size of the chunks fed (128 KiB is MAX_SEND_SIZE, the AppendRequest size).
func BenchmarkDecoder(b *testing.B) {
	for _, shape := range benchShapes {
		start, wal, count := benchWAL(16<<20, shape.sizes)
		for _, chunk := range []int{8 << 10, MaxSendSize, 1 << 20} {
			b.Run(fmt.Sprintf("%s/chunk=%d", shape.name, chunk), func(b *testing.B) {
				b.SetBytes(int64(len(wal)))
				b.ReportAllocs()
				for b.Loop() {
					d := NewDecoder(start, 15)
					n := 0
					for off := 0; off < len(wal); off += chunk {
						d.Feed(wal[off:min(off+chunk, len(wal))])
						for {
							_, ok, err := d.Next()
							if err != nil {
								b.Fatal(err)
							}
							if !ok {
								break
							}
							n++
						}
					}
					if n != count {
						b.Fatalf("decoded %d records, wrote %d", n, count)
					}
				}
			})
		}
	}
}

// BenchmarkDecodeRecord measures DecodeRecord on a heap-like record with
// two block references and main data.
func BenchmarkDecodeRecord(b *testing.B) {
	data := rec([]byte{0, BkpBlockHasData}, le16(103), rel(1663, 5, 16396), le32(1639),
		[]byte{1, BkpBlockSameRel}, le16(0), le32(1082), []byte{255, 14}, make([]byte, 103), make([]byte, 14))
	var r DecodedRecord
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Decode(data, 15); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBoundaryDecoder is BenchmarkDecoder for the BoundaryDecoder,
// which walstore uses: same WAL shapes, same chunk sizes, read with Next
// (a Record per record) or with Scan (one call per chunk, as walstore
// decodes each write).
func BenchmarkBoundaryDecoder(b *testing.B) {
	for _, shape := range benchShapes {
		start, wal, count := benchWAL(16<<20, shape.sizes)
		for _, chunk := range []int{8 << 10, MaxSendSize, 1 << 20} {
			for _, api := range []string{"next", "scan"} {
				b.Run(fmt.Sprintf("%s/chunk=%d/%s", shape.name, chunk, api), func(b *testing.B) {
					b.SetBytes(int64(len(wal)))
					b.ReportAllocs()
					for b.Loop() {
						d := NewBoundaryDecoder(start, 15, DefaultSegmentSize)
						n := 0
						for off := 0; off < len(wal); off += chunk {
							end := min(off+chunk, len(wal))
							d.Feed(wal[off:end])
							n += drainBoundaries(b, d, api == "scan", start+LSN(end))
						}
						if api == "next" && n != count {
							b.Fatalf("decoded %d records, wrote %d", n, count)
						}
					}
				})
			}
		}
	}
}

// drainBoundaries consumes what d was fed, with Scan or with Next, and
// returns how many records Next returned (0 with Scan).
func drainBoundaries(b *testing.B, d *BoundaryDecoder, scan bool, bound LSN) int {
	if scan {
		if _, _, err := d.Scan(bound); err != nil {
			b.Fatal(err)
		}
		return 0
	}
	n := 0
	for {
		_, ok, err := d.Next()
		if err != nil {
			b.Fatal(err)
		}
		if !ok {
			return n
		}
		n++
	}
}
