package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/interpreted"
	"github.com/walkeeper/walkeeper/interpreted/shard"
	"github.com/walkeeper/walkeeper/pgwal"
)

// benchRounds is how often each timed step runs. The steps run round-robin
// (one of each per round) so that load from other jobs on the machine hits
// them alike; medians and ranges are printed.
const benchRounds = 7

// TestBenchInterpreted prints the interpreted protocol's figures
// (`make bench-interpreted`) against baselines measured in the same run on
// the same WAL, a pgbench workload of a real PostgreSQL 15:
//
//   - decode + interpret + encode (protobuf) + compress (zstd level 1), in
//     process, MB of WAL per second, ÷ `pg_waldump --stats=record` over the
//     same range (goal ≥ 1.0); also with 8 shards sharing one decode, and
//     the floors: each component alone (see pipelineFigures);
//   - bytes of '0' messages received over the network by 1 shard and by 8
//     shards (summed), ÷ raw WAL bytes (goal ≤ 0.2 for 1 shard), and the
//     end-to-end rate of the 1-shard stream.
//
// WALKEEPER_BENCH_SAVE=dir also saves the WAL (segments and a "range"
// file) for TestBenchInterpretedSaved.
func TestBenchInterpreted(t *testing.T) {
	if os.Getenv("WALKEEPER_BENCH") == "" {
		t.Skip("set WALKEEPER_BENCH=1 (make bench-interpreted)")
	}
	p := startPrimary(t, "max_wal_size = 4GB", "checkpoint_timeout = 1h")
	start := p.switchWAL(t)
	addrs, _ := startRun(t, Config{DataDir: t.TempDir(), ID: 1, NoSync: true,
		InterpretedHeapLayout: interpreted.HeapLayoutVanilla})
	addr := addrs.PG.String()
	u := startPusher(t, p, addr, 1, start)
	pgbench := func(args ...string) {
		cmd := pgtest.Command(context.Background(), t, pgtest.Bin(t, "pgbench"), append(args, p.ConnString("postgres"))...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pgbench %v: %v\n%s", args, err, out)
		}
	}
	pgbench("-i", "-s", "2", "-q")
	pgbench("-c", "4", "-t", "4000", "-n")
	end := p.lsn(t, "pg_current_wal_flush_lsn()")
	commit := u.waitCommitted(t, addr, end)
	raw := float64(commit - start)
	wal := readPrimaryWAL(t, p.WALDir(), start, commit)
	t.Logf("WAL: %s..%s, %.1f MB", start, commit, raw/1e6)
	if dir := os.Getenv("WALKEEPER_BENCH_SAVE"); dir != "" {
		saveBenchWAL(t, dir, p.WALDir(), start, commit)
	}
	pipelineFigures(t, p.WALDir(), wal, start, commit)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// The 1-shard stream five times: its median is the end-to-end rate.
	var wire1 int
	var e2es []time.Duration
	for range 5 {
		t0 := time.Now()
		wire1 = streamWire(ctx, t, addr, start, commit, []shard.Identity{shard.Unsharded()})
		e2es = append(e2es, time.Since(t0))
	}
	slices.Sort(e2es)
	e2e := e2es[len(e2es)/2]
	var shards8 []shard.Identity
	for n := range uint8(8) {
		s, _ := shard.NewIdentity(n, 8, shard.DefaultStripeSize)
		shards8 = append(shards8, s)
	}
	wire8 := streamWire(ctx, t, addr, start, commit, shards8)
	fmt.Printf("%-66s %10.0f %10.0f %7.3f %s\n", "bytes on the wire, 1 shard (protobuf+zstd 1) vs raw WAL", float64(wire1), raw, float64(wire1)/raw, "<= 0.2")
	fmt.Printf("%-66s %10.0f %10.0f %7.3f %s\n", "bytes on the wire, 8 shards summed vs raw WAL", float64(wire8), raw, float64(wire8)/raw, "")
	fmt.Printf("%-66s %10.1f %10s %7s %s\n", "end to end over TCP, 1 shard, MB of WAL/s (incl. connect), median of 5", raw/1e6/e2e.Seconds(),
		fmt.Sprintf("%.0f–%.0f", raw/1e6/e2es[len(e2es)-1].Seconds(), raw/1e6/e2es[0].Seconds()), "", "")
}

