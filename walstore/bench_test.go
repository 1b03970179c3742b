package walstore

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/pgwal"
)

// walGen produces synthetic but valid WAL (pgwal.Encoder) in windows, so
// a benchmark can write gigabytes without holding them in memory.
type walGen struct {
	enc  *pgwal.Encoder
	buf  []byte
	off  int
	pos  pgwal.LSN // LSN of buf[off]
	body [][]byte
	i    int
}

// benchWindow is how much WAL is generated at a time (outside the timer).
const benchWindow = 64 << 20

func newWALGen(start pgwal.LSN) *walGen {
	g := &walGen{enc: pgwal.NewEncoder(start, pgVersion, 1), pos: start}
	// A mix of record sizes: small tuples up to full page images.
	for _, n := range []int{100, 300, 1000, 8000} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i * 7)
		}
		g.body = append(g.body, b)
	}
	return g
}

// next returns the next n bytes; refill must have been called if
// available() < n.
func (g *walGen) next(n int) []byte {
	b := g.buf[g.off : g.off+n]
	g.off += n
	g.pos += pgwal.LSN(n)
	return b
}

func (g *walGen) available() int { return len(g.buf) - g.off }

// refill keeps the unconsumed bytes and generates a new window after them.
func (g *walGen) refill() {
	rest := copy(g.buf, g.buf[g.off:])
	g.buf, g.off = g.buf[:rest], 0
	for len(g.buf) < benchWindow {
		g.buf, _ = g.enc.AppendRecord(g.buf, pgwal.RMLogicalMsgID, 0, 0, g.body[g.i%len(g.body)])
		g.i++
	}
}

// benchSizes are the append sizes of the benchmarks.
var benchSizes = []int{8 << 10, 128 << 10, 1 << 20}

// storeSide appends to a Store: one Write and one Flush per append.
type storeSide struct{ s *Store }

func newStoreSide(b *testing.B, fsync bool) *storeSide {
	cfg := Config{Dir: b.TempDir(), SegSize: pgwal.DefaultSegmentSize, PGVersion: pgVersion, SystemID: 1, NoSync: !fsync}
	s, err := Open(cfg, 0, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.Truncate(benchStart); err != nil {
		b.Fatal(err)
	}
	return &storeSide{s}
}

func (st *storeSide) append(b *testing.B, pos pgwal.LSN, p []byte) {
	if err := st.s.Write(pos, p); err != nil {
		b.Fatal(err)
	}
	if err := st.s.Flush(); err != nil {
		b.Fatal(err)
	}
}

// baselineSide pwrites the same bytes into one plain file preallocated
// before the timer, with the same fdatasyncs as the store: one per append
// and one more when an append crosses a 16 MiB boundary.
type baselineSide struct {
	f     *os.File
	off   int64
	fsync bool
}

func newBaselineSide(b *testing.B, fsync bool, total int) *baselineSide {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "plain"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	if err := preallocate(f, int64(total+pgwal.DefaultSegmentSize)); err != nil {
		b.Fatal(err)
	}
	return &baselineSide{f: f, fsync: fsync}
}

func (bl *baselineSide) append(b *testing.B, p []byte) {
	const seg = pgwal.DefaultSegmentSize
	if _, err := bl.f.WriteAt(p, bl.off); err != nil {
		b.Fatal(err)
	}
	crossed := (bl.off+int64(len(p)))/seg != bl.off/seg
	bl.off += int64(len(p))
	if !bl.fsync {
		return
	}
	if crossed {
		if err := fdatasync(bl.f); err != nil {
			b.Fatal(err)
		}
	}
	if err := fdatasync(bl.f); err != nil {
		b.Fatal(err)
	}
}

// benchStart is where benchmark WAL begins (segment 1).
const benchStart = pgwal.LSN(pgwal.DefaultSegmentSize)

// BenchmarkAppendFlush measures Write + Flush of one append (group commit
// of one) beside a baseline in the same run: the same bytes pwritten into
// a plain preallocated file with the same number of fdatasyncs.
func BenchmarkAppendFlush(b *testing.B) {
	for _, size := range benchSizes {
		for _, fsync := range []bool{true, false} {
			name := fmt.Sprintf("size=%dKiB/fsync=%v", size>>10, fsync)
			b.Run(name+"/store", func(b *testing.B) {
				st := newStoreSide(b, fsync)
				runAppends(b, size, func(pos pgwal.LSN, p []byte) { st.append(b, pos, p) })
			})
			b.Run(name+"/baseline", func(b *testing.B) {
				bl := newBaselineSide(b, fsync, b.N*size)
				runAppends(b, size, func(_ pgwal.LSN, p []byte) { bl.append(b, p) })
			})
		}
	}
}

// runAppends times b.N appends of size bytes of generated WAL.
func runAppends(b *testing.B, size int, appendFn func(pgwal.LSN, []byte)) {
	g := newWALGen(benchStart)
	g.refill()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if g.available() < size {
			b.StopTimer()
			g.refill()
			b.StartTimer()
		}
		pos := g.pos
		appendFn(pos, g.next(size))
	}
}

