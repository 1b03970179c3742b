package replication

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/walkeeper/walkeeper/interpreted"
	"github.com/walkeeper/walkeeper/interpreted/shard"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walstore"
)

// TestFanoutGaugeCountsTasks: replication.md §8 says
// safekeeper_wal_readers{kind="task"} counts fan-out reader tasks (Neon
// increments it once inside the spawned task). Two shards of one tenant
// attached to one shared reader are one task, so the gauge must read 1.
func TestFanoutGaugeCountsTasks(t *testing.T) {
	const start = pgwal.LSN(0x1000028)
	gauge := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "safekeeper_wal_readers"}, []string{"kind", "target"})
	hub := NewReaderHub(0)
	hubCtx, hubCancel := context.WithCancel(context.Background())
	defer hubCancel()
	senders := NewWalSenders(RegistryOptions{})
	var hs []*harness
	for n := range uint8(2) {
		h := newHarness(t, harnessOpts{cmd: Command{StartLSN: start}, commit: start, walBase: start, walSize: 0,
			appName: "pageserver-1", senders: senders, idle: time.Hour})
		h.cfg.WALReaders = gauge
		serveFanoutShard(t, h, hub, hubCtx, n)
		hs = append(hs, h)
	}
	deadline := time.Now().Add(2 * time.Second)
	for senders.Len() != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := hub.Started(); got != 1 {
		t.Fatalf("%d shared readers started, want 1", got)
	}
	task := gauge.WithLabelValues("task", "pageserver-1")
	for testutil.ToFloat64(task) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // both streams past their setup
	if v := testutil.ToFloat64(task); v != 1 {
		t.Errorf("safekeeper_wal_readers{kind=task} = %v with one fan-out reader task, want 1", v)
	}
	for _, h := range hs {
		h.cancel()
		h.wait()
	}
	// The task ends with its last stream, and the gauge with it.
	for deadline := time.Now().Add(2 * time.Second); testutil.ToFloat64(task) != 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if v := testutil.ToFloat64(task); v != 0 {
		t.Errorf("safekeeper_wal_readers{kind=task} = %v after every stream ended, want 0", v)
	}
}

// TestRealReaderPrefixAndShortPartial streams, with sendfile on,
// from the start of the timeline's first segment through the synthetic
// prefix, a full segment and into a .partial that is shorter than a
// segment, reading with the real walstore.Reader. Every byte must be the
// synthetic prefix or the file's, and no message may cross the timeline
// start or a segment boundary.
func TestRealReaderPrefixAndShortPartial(t *testing.T) {
	const seg = 1 << 20
	dir := t.TempDir()
	wcfg := walstore.Config{Dir: dir, SegSize: seg, PGVersion: 150000, SystemID: 7}
	tlStart := pgwal.LSN(seg + 3*pgwal.XLogBlockSize + 100)
	commit := pgwal.LSN(2*seg + 300_000 + 5)
	want := make([]byte, commit-seg) // WAL from seg to commit
	for i := range want {
		want[i] = byte(i*7 + i>>9)
	}
	// Segment 1 complete (its bytes before tlStart are junk the reader
	// must not serve), segment 2 a short .partial.
	if err := os.WriteFile(filepath.Join(dir, pgwal.SegmentName(1, seg)), want[:seg], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, pgwal.SegmentName(2, seg)+".partial"), want[seg:], 0o600); err != nil {
		t.Fatal(err)
	}
	copy(want, pgwal.AppendSegmentPrefix(nil, tlStart, 7, seg, 150000))

	h := newHarness(t, harnessOpts{cmd: Command{StartLSN: seg}, commit: commit, segSize: seg})
	h.cfg.OpenReader = func(pgwal.LSN) (WALReader, error) { return walstore.NewReader(wcfg, tlStart, tlStart), nil }
	h.cfg.ZeroCopy = ZeroCopyOn
	fs := &fileStream{fakeStream: h.stream}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { h.done <- Serve(ctx, h.cfg, fs) }()
	defer h.stream.Close()
	if e := h.stream.next(t); e.kind != 'W' {
		t.Fatalf("first message %v", e)
	}
	got := make([]byte, 0, len(want))
	for pos := pgwal.LSN(seg); pos < commit; {
		hd, data := xlog(t, h.stream.next(t))
		end := hd.WALStart + pgwal.LSN(len(data))
		if hd.WALStart != pos || hd.WALEnd != commit || end > commit {
			t.Fatalf("message [%s,%s) end %s at pos %s", hd.WALStart, end, hd.WALEnd, pos)
		}
		if hd.WALStart < tlStart && end > tlStart {
			t.Fatalf("message [%s,%s) crosses timeline start %s", hd.WALStart, end, tlStart)
		}
		if uint64(hd.WALStart)/seg != uint64(end-1)/seg {
			t.Fatalf("message [%s,%s) crosses a segment", hd.WALStart, end)
		}
		got = append(got, data...)
		pos = end
	}
	if !bytes.Equal(got, want) {
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("first wrong byte at %s", pgwal.LSN(seg+i))
			}
		}
	}
	if fs.files.Load() == 0 {
		t.Fatal("sendfile path never used")
	}
	h.stream.fail(io.EOF)
	if err := h.wait(); err != nil {
		t.Fatal(err)
	}
}

