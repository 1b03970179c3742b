package replication

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/walkeeper/walkeeper/internal/backlog"
	"github.com/walkeeper/walkeeper/internal/watch"
	"github.com/walkeeper/walkeeper/interpreted"
	"github.com/walkeeper/walkeeper/pgwal"
)

// TestSenderYieldsToIngestBacklog: while the timeline's WalAcceptors have
// work queued, committed WAL is held back; it goes out as soon as the
// queues drain.
func TestSenderYieldsToIngestBacklog(t *testing.T) {
	const start, commit = pgwal.LSN(0x1000000), pgwal.LSN(0x1010000)
	h := newHarness(t, harnessOpts{cmd: Command{StartLSN: start}, commit: commit, walBase: start, walSize: int(commit - start)})
	var b backlog.Counter
	b.Add(8192)
	spent := prometheus.NewCounter(prometheus.CounterOpts{Name: "walkeeper_replication_yield_seconds_total"})
	h.cfg.IngestBacklog, h.cfg.YieldMax, h.cfg.YieldSeconds = &b, time.Hour, spent
	h.start()
	select {
	case e := <-h.stream.events:
		t.Fatalf("sent %v while ingest had work queued", e)
	case <-time.After(100 * time.Millisecond):
	}
	b.Add(-8192)
	hd, data := xlog(t, h.stream.next(t))
	if hd.WALStart != start || hd.WALStart+pgwal.LSN(len(data)) != commit {
		t.Fatalf("got [%s,%s), want [%s,%s)", hd.WALStart, hd.WALStart+pgwal.LSN(len(data)), start, commit)
	}
	if s := testutil.ToFloat64(spent); s < 0.1 {
		t.Fatalf("yield counter %v s, want at least the 0.1 s held back", s)
	}
}

// TestSenderYieldIsBounded: a backlog that never drains holds a sender
// back for YieldMax once; then it sends everything up to the end without
// waiting again, and only after it has caught up does a new backlog hold
// it back again.
func TestSenderYieldIsBounded(t *testing.T) {
	const (
		start  = pgwal.LSN(0x1000000)
		commit = start + 4*pgwal.MaxSendSize
		more   = commit + 0x2000
		max    = 300 * time.Millisecond
	)
	h := newHarness(t, harnessOpts{cmd: Command{StartLSN: start}, commit: commit, walBase: start, walSize: int(more - start),
		idle: 20 * time.Millisecond})
	h.computes.Store(1)
	var b backlog.Counter
	b.Add(1) // never drains
	h.cfg.IngestBacklog, h.cfg.YieldMax = &b, max
	began := time.Now()
	h.start()
	var first, last time.Time
	for pos := start; pos < commit; {
		hd, data := xlog(t, h.stream.next(t))
		if hd.WALStart != pos {
			t.Fatalf("chunk at %s, want %s", hd.WALStart, pos)
		}
		pos += pgwal.LSN(len(data))
		last = time.Now()
		if first.IsZero() {
			first = last
		}
	}
	if d := first.Sub(began); d < max {
		t.Fatalf("first chunk after %v; the backlog should have held it back for %v", d, max)
	}
	if d := last.Sub(first); d >= max {
		t.Fatalf("the remaining chunks took %v: the sender held back again before it caught up", d)
	}
	// A keepalive shows the sender caught up and waiting for WAL.
	if e := h.stream.next(t); e.kind != 'd' || e.data[0] != TagKeepalive {
		t.Fatalf("got %v, want a keepalive once caught up", e)
	}
	set := time.Now()
	h.commit.Set(more)
	for {
		e := h.stream.next(t)
		if e.data[0] == TagKeepalive {
			continue // one may have been queued before the commit moved
		}
		if hd, _ := xlog(t, e); hd.WALStart != commit {
			t.Fatalf("chunk at %s, want %s", hd.WALStart, commit)
		}
		break
	}
	if d := time.Since(set); d < max {
		t.Fatalf("new WAL sent after %v: a caught-up sender should hold back for %v again", d, max)
	}
}

