package replication

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
)

func TestChunkEnd(t *testing.T) {
	const seg = pgwal.DefaultSegmentSize
	tests := []struct {
		pos, end, want pgwal.LSN
		segSize        uint64
	}{
		{0x1000000, 0x1000000 + 300000, 0x1020000, seg},           // full chunk from a page start
		{0x1000010, 0x2000000, 0x1020000, seg},                    // rounded down to a page
		{0x1000010, 0x1000010 + 1000, 0x1000010 + 1000, seg},      // reaches end: mid-page is fine
		{0x1000010, 0x1020010, 0x1020010, seg},                    // exactly MaxSendSize to end: not rounded
		{0x1000010, 0x1020011, 0x1020000, seg},                    // one byte more: rounded
		{0x1FFF000, 0x3000000, 0x2000000, seg},                    // stops at the segment boundary
		{0x1FFFFF0, 0x2000100, 0x2000000, seg},                    // even when end is in the next segment
		{0xF0000, 0x200000, 0x100000, 1 << 20},                    // small segments
		{0x2000000 - 8192, 0x2000000 - 100, 0x2000000 - 100, seg}, // end just before the boundary
	}
	for _, tt := range tests {
		if got := chunkEnd(tt.pos, tt.end, tt.segSize); got != tt.want {
			t.Errorf("chunkEnd(%s, %s, %d) = %s, want %s", tt.pos, tt.end, tt.segSize, got, tt.want)
		}
	}
}

func TestStreamChunking(t *testing.T) {
	tests := []struct {
		name          string
		start, commit pgwal.LSN
		segSize       uint64
		want          [][2]pgwal.LSN // [wal_start, wal_start+n)
	}{
		{"page rounding", 0x1000010, 0x10493F0, 0, [][2]pgwal.LSN{
			{0x1000010, 0x1020000}, {0x1020000, 0x1040000}, {0x1040000, 0x10493F0}}},
		{"segment boundary", 0x1FF0010, 0x2010000, 0, [][2]pgwal.LSN{
			{0x1FF0010, 0x2000000}, {0x2000000, 0x2010000}}},
		{"1 MiB segments", 0x1F0000, 0x230000, 1 << 20, [][2]pgwal.LSN{
			{0x1F0000, 0x200000}, {0x200000, 0x220000}, {0x220000, 0x230000}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := tt.start &^ 0xFFFF
			h := newHarness(t, harnessOpts{cmd: Command{StartLSN: tt.start}, commit: tt.commit, walBase: base,
				walSize: int(tt.commit - base), segSize: tt.segSize}).start()
			for _, w := range tt.want {
				hd, data := xlog(t, h.stream.next(t))
				if hd.WALStart != w[0] || hd.WALStart+pgwal.LSN(len(data)) != w[1] || hd.WALEnd != tt.commit {
					t.Fatalf("got [%s,%s) end %s, want [%s,%s) end %s", hd.WALStart, hd.WALStart+pgwal.LSN(len(data)),
						hd.WALEnd, w[0], w[1], tt.commit)
				}
				checkWAL(t, hd.WALStart, data)
			}
			h.stream.fail(io.EOF) // CopyDone
			if e := h.stream.next(t); e.kind != 'c' {
				t.Fatalf("got %v, want CopyDone", e)
			}
			if err := h.wait(); err != nil {
				t.Fatal(err)
			}
			if !h.stream.isClosed() {
				t.Fatal("stream not closed")
			}
			if n := h.cfg.Senders.Len(); n != 0 {
				t.Fatalf("%d slots left registered", n)
			}
		})
	}
}

func TestKeepaliveAfterOneSecondIdle(t *testing.T) {
	h := newHarness(t, harnessOpts{cmd: Command{StartLSN: 0x1000000}, commit: 0x1000000,
		walBase: 0x1000000, walSize: 8192}).start()
	h.computes.Store(1) // keep the stop rule out of it
	begin := time.Now()
	e := h.stream.next(t)
	elapsed := time.Since(begin)
	if e.kind != 'd' {
		t.Fatalf("got %v", e)
	}
	k, err := ParseKeepalive(e.data)
	if err != nil {
		t.Fatal(err)
	}
	if !k.ReplyRequested || k.WALEnd != 0x1000000 {
		t.Fatalf("keepalive %+v", k)
	}
	if elapsed < 900*time.Millisecond || elapsed > 3*time.Second {
		t.Fatalf("keepalive after %v, want about 1 s", elapsed)
	}
	// WAL arriving ends the idle wait at once, and its XLogData carries the new end.
	h.commit.Set(0x1000100)
	hd, data := xlog(t, h.stream.next(t))
	if hd.WALStart != 0x1000000 || len(data) != 0x100 || hd.WALEnd != 0x1000100 {
		t.Fatalf("got %+v %d", hd, len(data))
	}
}

