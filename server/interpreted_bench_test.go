package server

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/interpreted"
	"github.com/walkeeper/walkeeper/interpreted/shard"
	"github.com/walkeeper/walkeeper/pgwal"
)

// benchRounds is how often each timed step runs; the best round counts.
const benchRounds = 3

// TestBenchInterpreted prints the interpreted protocol's figures
// (`make bench-interpreted`) against baselines measured in the same run on
// the same WAL, a pgbench workload of a real PostgreSQL 15:
//
//   - decode + interpret + encode (protobuf) + compress (zstd level 1), in
//     process, MB of WAL per second, ÷ `pg_waldump --stats=record` over the
//     same range (goal ≥ 1.0); also with 8 shards sharing one decode;
//   - bytes of '0' messages received over the network by 1 shard and by 8
//     shards (summed), ÷ raw WAL bytes (goal ≤ 0.2 for 1 shard), and the
//     end-to-end rate of the 1-shard stream.
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
	wal := readPrimaryWAL(t, p, start, commit)
	t.Logf("WAL: %s..%s, %.1f MB", start, commit, raw/1e6)

	ours1 := best(t, func() { interpretAll(t, wal, start, commit, 1) })
	ours8 := best(t, func() { interpretAll(t, wal, start, commit, 8) })
	piped := best(t, func() { interpretPiped(t, wal, start, commit) })
	decodeOnly := best(t, func() { interpretAll(t, wal, start, commit, 0) })
	var dumpOut []byte
	dump := best(t, func() {
		var err error
		dumpOut, err = exec.Command(pgtest.Bin(t, "pg_waldump"), "--stats=record", "-p", p.WALDir(),
			"-s", start.String(), "-e", commit.String()).CombinedOutput()
		if err != nil {
			t.Fatalf("pg_waldump: %v\n%s", err, dumpOut)
		}
	})
	if i := bytes.LastIndex(dumpOut, []byte("Total")); i >= 0 {
		t.Logf("pg_waldump: %s", bytes.TrimSpace(dumpOut[i:]))
	}
	if path := os.Getenv("WALKEEPER_BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			interpretAll(t, wal, start, commit, 1)
		}
		pprof.StopCPUProfile()
		f.Close()
	}
	mbps := func(d time.Duration) float64 { return raw / 1e6 / d.Seconds() }

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t0 := time.Now()
	wire1 := streamWire(ctx, t, addr, start, commit, []shard.Identity{shard.Unsharded()})
	e2e := time.Since(t0)
	var shards8 []shard.Identity
	for n := range uint8(8) {
		s, _ := shard.NewIdentity(n, 8, shard.DefaultStripeSize)
		shards8 = append(shards8, s)
	}
	wire8 := streamWire(ctx, t, addr, start, commit, shards8)

	fmt.Printf("\ninterpreted protocol, %.1f MB of pgbench WAL (PostgreSQL 15), best of %d\n", raw/1e6, benchRounds)
	fmt.Printf("%-66s %10s %10s %7s %s\n", "figure (baseline: pg_waldump --stats=record, same range)", "ours", "baseline", "ratio", "goal")
	fmt.Printf("%-66s %10.1f %10.1f %7.2f %s\n", "decode+interpret+protobuf+zstd, 1 shard, serial, MB/s vs pg_waldump",
		mbps(ours1), mbps(dump), mbps(ours1)/mbps(dump), ">= 1.0")
	fmt.Printf("%-66s %10.1f %10.1f %7.2f %s\n", "same, reader and encoder goroutines as the server runs them",
		mbps(piped), mbps(dump), mbps(piped)/mbps(dump), ">= 1.0")
	fmt.Printf("%-66s %10.1f %10.1f %7.2f %s\n", "decode+interpret only (no encode, no zstd), MB/s vs pg_waldump",
		mbps(decodeOnly), mbps(dump), mbps(decodeOnly)/mbps(dump), "")
	fmt.Printf("%-66s %10.1f %10.1f %7.2f %s\n", "same, 8 shards sharing one decode, MB/s vs pg_waldump",
		mbps(ours8), mbps(dump), mbps(ours8)/mbps(dump), "")
	fmt.Printf("%-66s %10.0f %10.0f %7.3f %s\n", "bytes on the wire, 1 shard (protobuf+zstd 1) vs raw WAL", float64(wire1), raw, float64(wire1)/raw, "<= 0.2")
	fmt.Printf("%-66s %10.0f %10.0f %7.3f %s\n", "bytes on the wire, 8 shards summed vs raw WAL", float64(wire8), raw, float64(wire8)/raw, "")
	fmt.Printf("%-66s %10.1f %10s %7s %s\n", "end to end over TCP, 1 shard, MB of WAL/s (incl. connect)", mbps(e2e), "", "", "")
}

// best runs f benchRounds times and returns the fastest duration.
func best(t *testing.T, f func()) time.Duration {
	t.Helper()
	var d time.Duration
	for i := range benchRounds {
		t0 := time.Now()
		f()
		if e := time.Since(t0); i == 0 || e < d {
			d = e
		}
	}
	return d
}

// readPrimaryWAL reads the primary's WAL in [start, end) from its segment files.
func readPrimaryWAL(t *testing.T, p *primary, start, end pgwal.LSN) []byte {
	t.Helper()
	var out []byte
	for seg := start.SegmentNumber(segSize); seg <= (end - 1).SegmentNumber(segSize); seg++ {
		b, err := os.ReadFile(filepath.Join(p.WALDir(), pgwal.SegmentName(seg, segSize)))
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
// unsharded sender without encoding.
func interpretAll(t *testing.T, wal []byte, start, end pgwal.LSN, n int) int {
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
