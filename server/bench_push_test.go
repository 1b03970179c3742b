package server

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/internal/e2e"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/proposer"
	"github.com/walkeeper/walkeeper/walproto"
)

// benchServer runs an in-process server for a benchmark and returns its
// pg address.
func benchServer(b *testing.B, dataDir string, noSync bool) string {
	b.Helper()
	ready := make(chan Addrs, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{DataDir: dataDir, ID: 1, NoSync: noSync, ListenPG: "127.0.0.1:0",
			ListenHTTP: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler), Ready: func(a Addrs) { ready <- a }})
	}()
	b.Cleanup(func() { cancel(); <-done })
	select {
	case a := <-ready:
		return a.PG.String()
	case err := <-done:
		b.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		b.Fatal("Run did not start")
	}
	return ""
}

// benchElected is a connection elected in term 1 on a new timeline at from.
func benchElected(b *testing.B, ctx context.Context, addr string, w *e2e.WAL, from pgwal.LSN) *proposer.Conn {
	b.Helper()
	c, err := e2e.Dial(ctx, addr, e2e.NewTTID())
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := e2e.ElectAlone(ctx, c, w, 1, from); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkIngestRealWAL pipelines real PostgreSQL WAL (about 36 MB) over
// TCP in 128 KiB appends, each op a new timeline, and reports beside it
// the raw baseline measured in the same run: the same bytes written in
// 128 KiB writes into a preallocated file with as many fdatasyncs as the
// server acknowledged flushes (none with fsync off).
func BenchmarkIngestRealWAL(b *testing.B) {
	for _, fsync := range []bool{true, false} {
		b.Run(fmt.Sprintf("fsync=%v", fsync), func(b *testing.B) {
			w := e2e.SharedWAL(b)
			from, to := w.IngestRange()
			dir := b.TempDir()
			addr := benchServer(b, dir, !fsync)
			ctx := context.Background()
			b.SetBytes(int64(to - from))
			b.ReportAllocs()
			var ours, base time.Duration
			acks := 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				c := benchElected(b, ctx, addr, w, from)
				b.StartTimer()
				r, err := e2e.Ingest(ctx, c, w, from, to, walproto.MaxWALPerAppend)
				b.StopTimer()
				c.Close()
				if err != nil {
					b.Fatal(err)
				}
				syncs := 0
				if fsync {
					syncs = r.Acks
				}
				d, err := e2e.BaselineIngest(dir, w.Bytes(from, to), walproto.MaxWALPerAppend, syncs)
				if err != nil {
					b.Fatal(err)
				}
				ours += r.Elapsed
				base += d
				acks += r.Acks
				b.StartTimer()
			}
			mb := float64(to-from) * float64(b.N) / 1e6
			b.ReportMetric(mb/ours.Seconds(), "MB/s")
			b.ReportMetric(mb/base.Seconds(), "baseline-MB/s")
			b.ReportMetric(base.Seconds()/ours.Seconds(), "ratio")
			b.ReportMetric(float64(acks)/float64(b.N), "acks/op")
		})
	}
}

// BenchmarkCommitLatency times one small append (≥ 256 bytes of real WAL
// ending at a record boundary, so it must be fdatasynced) to its
// AppendResponse with fsync on, one at a time, and reports p50 and p99
// beside those of a plain write+fdatasync of the same sizes.
func BenchmarkCommitLatency(b *testing.B) {
	const size = 256
	w := e2e.SharedWAL(b)
	from := w.CommitFrom()
	dir := b.TempDir()
	addr := benchServer(b, dir, false)
	ctx := context.Background()
	c := benchElected(b, ctx, addr, w, from)
	defer func() { c.Close() }()
	b.ReportAllocs()
	lat := make([]time.Duration, 0, b.N)
	var sizes []int
	pos := from
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if pos+64<<10 > w.End {
			b.StopTimer()
			c.Close()
			c, pos = benchElected(b, ctx, addr, w, from), from
			b.StartTimer()
		}
		l, n, err := e2e.CommitLatency(ctx, c, w, pos, 1, size)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, l...)
		if len(sizes) < 5000 {
			sizes = append(sizes, n...)
		}
		pos += pgwal.LSN(n[0])
	}
	b.StopTimer()
	base, err := e2e.BaselineCommit(dir, w.Bytes(from, w.End), sizes)
	if err != nil {
		b.Fatal(err)
	}
	ms := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
	b.ReportMetric(ms(e2e.Percentile(lat, 50)), "p50-ms")
	b.ReportMetric(ms(e2e.Percentile(lat, 99)), "p99-ms")
	b.ReportMetric(ms(e2e.Percentile(base, 50)), "baseline-p50-ms")
	b.ReportMetric(ms(e2e.Percentile(base, 99)), "baseline-p99-ms")
}