func TestKeepalivesOnlyWhileIdle(t *testing.T) {
	h := newHarness(t, harnessOpts{cmd: Command{StartLSN: 0x1000000}, commit: 0x1000000,
		walBase: 0x1000000, walSize: 1 << 20, idle: 20 * time.Millisecond}).start()
	h.computes.Store(1)
	for range 3 {
		if e := h.stream.next(t); e.kind != 'd' || e.data[0] != TagKeepalive {
			t.Fatalf("got %v, want keepalive", e)
		}
	}
	h.commit.Set(0x1000000 + 1<<20)
	var got pgwal.LSN = 0x1000000
	for got < 0x1000000+1<<20 {
		e := h.stream.next(t)
		if e.data[0] == TagKeepalive {
			continue // one may have been queued before the commit moved
		}
		hd, data := xlog(t, e)
		if hd.WALStart != got {
			t.Fatalf("gap: got %s, want %s", hd.WALStart, got)
		}
		got += pgwal.LSN(len(data))
	}
	if e := h.stream.next(t); e.data[0] != TagKeepalive {
		t.Fatalf("got %v, want keepalive once idle again", e)
	}
}

func TestStopRule(t *testing.T) {
	tests := []struct {
		name     string
		commit   pgwal.LSN
		computes int64
		replies  [][]byte
		stop     bool
	}{
		{"caught up, no computes", 0x1000100, 0, [][]byte{psFeedback(0x1000100)}, true},
		{"ahead of commit", 0x1000100, 0, [][]byte{psFeedback(0x2000000)}, true},
		{"commit 0 stops an empty slot", 0, 0, nil, true},
		{"behind", 0x1000100, 0, [][]byte{psFeedback(0x10000FF)}, false},
		{"compute connected", 0x1000100, 1, [][]byte{psFeedback(0x1000100)}, false},
		{"standby never stops", 0x1000100, 0, [][]byte{AppendStandbyReply(nil, StandbyReply{ApplyLSN: 0x1000100})}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOpts{cmd: Command{StartLSN: tt.commit}, commit: tt.commit,
				walBase: 0, walSize: 0, idle: 30 * time.Millisecond, appName: "pageserver-1"})
			h.computes.Store(tt.computes)
			for _, r := range tt.replies {
				h.stream.reply(r)
			}
			h.start()
			if !tt.stop {
				for range 3 {
					if e := h.stream.next(t); e.kind != 'd' || e.data[0] != TagKeepalive {
						t.Fatalf("got %v, want keepalive", e)
					}
				}
				return
			}
			e := h.stream.expectError(t)
			want := fmt.Sprintf(`ending streaming to Some("pageserver-1") at %s, receiver is caughtup and there is no computes`, tt.commit)
			if e.state != SQLStateSuccess || e.msg != want {
				t.Fatalf("got %s %q, want 00000 %q", e.state, e.msg, want)
			}
			if err := h.wait(); err != nil {
				t.Fatalf("Serve = %v, want nil for a normal end", err)
			}
		})
	}
}

func psFeedback(rcl pgwal.LSN) []byte {
	return AppendPageserverFeedbackMessage(nil, walproto.PageserverFeedback{RemoteConsistentLSN: rcl, LastReceivedLSN: rcl})
}

func TestStopRuleWithoutAppName(t *testing.T) {
	h := newHarness(t, harnessOpts{cmd: Command{StartLSN: 0x10}, commit: 0x10, walSize: 0x10, idle: 10 * time.Millisecond})
	h.stream.reply(psFeedback(0x10))
	h.start()
	if e := h.stream.expectError(t); !strings.HasPrefix(e.msg, "ending streaming to None at 0/10,") {
		t.Fatalf("got %q", e.msg)
	}
}

func TestFlushModeTermChangeWhileWaiting(t *testing.T) {
	h := newHarness(t, harnessOpts{cmd: Command{StartLSN: 0x1000000, Term: 5, HasTerm: true},
		flush: TermLSN{Term: 5, LSN: 0x1000100}, walBase: 0x1000000, walSize: 0x100}).start()
	hd, data := xlog(t, h.stream.next(t))
	if hd.WALStart != 0x1000000 || len(data) != 0x100 || hd.WALEnd != 0x1000100 {
		t.Fatalf("got %+v %d", hd, len(data))
	}
	h.flush.Set(TermLSN{Term: 6, LSN: 0x1000100})
	e := h.stream.expectError(t)
	if e.state != SQLStateInternal || e.msg != "term changed: requested 5, now 6" {
		t.Fatalf("got %s %q", e.state, e.msg)
	}
	err := h.wait()
	var te *TermError
	if !errors.Is(err, ErrTermChanged) || !errors.As(err, &te) || te.Current != 6 {
		t.Fatalf("Serve = %v", err)
	}
}

