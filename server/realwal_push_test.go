package server

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/internal/e2e"
	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
)

// timelineDir is where a server keeps a timeline's segments.
func timelineDir(dataDir string, ttid ids.TTID) string {
	return filepath.Join(dataDir, ttid.Tenant.String(), ttid.Timeline.String())
}

// midPageStart is a record start inside the first segment's fourth page,
// not at its beginning, so that the stored first segment needs the whole
// synthetic prefix (long header, short header, fake continuation record).
func midPageStart(t *testing.T, w *e2e.WAL) pgwal.LSN {
	t.Helper()
	s := w.RecordAtOrAfter(w.Base + 3*pgwal.XLogBlockSize + 1000)
	if s.PageOffset() <= 24 || s.SegmentNumber(pgwal.DefaultSegmentSize) != w.Base.SegmentNumber(pgwal.DefaultSegmentSize) {
		t.Fatalf("no mid-page record start near %s: %s", w.Base+3*pgwal.XLogBlockSize+1000, s)
	}
	return s
}

// TestRealWALRandomChunks streams more than two segments of real
// PostgreSQL 15 WAL (pgbench -i, a 32 KB record, a pgbench run, an
// XLOG_SWITCH in the middle, a record across a segment boundary) over TCP
// in appends cut at arbitrary bytes (1 B … 128 KiB), with fsync on. Every
// flush_lsn reported must be a record boundary pg_waldump lists (or a
// segment start after an XLOG_SWITCH), the last one the end; the stored
// segments must equal PostgreSQL's pg_wal files over the streamed range,
// and pg_waldump must read them from the first segment's synthetic prefix.
func TestRealWALRandomChunks(t *testing.T) {
	if testing.Short() {
		t.Skip("streams tens of MB of real WAL")
	}
	w := e2e.SharedWAL(t)
	start := midPageStart(t, w)
	dataDir := t.TempDir()
	addrs, _ := startRun(t, Config{DataDir: dataDir, ID: 1, Logger: testLogger(t)})
	ttid := e2e.NewTTID()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	c, err := e2e.Dial(ctx, addrs.PG.String(), ttid)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, _, err := e2e.ElectAlone(ctx, c, w, 1, start); err != nil || got != start {
		t.Fatalf("elect: start %s, %v", got, err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, streaming %s..%s", seed, start, w.End)
	var acks []pgwal.LSN
	rng := rand.New(rand.NewPCG(seed, 1))
	last, err := e2e.Stream(ctx, c, w, start, w.End, e2e.StreamOptions{
		Chunks: e2e.RandomChunks(rng),
		// Now and then let the queue drain, so that flushes and their
		// acknowledgements happen at many arbitrary cut points.
		Pause: func() time.Duration {
			if rng.IntN(8) == 0 {
				return time.Millisecond
			}
			return 0
		},
		OnAck: func(ar walproto.AppendResponse) error {
			acks = append(acks, ar.FlushLSN)
			return nil
		},
	})
	if err != nil {
		t.Fatalf("stream: %v (last flush %s)", err, last)
	}
	for i, a := range acks {
		if !w.IsBoundary(a) || a < start || (i > 0 && a < acks[i-1]) {
			t.Fatalf("ack %d: flush_lsn %s is not a record boundary above the previous %v", i, a, acks[max(i-1, 0)])
		}
	}
	if last != w.End {
		t.Fatalf("final flush_lsn %s, want %s", last, w.End)
	}
	t.Logf("%d AppendResponses, all at record boundaries", len(acks))
	flush, _, ok, err := e2e.TimelineStatus(ctx, addrs.PG.String(), ttid)
	if err != nil || !ok || flush != w.End {
		t.Fatalf("TIMELINE_STATUS flush %s ok %v err %v, want %s", flush, ok, err, w.End)
	}
	dir := timelineDir(dataDir, ttid)
	// pg_waldump reads the stored segments (it ignores ".partial" names;
	// every segment up to the end is complete once the server has
	// processed the zero padding after the final XLOG_SWITCH).
	lastSeg := filepath.Join(dir, pgwal.SegmentName(w.End.SegmentNumber(pgwal.DefaultSegmentSize)-1, pgwal.DefaultSegmentSize))
	pgtest.WaitFor(t, 10*time.Second, "the last segment to be completed", func() bool {
		_, err := os.Stat(lastSeg)
		return err == nil
	})
	c.Close()

	got, err := e2e.ReadStored(dir, start, w.End)
	if err != nil {
		t.Fatal(err)
	}
	if d := e2e.FirstDiff(start, got, w.Bytes(start, w.End)); d != 0 {
		t.Fatalf("stored WAL differs from PostgreSQL's at %s", d)
	}

	recs, _ := e2e.Waldump(t, dir, start, w.End)
	want := w.RecordsIn(start, w.End)
	if len(recs) != len(want) || recs[0] != want[0] || recs[len(recs)-1] != want[len(want)-1] {
		t.Fatalf("pg_waldump listed %d records from %v, want %d from %s", len(recs), recs[:min(1, len(recs))], len(want), start)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	t.Logf("pg_waldump read %d records from %s", len(recs), strings.Join(names, " "))
}