// BenchmarkAppendFlushPaired interleaves store and baseline appends of the
// same bytes, alternating which goes first, and reports both times and
// their ratio: on a shared, noisy machine both sides then see the same
// disk and CPU contention. ratio = baseline time / store time, i.e. the
// store's throughput as a fraction of the baseline's. With fsync off the
// totals are dominated by rare writeback stalls (single appends of
// hundreds of milliseconds, on either side), so med-ratio also reports the
// median of that ratio over pairs of appends (see medianPairRatio): the
// steady-state cost of the store's own work.
func BenchmarkAppendFlushPaired(b *testing.B) {
	for _, size := range benchSizes {
		for _, fsync := range []bool{true, false} {
			b.Run(fmt.Sprintf("size=%dKiB/fsync=%v", size>>10, fsync), func(b *testing.B) {
				st := newStoreSide(b, fsync)
				bl := newBaselineSide(b, fsync, b.N*size)
				g := newWALGen(benchStart)
				g.refill()
				var tStore, tBase time.Duration
				opStore, opBase := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
				b.SetBytes(int64(2 * size))
				b.ResetTimer()
				for i := range b.N {
					s0, b0 := tStore, tBase
					if g.available() < size {
						g.refill()
					}
					pos := g.pos
					p := g.next(size)
					t0 := time.Now()
					if i%2 == 0 {
						st.append(b, pos, p)
						t1 := time.Now()
						bl.append(b, p)
						tStore += t1.Sub(t0)
						tBase += time.Since(t1)
					} else {
						bl.append(b, p)
						t1 := time.Now()
						st.append(b, pos, p)
						tBase += t1.Sub(t0)
						tStore += time.Since(t1)
					}
					opStore, opBase = append(opStore, tStore-s0), append(opBase, tBase-b0)
				}
				b.StopTimer()
				b.ReportMetric(float64(tStore.Nanoseconds())/float64(b.N), "store-ns/op")
				b.ReportMetric(float64(tBase.Nanoseconds())/float64(b.N), "baseline-ns/op")
				b.ReportMetric(float64(tBase)/float64(tStore), "ratio")
				b.ReportMetric(medianPairRatio(opBase, opStore), "med-ratio")
			})
		}
	}
}

// medianPairRatio is the median over consecutive pairs of appends (one
// with the store first, one with the baseline first, so that whoever reads
// the bytes from memory first is the same on both sides) of the baseline
// time over the store time.
func medianPairRatio(base, store []time.Duration) float64 {
	var r []float64
	for i := 0; i+1 < len(base); i += 2 {
		r = append(r, float64(base[i]+base[i+1])/float64(store[i]+store[i+1]))
	}
	if len(r) == 0 {
		return 0
	}
	slices.Sort(r)
	return r[len(r)/2]
}