func TestFlushModeStreamsUncommittedWAL(t *testing.T) {
	h := newHarness(t, harnessOpts{cmd: Command{StartLSN: 0x1000000, Term: 3, HasTerm: true},
		commit: 0x1000000, flush: TermLSN{Term: 3, LSN: 0x1000200}, walBase: 0x1000000, walSize: 0x200}).start()
	if hd, data := xlog(t, h.stream.next(t)); hd.WALEnd != 0x1000200 || len(data) != 0x200 {
		t.Fatalf("flush mode sent %+v %d, want up to flush_lsn", hd, len(data))
	}
}

func TestFlushModeAcquireTermFails(t *testing.T) {
	h := newHarness(t, harnessOpts{cmd: Command{StartLSN: 0x1000000, Term: 5, HasTerm: true},
		flush: TermLSN{Term: 5, LSN: 0x1000100}, walBase: 0x1000000, walSize: 0x100})
	h.term.Store(7) // the acceptor moved on; last_log_term not yet
	h.start()
	e := h.stream.expectError(t)
	if e.state != SQLStateInternal || e.msg != "failed to acquire term 5, current term 7" {
		t.Fatalf("got %s %q", e.state, e.msg)
	}
	if h.wal.reads.Load() != 0 {
		t.Fatal("read WAL without holding the term")
	}
}

func TestClientEnds(t *testing.T) {
	tests := []struct {
		name    string
		send    func(*fakeStream)
		want    event
		wantErr bool
	}{
		{"CopyDone", func(f *fakeStream) { f.fail(io.EOF) }, event{kind: 'c'}, false},
		{"CopyFail", func(f *fakeStream) { f.fail(fmt.Errorf("pgwire: %w: oops", ErrCopyFail)) },
			event{kind: 'E', state: SQLStateSuccess, msg: "received CopyFail"}, false},
		{"short 'r'", func(f *fakeStream) { f.reply(append([]byte{'r'}, make([]byte, StandbyReplySize-2)...)) }, event{kind: 'E', state: SQLStateInternal}, true},
		{"short 'h'", func(f *fakeStream) { f.reply([]byte{'h', 1, 2}) }, event{kind: 'E', state: SQLStateInternal}, true},
		{"client gone", func(f *fakeStream) { f.fail(fmt.Errorf("terminate: %w", ErrClientGone)) }, event{kind: 'x'}, false},
		{"protocol error", func(f *fakeStream) { f.fail(errors.New("unexpected message 'Q'")) },
			event{kind: 'E', state: SQLStateInternal, msg: "unexpected message 'Q'"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOpts{cmd: Command{StartLSN: 0x10}, commit: 0x10, walSize: 0x10}).start()
			h.computes.Store(1)
			h.stream.reply(nil)            // empty: ignored
			h.stream.reply([]byte("?abc")) // unknown: ignored
			tt.send(h.stream)
			if tt.want.kind != 'x' { // 'x': expect nothing
				e := h.stream.next(t)
				if e.kind != tt.want.kind || e.state != tt.want.state || (tt.want.msg != "" && e.msg != tt.want.msg) {
					t.Fatalf("got %v, want %v", e, tt.want)
				}
			}
			if err := h.wait(); (err != nil) != tt.wantErr {
				t.Fatalf("Serve = %v", err)
			}
			if !h.stream.isClosed() {
				t.Fatal("stream not closed")
			}
			select {
			case e := <-h.stream.events:
				t.Fatalf("sent %v after the terminal message", e)
			default:
			}
		})
	}
}