// TestSenderYieldIgnoresMomentaryDrain: a queue that empties for an
// instant between two appends (as it does while a push runs at full
// speed) does not count as drained; one that stays empty does.
func TestSenderYieldIgnoresMomentaryDrain(t *testing.T) {
	const start, commit = pgwal.LSN(0x1000000), pgwal.LSN(0x1010000)
	h := newHarness(t, harnessOpts{cmd: Command{StartLSN: start}, commit: commit, walBase: start, walSize: int(commit - start)})
	var b backlog.Counter
	b.Add(1)
	h.cfg.IngestBacklog, h.cfg.YieldMax = &b, time.Hour
	h.start()
	for range 20 {
		select {
		case e := <-h.stream.events:
			t.Fatalf("sent %v after the queue emptied only for an instant", e)
		case <-time.After(10 * time.Millisecond):
		}
		b.Add(-1) // the WalAcceptor takes an append...
		b.Add(1)  // ...and the reader queues the next one
	}
	b.Add(-1)
	if hd, _ := xlog(t, h.stream.next(t)); hd.WALStart != start {
		t.Fatalf("chunk at %s, want %s", hd.WALStart, start)
	}
}

// countingReader counts ReadAt calls.
type countingReader struct {
	WALReader
	reads atomic.Int64
}

func (c *countingReader) ReadAt(p []byte, lsn pgwal.LSN) (int, error) {
	c.reads.Add(1)
	return c.WALReader.ReadAt(p, lsn)
}

// TestSharedReaderYieldsToIngestBacklog: the shared interpreted reader
// (one decode for a timeline's shards) holds back like a sender.
func TestSharedReaderYieldsToIngestBacklog(t *testing.T) {
	const start, commit = pgwal.LSN(0x1000028), pgwal.LSN(0x1010000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var b backlog.Counter
	b.Add(1)
	wal := &countingReader{WALReader: newFakeWAL(t, start, int(commit-start), pgwal.DefaultSegmentSize)}
	cfg := sharedReaderConfig{ctx: ctx, commit: watch.New(commit), segSize: pgwal.DefaultSegmentSize,
		open:   func(pgwal.LSN) (WALReader, error) { return wal, nil },
		interp: interpreted.Config{PGVersion: 15}, start: start, logger: slog.New(slog.DiscardHandler),
		yield: yielder{backlog: &b, max: time.Hour}}
	r := startReader(cfg)
	time.Sleep(100 * time.Millisecond)
	if n := wal.reads.Load(); n != 0 {
		t.Fatalf("read WAL %d times while ingest had work queued", n)
	}
	b.Add(-1)
	deadline := time.Now().Add(10 * time.Second)
	for wal.reads.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no WAL read after the backlog drained")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-r.done
}

// TestFlushModeDoesNotYield: a Flush-mode (term) stream is recovery — the
// walproposer reading WAL from a donor for a lagging walkeeper, or peer
// recovery — and so part of ingest itself: holding it back behind the
// ingest backlog delays the very quorum the backlog waits for.
func TestFlushModeDoesNotYield(t *testing.T) {
	const start, flush = pgwal.LSN(0x1000000), pgwal.LSN(0x1010000)
	h := newHarness(t, harnessOpts{cmd: Command{StartLSN: start, Term: 5, HasTerm: true},
		flush: TermLSN{Term: 5, LSN: flush}, walBase: start, walSize: int(flush - start)})
	var b backlog.Counter
	b.Add(8192) // never drains
	h.cfg.IngestBacklog, h.cfg.YieldMax = &b, time.Hour
	h.start()
	select {
	case e := <-h.stream.events:
		if hd, _ := xlog(t, e); hd.WALStart != start {
			t.Fatalf("chunk at %s, want %s", hd.WALStart, start)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a Flush-mode (recovery) stream was held back by the ingest backlog")
	}
}