// TestBenchInterpretedSaved prints the in-process figures of
// TestBenchInterpreted (no PostgreSQL, no network) for WAL saved by
// WALKEEPER_BENCH_SAVE: WALKEEPER_BENCH_WAL=dir. Two builds of the test
// binary run alternately on the same saved WAL give a fair before/after
// comparison.
func TestBenchInterpretedSaved(t *testing.T) {
	dir := os.Getenv("WALKEEPER_BENCH_WAL")
	if dir == "" {
		t.Skip("set WALKEEPER_BENCH_WAL to a directory saved with WALKEEPER_BENCH_SAVE")
	}
	var start, end pgwal.LSN
	rng := string(mustRead(t, filepath.Join(dir, "range")))
	var s, e string
	if _, err := fmt.Sscan(rng, &s, &e); err != nil {
		t.Fatalf("range file %q: %v", rng, err)
	}
	var err error
	if start, err = pgwal.ParseLSN(s); err != nil {
		t.Fatal(err)
	}
	if end, err = pgwal.ParseLSN(e); err != nil {
		t.Fatal(err)
	}
	pipelineFigures(t, dir, readPrimaryWAL(t, dir, start, end), start, end)
}

// saveBenchWAL copies the segments holding [start, end) from walDir to dir
// and writes dir/range ("start end").
func saveBenchWAL(t *testing.T, dir, walDir string, start, end pgwal.LSN) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for seg := start.SegmentNumber(segSize); seg <= (end - 1).SegmentNumber(segSize); seg++ {
		name := pgwal.SegmentName(seg, segSize)
		if err := os.WriteFile(filepath.Join(dir, name), mustRead(t, filepath.Join(walDir, name)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "range"), []byte(start.String()+" "+end.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// benchStep is one timed step of pipelineFigures.
type benchStep struct {
	name string
	f    func()
	d    []time.Duration // wall-clock time per round
	cpu  []time.Duration // CPU time of this process and its children per round
}

// median uses median of replication_bench_test.go.
func (s *benchStep) median() time.Duration { return median(s.d) }

// cpuTime is the user and system time of this process and its waited-for
// children: CPU time is less disturbed than wall-clock time by other jobs
// on a shared machine.
func cpuTime(t *testing.T) time.Duration {
	var self, children syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &self); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children); err != nil {
		t.Fatal(err)
	}
	tv := func(v syscall.Timeval) time.Duration { return time.Duration(v.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(children.Utime) + tv(children.Stime)
}

// pipelineFigures times, round-robin over benchRounds rounds, the
// in-process pipeline over wal = [start, end) (in walDir's segments) and
// its floors, each component alone on exactly the input the pipeline gives
// it: the Decoder alone, the BoundaryDecoder alone, CRC32C alone over the
// WAL bytes, decode + interpret, protobuf encoding alone of the batches the
// Batcher made, zstd level 1 alone of their protobuf payloads; and
// pg_waldump --stats=record over the range, and with -n 1 (its start-up
// and first record), the baseline. All rates are MB of WAL per second of
// wall-clock time; the cpu columns divide by CPU time instead (this
// process's and pg_waldump's user + system time), which other jobs on a
// shared machine disturb less; for the rows with several goroutines it is
// the CPU spent, not the elapsed time.
// It also prints a SHA-256 of the 1- and 8-shard messages, to check that a
// change of the code leaves the bytes on the wire alone.
func pipelineFigures(t *testing.T, walDir string, wal []byte, start, end pgwal.LSN) {
	t.Helper()
	raw := float64(end - start)
	batches := interpretBatches(t, wal, start, end)
	var payloads [][]byte
	pbBytes := 0
	for i := range batches {
		p, err := encProtobuf.AppendPayload(nil, &batches[i].Records)
		if err != nil {
			t.Fatal(err)
		}
		payloads, pbBytes = append(payloads, p), pbBytes+len(p)
	}
	if path := os.Getenv("WALKEEPER_BENCH_PAYLOADS"); path != "" {
		// For comparing with the C library: zstd -b1 -B<size/batches> path.
		if err := os.WriteFile(path, bytes.Join(payloads, nil), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sum1, sum8 := sha256.New(), sha256.New()
	zBytes := interpretAll(t, wal, start, end, 1, sum1)
	interpretAll(t, wal, start, end, 8, sum8)
	t.Logf("%d batches, protobuf %.1f MB, protobuf+zstd %.2f MB; sha256 of messages: 1 shard %x, 8 shards %x",
		len(batches), float64(pbBytes)/1e6, float64(zBytes)/1e6, sum1.Sum(nil)[:8], sum8.Sum(nil)[:8])

	var dumpOut []byte
	waldump := func(args ...string) func() {
		return func() {
			var err error
			dumpOut, err = exec.Command(pgtest.Bin(t, "pg_waldump"), append([]string{"--stats=record", "-p", walDir,
				"-s", start.String()}, args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("pg_waldump: %v\n%s", err, dumpOut)
			}
		}
	}
	var msg []byte
	steps := []*benchStep{
		{name: "decode+interpret+protobuf+zstd, 1 shard, serial", f: func() { interpretAll(t, wal, start, end, 1, nil) }},
		{name: "same, reader and encoder goroutines as the server runs them", f: func() { interpretPiped(t, wal, start, end) }},
		{name: "same, 2 encoder goroutines, in order (not what the server does)", f: func() { interpretParallel(t, wal, start, end, 2) }},
		{name: "same as the first, 8 shards sharing one decode (serial)", f: func() { interpretAll(t, wal, start, end, 8, nil) }},
		{name: "floor: decode+interpret only (no encode, no zstd)", f: func() { interpretAll(t, wal, start, end, 0, nil) }},
		{name: "floor: Decoder alone (record assembly + CRC32C)", f: func() { decodeAll(t, wal, start, false) }},
		{name: "floor: BoundaryDecoder alone (boundaries + CRC32C)", f: func() { decodeAll(t, wal, start, true) }},
		{name: "floor: CRC32C alone over the WAL bytes", f: func() { crcAll(wal) }},
		{name: "floor: protobuf encoding alone of the batches", f: func() {
			for i := range batches {
				msg, _ = encProtobuf.AppendMessage(msg[:0], &batches[i])
			}
		}},
		{name: fmt.Sprintf("floor: zstd 1 alone of the protobuf payloads (%.1f MB)", float64(pbBytes)/1e6), f: func() {
			for _, p := range payloads {
				msg = interpreted.AppendZstd(msg[:0], p, 1)
			}
		}},
		{name: "baseline: pg_waldump --stats=record, same range", f: waldump("-e", end.String())},
		{name: "pg_waldump --stats=record -n 1 (start-up + 1 record)", f: waldump("-n", "1")},
	}
	loadBefore, _ := os.ReadFile("/proc/loadavg")
	for range benchRounds {
		for _, s := range steps {
			c0, t0 := cpuTime(t), time.Now()
			s.f()
			s.d, s.cpu = append(s.d, time.Since(t0)), append(s.cpu, cpuTime(t)-c0)
		}
	}
	if path := os.Getenv("WALKEEPER_BENCH_CPUPROFILE"); path != "" {
		profilePipeline(t, path, wal, start, end)
	}
	loadAfter, _ := os.ReadFile("/proc/loadavg")
	mbps := func(d time.Duration) float64 { return raw / 1e6 / d.Seconds() }
	dump, startup := steps[len(steps)-2].median(), steps[len(steps)-1].median()
	fmt.Printf("\ninterpreted protocol, %.1f MB of pgbench WAL (PostgreSQL 15); median [min-max] of %d rounds; MB of WAL/s\n",
		raw/1e6, benchRounds)
	fmt.Printf("load average before: %s, after: %s\n", bytes.TrimSpace(loadBefore), bytes.TrimSpace(loadAfter))
	dumpCPU := median(steps[len(steps)-2].cpu)
	fmt.Printf("%-66s %10s %17s %7s %9s %7s %s\n", "figure (ratio: median ÷ pg_waldump --stats=record median)", "median", "range", "ratio",
		"cpu-MB/s", "cpu-rat", "goal")
	for i, s := range steps {
		goal := ""
		if i < 2 {
			goal = ">= 1.0"
		} else if i == 2 {
			goal = "(what-if)"
		}
		lo, hi := slices.Max(s.d), slices.Min(s.d)
		c := median(s.cpu)
		fmt.Printf("%-66s %10.1f %8.1f-%-8.1f %7.2f %9.1f %7.2f %s\n", s.name, mbps(s.median()), mbps(lo), mbps(hi),
			mbps(s.median())/mbps(dump), mbps(c), mbps(c)/mbps(dumpCPU), goal)
	}
	fmt.Printf("pg_waldump start-up (-n 1) is %.1f ms of its %.1f ms; without it pg_waldump runs at %.1f MB/s and the first row's ratio is %.2f\n",
		startup.Seconds()*1e3, dump.Seconds()*1e3, mbps(dump-startup), mbps(steps[0].median())/mbps(dump-startup))
	if i := bytes.LastIndex(dumpOut, []byte("Total")); i >= 0 {
		t.Logf("pg_waldump -n 1: %s", bytes.TrimSpace(dumpOut[i:]))
	}
}

// profilePipeline writes a CPU profile of 20 serial 1-shard pipeline runs.
func profilePipeline(t *testing.T, path string, wal []byte, start, end pgwal.LSN) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		interpretAll(t, wal, start, end, 1, nil)
	}
	pprof.StopCPUProfile()
}

// decodeAll runs a Decoder (or the BoundaryDecoder) alone over wal in
// MaxSendSize chunks.
func decodeAll(t *testing.T, wal []byte, start pgwal.LSN, boundary bool) {
	type decoder interface {
		Feed([]byte)
		Next() (pgwal.Record, bool, error)
	}
	var d decoder = pgwal.NewDecoder(start, 15)
	if boundary {
		d = pgwal.NewBoundaryDecoder(start, 15, segSize)
	}
	for off := 0; off < len(wal); off += pgwal.MaxSendSize {
		d.Feed(wal[off:min(off+pgwal.MaxSendSize, len(wal))])
		for {
			_, ok, err := d.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
		}
	}
}

// encProtobuf is encProtobufZstd without compression.
var encProtobuf = interpreted.Encoding{Format: interpreted.FormatProtobuf}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crcAll computes CRC32C over wal in MaxSendSize chunks.
func crcAll(wal []byte) uint32 {
	var c uint32
	for off := 0; off < len(wal); off += pgwal.MaxSendSize {
		c = crc32.Update(c, castagnoli, wal[off:min(off+pgwal.MaxSendSize, len(wal))])
	}
	return c
}

// interpretBatches decodes and interprets wal for one unsharded sender and
// returns every batch, as the sender would encode them.
func interpretBatches(t *testing.T, wal []byte, start, end pgwal.LSN) []interpreted.Batch {
	b, err := interpreted.NewBatcher(start, interpreted.Config{PGVersion: 15, HeapLayout: interpreted.HeapLayoutVanilla})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.AddSender(shard.Unsharded(), start); err != nil {
		t.Fatal(err)
	}
	var out []interpreted.Batch
	for off := 0; off < len(wal); off += pgwal.MaxSendSize {
		e := min(off+pgwal.MaxSendSize, len(wal))
		batches, err := b.Process(interpreted.Chunk{Data: wal[off:e], WALStartLSN: start + pgwal.LSN(off),
			WALEndLSN: start + pgwal.LSN(e), AvailableWALEndLSN: end})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, batches...)
	}
	return out
}

// readPrimaryWAL reads the WAL in [start, end) from the segment files in walDir.
func readPrimaryWAL(t *testing.T, walDir string, start, end pgwal.LSN) []byte {
	t.Helper()
	var out []byte
	for seg := start.SegmentNumber(segSize); seg <= (end - 1).SegmentNumber(segSize); seg++ {
		b, err := os.ReadFile(filepath.Join(walDir, pgwal.SegmentName(seg, segSize)))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	off := start.SegmentOffset(segSize)
	return out[off : off+uint64(end-start)]
}

// interpretAll runs the whole server-side pipeline over wal in
// MaxSendSize chunks, as the sender does, for n shards (unsharded when n is
// 1) sharing one Batcher, serially; n = 0 decodes and interprets for one
// unsharded sender without encoding. It returns the bytes of the messages,
// which it also writes to sum if not nil.
func interpretAll(t *testing.T, wal []byte, start, end pgwal.LSN, n int, sum hash.Hash) int {
	b, err := interpreted.NewBatcher(start, interpreted.Config{PGVersion: 15, HeapLayout: interpreted.HeapLayoutVanilla})
	if err != nil {
		t.Fatal(err)
	}
	for i := range max(n, 1) {
		s := shard.Unsharded()
		if n > 1 {
			s, _ = shard.NewIdentity(uint8(i), uint8(n), shard.DefaultStripeSize)
		}
		if _, _, err := b.AddSender(s, start); err != nil {
			t.Fatal(err)
		}
	}
	var msg []byte
	wire := 0
	for off := 0; off < len(wal); off += pgwal.MaxSendSize {
		e := min(off+pgwal.MaxSendSize, len(wal))
		batches, err := b.Process(interpreted.Chunk{Data: wal[off:e], WALStartLSN: start + pgwal.LSN(off),
			WALEndLSN: start + pgwal.LSN(e), AvailableWALEndLSN: end})
		if err != nil {
			t.Fatal(err)
		}
		for i := range batches {
			if n == 0 {
				continue
			}
			if msg, err = encProtobufZstd.AppendMessage(msg[:0], &batches[i]); err != nil {
				t.Fatal(err)
			}
			wire += len(msg)
			if sum != nil {
				sum.Write(msg)
			}
		}
	}
	return wire
}

// interpretPiped is interpretAll for one unsharded sender with the
// server's split: a reader goroutine decodes and interprets, the sender
// encodes and compresses, joined by a queue of 2 batches.
func interpretPiped(t *testing.T, wal []byte, start, end pgwal.LSN) {
	b, err := interpreted.NewBatcher(start, interpreted.Config{PGVersion: 15, HeapLayout: interpreted.HeapLayoutVanilla})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.AddSender(shard.Unsharded(), start); err != nil {
		t.Fatal(err)
	}
	q := make(chan interpreted.Batch, 2)
	var readErr error
	go func() {
		defer close(q)
		for off := 0; off < len(wal); off += pgwal.MaxSendSize {
			e := min(off+pgwal.MaxSendSize, len(wal))
			batches, err := b.Process(interpreted.Chunk{Data: wal[off:e], WALStartLSN: start + pgwal.LSN(off),
				WALEndLSN: start + pgwal.LSN(e), AvailableWALEndLSN: end})
			if err != nil {
				readErr = err
				return
			}
			for _, bt := range batches {
				q <- bt
			}
		}
	}()
	var msg []byte
	for bt := range q {
		if msg, err = encProtobufZstd.AppendMessage(msg[:0], &bt); err != nil {
			t.Fatal(err)
		}
	}
	if readErr != nil {
		t.Fatal(readErr)
	}
}

// interpretParallel is interpretPiped with n encoder goroutines that
// encode and compress consecutive batches concurrently, delivered in order:
// what a sender that parallelised compression across batches would reach
// (each batch is its own zstd frame, so the bytes would not change).
func interpretParallel(t *testing.T, wal []byte, start, end pgwal.LSN, n int) {
	b, err := interpreted.NewBatcher(start, interpreted.Config{PGVersion: 15, HeapLayout: interpreted.HeapLayoutVanilla})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.AddSender(shard.Unsharded(), start); err != nil {
		t.Fatal(err)
	}
	type job struct {
		bt   interpreted.Batch
		done chan []byte
	}
	work, order := make(chan job, n), make(chan job, 2*n)
	var readErr error
	go func() {
		defer close(work)
		defer close(order)
		for off := 0; off < len(wal); off += pgwal.MaxSendSize {
			e := min(off+pgwal.MaxSendSize, len(wal))
			batches, err := b.Process(interpreted.Chunk{Data: wal[off:e], WALStartLSN: start + pgwal.LSN(off),
				WALEndLSN: start + pgwal.LSN(e), AvailableWALEndLSN: end})
			if err != nil {
				readErr = err
				return
			}
			for _, bt := range batches {
				j := job{bt, make(chan []byte, 1)}
				order <- j
				work <- j
			}
		}
	}()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for j := range work {
				msg, err := encProtobufZstd.AppendMessage(nil, &j.bt)
				if err != nil {
					panic(err)
				}
				j.done <- msg
			}
		})
	}
	for j := range order {
		<-j.done
	}
	wg.Wait()
	if readErr != nil {
		t.Fatal(readErr)
	}
}

// streamWire streams [start, until) to one protobuf+zstd connection per
// shard, concurrently, and returns the '0' bytes they received.
func streamWire(ctx context.Context, t *testing.T, addr string, start, until pgwal.LSN, shards []shard.Identity) int {
	t.Helper()
	clients := make([]*interpClient, len(shards))
	for i, s := range shards {
		c, err := dialInterpreted(ctx, t, addr, encProtobufZstd, s)
		if err != nil {
			t.Fatal(err)
		}
		c.start(ctx, t, start)
		clients[i] = c
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() { c.drainQuiet(ctx, until) })
	}
	wg.Wait()
	total := 0
	for _, c := range clients {
		if c.err != nil {
			t.Fatalf("shard %s: %v", c.shard, c.err)
		}
		total += c.wire
	}
	return total
}