func TestFeedbackThroughStream(t *testing.T) {
	senders := NewWalSenders(RegistryOptions{})
	h := newHarness(t, harnessOpts{cmd: Command{StartLSN: 0x10}, commit: 0x10, walSize: 0x10, senders: senders}).start()
	h.computes.Store(1)
	sub, cancel := senders.SubscribeFeedback()
	defer cancel()
	h.stream.reply(AppendPageserverFeedbackMessage(nil, walproto.PageserverFeedback{LastReceivedLSN: 0x10, RemoteConsistentLSN: 0x8}))
	select {
	case fb := <-sub:
		if fb.RemoteConsistentLSN != 0x8 {
			t.Fatalf("broadcast %+v", fb)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no broadcast")
	}
	h.stream.reply(AppendHotStandbyFeedback(nil, walproto.HotStandbyFeedback{TS: 4, Xmin: 1<<32 | 700}))
	h.stream.reply(AppendStandbyReply(nil, StandbyReply{ApplyLSN: 0x10}))
	deadline := time.Now().Add(5 * time.Second)
	for {
		snap := senders.Snapshot()
		if len(snap) == 1 && snap[0].Feedback.Kind == FeedbackStandby && snap[0].Feedback.Standby.Reply.ApplyLSN == 0x10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("snapshot %+v", snap)
		}
		time.Sleep(time.Millisecond)
	}
	if hs := senders.HotStandbyFeedback(); hs.Xmin != 1<<32|700 || hs.TS != 4 {
		t.Fatalf("aggregate %+v", hs)
	}
	if s := senders.FeedbackStats(); s.Count != 1 || s.MaxRemoteConsistentLSN != 0x8 {
		t.Fatalf("stats %+v", s)
	}
}

func TestReaderErrors(t *testing.T) {
	t.Run("open fails after CopyBoth", func(t *testing.T) {
		msg := "Requested streaming from 0/10, which is before the start of the timeline 0/1000028, and also doesn't start at the first segment of that timeline"
		h := newHarness(t, harnessOpts{cmd: Command{StartLSN: 0x10}, commit: 0x1000100,
			openReader: func(pgwal.LSN) (WALReader, error) { return nil, errors.New(msg) }}).start()
		if e := h.stream.next(t); e.kind != 'E' || e.state != SQLStateInternal || e.msg != msg {
			t.Fatalf("got %v", e)
		}
		if err := h.wait(); err == nil || err.Error() != msg {
			t.Fatalf("Serve = %v", err)
		}
	})
	t.Run("read fails", func(t *testing.T) {
		h := newHarness(t, harnessOpts{cmd: Command{StartLSN: 0x10}, commit: 0x20, walSize: 0x20})
		err := errors.New("WAL segment is not found")
		h.wal.err.Store(&err)
		h.start()
		if e := h.stream.next(t); e.kind != 'E' || e.state != SQLStateInternal || e.msg != err.Error() {
			t.Fatalf("got %v", e)
		}
	})
}

func TestCancelEndsSilently(t *testing.T) {
	h := newHarness(t, harnessOpts{cmd: Command{StartLSN: 0x10}, commit: 0x10, walSize: 0x10}).start()
	h.computes.Store(1)
	h.cancel()
	if err := h.wait(); err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if !h.stream.isClosed() {
		t.Fatal("stream not closed on cancel")
	}
	select {
	case e := <-h.stream.events:
		t.Fatalf("sent %v on cancel", e)
	default:
	}
}

func TestConfigErrorsBeforeCopy(t *testing.T) {
	h := newHarness(t, harnessOpts{cmd: Command{StartLSN: 0x10, HasTerm: true}})
	h.cfg.WithTerm = nil
	if err := Serve(t.Context(), h.cfg, h.stream); err == nil {
		t.Fatal("no error")
	}
	select {
	case e := <-h.stream.events:
		t.Fatalf("sent %v", e)
	default:
	}
}

func TestWALReadersGauge(t *testing.T) {
	gauge := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "safekeeper_wal_readers"}, []string{"kind", "target"})
	h := newHarness(t, harnessOpts{cmd: Command{StartLSN: 0x10}, commit: 0x20, walSize: 0x20, appName: "replica"})
	h.cfg.WALReaders = gauge
	h.start()
	h.computes.Store(1)
	xlog(t, h.stream.next(t))
	if v := testutil.ToFloat64(gauge.WithLabelValues("future", "replica")); v != 1 {
		t.Fatalf("gauge while streaming = %v", v)
	}
	h.stream.fail(io.EOF)
	if err := h.wait(); err != nil {
		t.Fatal(err)
	}
	if v := testutil.ToFloat64(gauge.WithLabelValues("future", "replica")); v != 0 {
		t.Fatalf("gauge after = %v", v)
	}
}

type closingReader struct {
	WALReader
	closed chan struct{}
}

func (c closingReader) Close() error { close(c.closed); return nil }

func TestReaderClosedAtEnd(t *testing.T) {
	closed := make(chan struct{})
	h := newHarness(t, harnessOpts{cmd: Command{StartLSN: 0x10}, commit: 0x20, walSize: 0x20})
	h.cfg.OpenReader = func(pgwal.LSN) (WALReader, error) { return closingReader{h.wal, closed}, nil }
	h.start()
	h.computes.Store(1)
	xlog(t, h.stream.next(t))
	h.stream.fail(io.EOF)
	if err := h.wait(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	default:
		t.Fatal("reader not closed")
	}
}