// TestFanoutBadStartFailsOnlyItsStream: every stream opens a WAL reader
// at its own start before it fans out, as Neon's start_replication does
// (get_walreader, replication.md §2.3 step 5, §3.6), so a START_REPLICATION
// before the timeline's first segment fails that stream alone, with the
// reader's message. Before, the attach reset the shared reader (§6.12
// step 3) to that LSN, the shared reader failed, and every shard streaming
// from it was ended with "Interpreted WAL reader exited early".
func TestFanoutBadStartFailsOnlyItsStream(t *testing.T) {
	const seg = pgwal.DefaultSegmentSize
	tlStart := pgwal.LSN(3*seg + 0x28)
	wcfg := walstore.Config{Dir: t.TempDir(), SegSize: seg, PGVersion: 150000, SystemID: 7}
	// As timeline.OpenWALReader: a start before the timeline's first
	// segment is refused when the reader is opened.
	open := func(start pgwal.LSN) (WALReader, error) {
		if first := tlStart - pgwal.LSN(tlStart.SegmentOffset(seg)); start < first {
			return nil, fmt.Errorf("Requested streaming from %s, which is before the start of the timeline %s", start, tlStart)
		}
		return walstore.NewReader(wcfg, tlStart, tlStart), nil
	}
	hub := NewReaderHub(0)
	hubCtx, hubCancel := context.WithCancel(context.Background())
	defer hubCancel()
	senders := NewWalSenders(RegistryOptions{})
	commit := tlStart + 0x1000

	serveShard := func(n uint8, start pgwal.LSN) *harness {
		h := newHarness(t, harnessOpts{cmd: Command{StartLSN: start}, commit: commit, senders: senders,
			openReader: open, idle: time.Hour})
		serveFanoutShard(t, h, hub, hubCtx, n)
		return h
	}
	// Shard 0 is caught up at commit_lsn and waits for WAL.
	a := serveShard(0, commit)
	time.Sleep(50 * time.Millisecond)
	// Shard 1 asks for an LSN before the timeline's first segment.
	b := serveShard(1, seg)
	select {
	case e := <-b.stream.events:
		if e.kind != 'E' || e.state != SQLStateInternal || !strings.Contains(e.msg, "before the start of the timeline") {
			t.Fatalf("bad-start stream got %v, want XX000 saying it is before the start of the timeline", e)
		}
		t.Logf("bad-start stream: %v", e)
	case <-time.After(5 * time.Second):
		t.Fatal("bad-start stream got no error")
	}
	select {
	case e := <-a.stream.events:
		t.Fatalf("the healthy shard's stream was ended by another shard's bad start: %v", e)
	case <-time.After(300 * time.Millisecond):
	}
}

// serveFanoutShard serves h's stream as shard n of 4 through hub, and
// waits for its CopyBothResponse.
func serveFanoutShard(t *testing.T, h *harness, hub *ReaderHub, hubCtx context.Context, n uint8) {
	t.Helper()
	id, err := shard.NewIdentity(n, 4, shard.DefaultStripeSize)
	if err != nil {
		t.Fatal(err)
	}
	ic := InterpretedConfig{Shard: id, Encoding: interpreted.Encoding{Format: interpreted.FormatProtobuf},
		Interp: interpreted.Config{PGVersion: 150000}, Hub: hub, HubContext: hubCtx}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- ServeInterpreted(ctx, h.cfg, ic, h.stream) }()
	t.Cleanup(func() { cancel(); h.stream.Close() })
	if e := h.stream.next(t); e.kind != 'W' {
		t.Fatalf("first message %v", e)
	}
}
