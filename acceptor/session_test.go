package acceptor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/internal/backlog"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
)

func TestSessionFlow(t *testing.T) {
	t.Parallel()
	wal := newFakeWAL()
	wal.keepData = true
	h := newHarness(t, wal)
	h.start()
	h.handshake(0x1000028)
	a1, a2 := tvAppend(1, 0x1000028, 0x128, 0), tvAppend(1, 0x1000150, 8, 0x1000150)
	h.push(a1, a2)
	h.waitFor("WAL", func() bool { return h.wal.FlushRecordLSN() == 0x1000158 })
	h.eof()
	if err := h.wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := h.replies()
	if len(got) < 3 {
		t.Fatalf("replies %+v", got)
	}
	if g, ok := got[0].(walproto.AcceptorGreeting); !ok || g.NodeID != tvNode || g.Term != 0 || g.MConf.Generation != 1 {
		t.Fatalf("first reply %+v", got[0])
	}
	if v, ok := got[1].(walproto.VoteResponse); !ok || !v.VoteGiven || v.Term != 1 {
		t.Fatalf("second reply %+v", got[1])
	}
	last, ok := got[len(got)-1].(walproto.AppendResponse)
	if !ok || last.FlushLSN != 0x1000158 || last.Term != 1 || last.Generation != 1 {
		t.Fatalf("last reply %+v", got[len(got)-1])
	}
	if want := append(slices.Clone(a1.WAL), a2.WAL...); !bytes.Equal(h.wal.data, want) {
		t.Fatal("WAL bytes differ from what was sent: payload not copied before the next Recv?")
	}
}

func TestSessionVotePersistedBeforeReply(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.start()
	h.push(tvGreeting(), walproto.VoteRequest{Generation: 1, Term: 6})
	h.waitReplies(2)
	ev := h.ev.list()
	persist, reply := slices.Index(ev, "persist term=6 commit=0/0"), slices.Index(ev, "send v")
	if persist < 0 || reply < 0 || persist > reply {
		t.Fatalf("events %q: the vote must be durable before the VoteResponse is sent", ev)
	}
}

func TestSessionNothingSentInWaitStates(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	fb := make(chan walproto.PageserverFeedback, 8)
	h.sess.Feedback = fb
	h.start()
	quiet := func(state string, want int) {
		t.Helper()
		fb <- walproto.PageserverFeedback{CurrentTimelineSize: 1}
		time.Sleep(5 * h.sess.flushInterval)
		if n := h.stream.sentCount(); n != want {
			t.Fatalf("%s: %d messages sent, want %d", state, n, want)
		}
	}
	h.push(tvGreeting())
	h.waitReplies(1)
	quiet("waiting for VoteRequest", 1)
	h.push(walproto.VoteRequest{Generation: 1, Term: 1})
	h.waitReplies(2)
	quiet("waiting for ProposerElected", 2)
	h.push(walproto.ProposerElected{Generation: 1, Term: 1, StartStreamingAt: 0x1000028,
		TermHistory: walproto.TermHistory{{Term: 1, LSN: 0x1000028}}})
	h.waitFor("Elected processed", func() bool { return h.c.TermStartLSN() == 0x1000028 })
	quiet("after ProposerElected (no reply)", 2)
	// The first AppendResponse ends the wait; feedback now rides on copies.
	h.push(tvAppend(1, 0x1000028, 0, 0))
	h.waitReplies(3)
	fb <- walproto.PageserverFeedback{CurrentTimelineSize: 2, LastReceivedLSN: 0x1000028}
	got := h.waitReplies(4)
	ar, ok := got[3].(walproto.AppendResponse)
	if !ok || ar.PageserverFeedback == nil || ar.PageserverFeedback.CurrentTimelineSize != 2 || ar.FlushLSN != 0x1000028 {
		t.Fatalf("feedback reply %+v", got[3])
	}
	if base := got[2].(walproto.AppendResponse); base.PageserverFeedback != nil {
		t.Fatalf("plain reply carries feedback: %+v", base)
	}
}

func TestSessionHeartbeatAnswered(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.start()
	h.handshake(0x1000028)
	for i := range 3 {
		h.push(tvAppend(1, 0x1000028, 0, 0))
		got := h.waitReplies(3 + i)
		if ar, ok := got[2+i].(walproto.AppendResponse); !ok || ar.FlushLSN != 0x1000028 || ar.CommitLSN != 0x1000028 {
			t.Fatalf("heartbeat %d: reply %+v", i, got[2+i])
		}
	}
}

func TestSessionBurstOneFlushOneReply(t *testing.T) {
	t.Parallel()
	const n = 200
	wal := newFakeWAL()
	wal.writeGate = make(chan struct{})
	h := newHarness(t, wal)
	h.sess.flushInterval = time.Hour // only the drained queue may trigger the flush
	h.start()
	h.handshake(0x1000028)
	h.waitReplies(2)
	_, flushesBefore := h.wal.counts()
	for i := range n {
		h.push(tvAppend(1, 0x1000028+i*0x100, 0x100, 0))
	}
	h.waitQueued(3 + n) // the first append is held by the gate, the rest queue behind it
	close(wal.writeGate)
	end := pgwal.LSN(0x1000028 + n*0x100)
	got := h.waitReplies(3)
	time.Sleep(100 * time.Millisecond) // nothing more may come
	writes, flushes := h.wal.counts()
	if writes != n || flushes-flushesBefore != 1 || len(h.replies()) != 3 {
		t.Fatalf("%d writes, %d fsyncs, %d replies; want %d, 1, 3", writes, flushes-flushesBefore, len(h.replies()), n)
	}
	if ar := got[2].(walproto.AppendResponse); ar.FlushLSN != end {
		t.Fatalf("reply flush_lsn %s, want %s", ar.FlushLSN, end)
	}
}

func TestSessionFlushTickUnderContinuousStream(t *testing.T) {
	t.Parallel()
	const n = 1000
	wal := newFakeWAL()
	wal.writeDelay = 2 * time.Millisecond // n appends take at least 2 s
	h := newHarness(t, wal)
	h.start()
	h.handshake(0x1000028)
	h.waitReplies(2)
	// All appends are in the socket before the first is processed, so the
	// inbound queue refills faster than it drains: only the ticker flushes.
	for i := range n {
		h.push(tvAppend(1, 0x1000028+8*i, 8, 0))
	}
	got := h.waitReplies(2 + 4) // the first may be an immediate flush before the queue filled
	if w, _ := h.wal.counts(); w >= n {
		t.Fatalf("the stream drained (%d writes) before three tick flushes", w)
	}
	prev := pgwal.LSN(0x1000028)
	for _, m := range got[2:] {
		ar := m.(walproto.AppendResponse)
		if ar.FlushLSN <= prev {
			t.Fatalf("tick replies did not advance flush_lsn: %+v", got[2:])
		}
		prev = ar.FlushLSN
	}
}

func TestSessionFlushOnDisconnect(t *testing.T) {
	t.Parallel()
	t.Run("client EOF", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, nil)
		h.start()
		h.handshake(0x1000028)
		h.push(tvAppend(1, 0x1000028, 0x100, 0))
		h.eof()
		if err := h.wait(); err != nil {
			t.Fatal(err)
		}
		if h.wal.FlushRecordLSN() != 0x1000128 {
			t.Fatalf("flush_record_lsn %s after disconnect", h.wal.FlushRecordLSN())
		}
	})
	t.Run("writer fails with appends queued", func(t *testing.T) {
		t.Parallel()
		// Every append crosses a (small) segment boundary and so gets a reply
		// of its own; the writer is stuck, the reply queue fills, the
		// WalAcceptor blocks with a dirty tail. Then the network fails.
		wal := newFakeWAL()
		wal.segSize = 0x100
		wal.writeGate = make(chan struct{})
		h := newHarness(t, wal)
		h.stream.sendGate = make(chan struct{})
		h.start()
		h.handshake(0x1000000)
		for i := range 40 {
			h.push(tvAppend(1, 0x1000000+i*0x180, 0x180, 0))
		}
		h.waitQueued(3 + 40)
		close(wal.writeGate)
		h.waitFor("WalAcceptor blocked on replies", func() bool {
			w, _ := h.wal.counts()
			return w >= ReplyQueueSize
		})
		time.Sleep(20 * time.Millisecond)
		h.stream.mu.Lock()
		h.stream.sendErr = errors.New("connection reset")
		h.stream.mu.Unlock()
		close(h.stream.sendGate)
		err := h.wait()
		if err == nil || !strings.Contains(err.Error(), "connection reset") {
			t.Fatalf("Run: %v", err)
		}
		if len(h.stream.errors()) != 0 {
			t.Fatal("ErrorResponse sent on a broken connection")
		}
		if w, fl := h.wal.WriteLSN(), h.wal.FlushRecordLSN(); w != fl {
			t.Fatalf("write_lsn %s flush_record_lsn %s: the dirty tail was not flushed", w, fl)
		}
		ev := h.ev.list()
		failed := slices.Index(ev, "send failed")
		if failed < 0 || !strings.HasPrefix(ev[len(ev)-1], "wal.flush") || slices.ContainsFunc(ev[failed:], func(e string) bool {
			return strings.HasPrefix(e, "wal.write")
		}) {
			t.Fatalf("events after the failure %q: want no more writes and a final flush", ev[max(failed, 0):])
		}
	})
	t.Run("no flush when the timeline is cancelled", func(t *testing.T) {
		t.Parallel()
		wal := newFakeWAL()
		wal.writeGate = make(chan struct{})
		h := newHarness(t, wal)
		h.start()
		h.handshake(0x1000028)
		h.push(tvAppend(1, 0x1000028, 0x100, 0), tvAppend(1, 0x1000128, 0x100, 0))
		h.waitQueued(5)
		_, before := h.wal.counts()
		h.cancel()
		close(wal.writeGate)
		if err := h.wait(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run: %v", err)
		}
		if _, after := h.wal.counts(); after != before {
			t.Fatal("flushed after the timeline was cancelled")
		}
		if len(h.stream.errors()) != 0 {
			t.Fatal("ErrorResponse sent on cancellation")
		}
	})
}

func TestSessionBackpressure(t *testing.T) {
	t.Parallel()
	const n = 400
	wal := newFakeWAL()
	wal.writeDelay = time.Millisecond
	h := newHarness(t, wal)
	wal.writeGate = make(chan struct{})
	h.sess.slowEnqueue = 20 * time.Millisecond
	h.start()
	h.handshake(0x1000028)
	h.waitReplies(2)
	go func() {
		for i := range n {
			h.push(tvAppend(1, 0x1000028+i*0x2000, 0x2000, 0))
		}
	}()
	// Phase 1: the WAL store is stuck. The reader fills the queue and then
	// stops reading; the rest stays in the socket (here: the fake stream).
	h.waitFor("slow enqueue warning", func() bool {
		return strings.Contains(h.logs.String(), "slow WalAcceptor enqueue blocked")
	})
	stalled := h.stream.recvs.Load()
	time.Sleep(50 * time.Millisecond)
	// 3 handshake messages, the append stuck in Write, MsgQueueSize queued,
	// the one the reader holds.
	if now := h.stream.recvs.Load(); now != stalled || now != 3+1+MsgQueueSize+1 {
		t.Fatalf("reader took %d then %d payloads off the stream while the WAL store was stuck; want %d",
			stalled, now, 3+1+MsgQueueSize+1)
	}
	close(wal.writeGate)
	// Phase 2: the WAL store is slow; the backlog stays bounded.
	maxBacklog := int64(0)
	h.waitFor("all appends written", func() bool {
		// Taken off the stream but not yet written: the queue plus the one
		// in the reader's hands plus the one being processed. Reading the
		// writes second can only underestimate it.
		recvs := h.stream.recvs.Load()
		w, _ := h.wal.counts()
		maxBacklog = max(maxBacklog, recvs-1-3-int64(w))
		return w == n
	})
	if maxBacklog > MsgQueueSize+2 {
		t.Fatalf("backlog reached %d messages, bound is %d", maxBacklog, MsgQueueSize+2)
	}
	if maxBacklog < MsgQueueSize/2 {
		t.Fatalf("backlog only reached %d: the WAL store was not the bottleneck", maxBacklog)
	}
}

func TestSessionErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msgs func(h *harness)
		want string
	}{
		{"append before elected", func(h *harness) {
			h.push(tvGreeting(), walproto.VoteRequest{Generation: 1, Term: 1}, tvAppend(2, 0x1000028, 8, 0))
		}, "WAL acceptor: got AppendRequest before ProposerElected"},
		{"generation mismatch", func(h *harness) {
			h.handshake(0x1000028)
			m := tvAppend(1, 0x1000028, 8, 0)
			m.Generation = 0
			h.push(m)
		}, "WAL acceptor: refusing append request due to generation mismatch: request 0, sk 1"},
		{"gap", func(h *harness) {
			h.handshake(0x1000028)
			h.push(tvAppend(1, 0x1000030, 8, 0))
		}, "WAL acceptor: append request creates gap in written WAL, write_lsn=0/1000028, msg lsn=0/1000030"},
		{"first message not a greeting", func(h *harness) {
			h.push(walproto.VoteRequest{Generation: 1, Term: 1})
		}, "unexpected message walproto.VoteRequest instead of greeting"},
		{"garbage", func(h *harness) { h.stream.in <- []byte{'x', 1, 2} }, "x"},
		{"unsupported protocol version", func(h *harness) {
			h.stream.in <- walproto.AppendProposerMessage(nil, walproto.Version3, tvGreeting())
		}, "unsupported protocol version 4"},
		{"append over 128 KiB", func(h *harness) {
			h.handshake(0x1000028)
			h.push(tvAppend(1, 0x1000028, pgwal.MaxSendSize+8, 0))
		}, "AppendRequest"},
		{"wrong start_streaming_at", func(h *harness) {
			h.push(tvGreeting(), walproto.VoteRequest{Generation: 1, Term: 1},
				walproto.ProposerElected{Generation: 1, Term: 1, StartStreamingAt: 0x1000030,
					TermHistory: walproto.TermHistory{{Term: 1, LSN: 0x1000028}}})
		}, "WAL acceptor: refusing ProposerElected with unexpected truncation point"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil)
			if strings.Contains(tt.name, "version") {
				h.sess.ProtoVersion = 4 // as if START_WAL_PUSH had asked for it
			}
			h.start()
			tt.msgs(h)
			err := h.wait()
			errs := h.stream.errors()
			if err == nil || len(errs) != 1 || errs[0] != err.Error() || !strings.Contains(errs[0], tt.want) {
				t.Fatalf("Run: %v; ErrorResponses %q; want one containing %q", err, errs, tt.want)
			}
		})
	}
}

func TestSessionTimelineNoCreate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.sess.Open = func(context.Context, *walproto.ProposerGreeting) (*Core, error) {
		return nil, fmt.Errorf("timeline %s: %w", tvTimeline, ErrTimelineNoCreate)
	}
	h.start()
	h.push(tvGreeting())
	if err := h.wait(); !errors.Is(err, ErrTimelineNoCreate) {
		t.Fatalf("Run: %v", err)
	}
	if len(h.stream.errors()) != 0 || h.stream.sentCount() != 0 {
		t.Fatal("sent something for a timeline that may not be created")
	}
}

func TestSessionStaleTermGetsTermOnlyReply(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.start()
	h.handshake(0x1000028)
	h.waitReplies(2)
	if _, err := h.c.Vote(&walproto.VoteRequest{Generation: 1, Term: 2}); err != nil { // a newer proposer
		t.Fatal(err)
	}
	h.push(tvAppend(1, 0x1000028, 8, 0))
	got := h.waitReplies(3)
	want := walproto.AppendResponse{Generation: 1, Term: 2, HotStandby: tvHS}
	if ar := got[2].(walproto.AppendResponse); ar != want {
		t.Fatalf("reply %+v, want %+v", ar, want)
	}
	if w, _ := h.wal.counts(); w != 0 {
		t.Fatal("stale append written")
	}
}

func TestSessionCancelledBeforeGreeting(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.start()
	time.Sleep(10 * time.Millisecond)
	h.cancel()
	if err := h.wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	if h.stream.sentCount() != 0 || len(h.stream.errors()) != 0 {
		t.Fatal("sent something")
	}
}

func TestSessionProtocolV2(t *testing.T) {
	t.Parallel()
	// v2 carries no generation: it works on generation-0 timelines only.
	st := tvState()
	st.MConf = tvConf(0)
	f := newFixture(t, st, nil)
	h := newHarness(t, nil)
	h.fixture = f
	h.sess.ProtoVersion = walproto.Version2
	h.sess.Open = func(context.Context, *walproto.ProposerGreeting) (*Core, error) { return f.c, nil }
	h.start()
	m := tvAppend(1, 0x1000028, 8, 0x1000028)
	m.Generation = 0
	h.push(tvGreeting(), walproto.VoteRequest{Term: 1},
		walproto.ProposerElected{Term: 1, StartStreamingAt: 0x1000028, TermHistory: walproto.TermHistory{{Term: 1, LSN: 0x1000028}},
			TimelineStartLSN: 0x1000028}, m)
	got := h.waitReplies(3)
	if ar, ok := got[2].(walproto.AppendResponse); !ok || ar.FlushLSN != 0x1000030 || ar.Term != 1 {
		t.Fatalf("v2 replies %+v", got)
	}
	h.eof()
	if err := h.wait(); err != nil {
		t.Fatal(err)
	}
}

type fakeGauge struct {
	mu      sync.Mutex
	v, peak float64
}

func (g *fakeGauge) Add(d float64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.v += d
	g.peak = max(g.peak, g.v)
}

func TestSessionQueueGauges(t *testing.T) {
	t.Parallel()
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail=%v", fail), func(t *testing.T) {
			t.Parallel()
			wal := newFakeWAL()
			wal.writeGate = make(chan struct{})
			h := newHarness(t, wal)
			depth, size := &fakeGauge{}, &fakeGauge{}
			h.sess.Metrics = &SessionMetrics{QueueDepthTotal: depth, QueueSizeTotal: size}
			h.start()
			h.handshake(0x1000028)
			n := 20
			for i := range n {
				if fail && i == 5 {
					h.push(tvAppend(1, 0x1000028, 8, 0)) // a rewrite: the session fails with messages queued
				}
				h.push(tvAppend(1, 0x1000028+i*0x100, 0x100, 0))
			}
			if fail {
				n++
			}
			h.waitQueued(3 + n)
			close(wal.writeGate)
			if !fail {
				h.eof()
			}
			err := h.wait()
			if (err != nil) != fail {
				t.Fatalf("Run: %v", err)
			}
			depth.mu.Lock()
			defer depth.mu.Unlock()
			size.mu.Lock()
			defer size.mu.Unlock()
			if depth.v != 0 || size.v != 0 || depth.peak < 10 || size.peak < 10*0x100 {
				t.Fatalf("depth %v (peak %v), size %v (peak %v)", depth.v, depth.peak, size.v, size.peak)
			}
		})
	}
}

// TestSessionsShareTimeline runs a stale and a new connection of one
// compute against the same Core: the new proposer's election makes the old
// one's appends get term-only replies, and the race detector sees both.
func TestSessionsShareTimeline(t *testing.T) {
	t.Parallel()
	old := newHarness(t, nil)
	old.start()
	old.handshake(0x1000028)
	for i := range 50 {
		old.push(tvAppend(1, 0x1000028+i*0x10, 0x10, 0))
	}
	old.waitFor("old connection's WAL", func() bool { return old.wal.FlushRecordLSN() == 0x1000028+50*0x10 })

	h := newHarness(t, nil)
	h.fixture = old.fixture
	h.sess.Open = old.sess.Open
	h.start()
	h.push(tvGreeting(), walproto.VoteRequest{Generation: 1, Term: 2})
	got := h.waitReplies(2)
	v := got[1].(walproto.VoteResponse)
	if !v.VoteGiven || v.FlushLSN != 0x1000348 || len(v.TermHistory) != 1 {
		t.Fatalf("vote %+v", v)
	}
	h.push(walproto.ProposerElected{Generation: 1, Term: 2, StartStreamingAt: v.FlushLSN,
		TermHistory: walproto.TermHistory{{Term: 1, LSN: 0x1000028}, {Term: 2, LSN: v.FlushLSN}}})
	h.push(tvAppend(2, 0x1000348, 8, 0x1000348))
	h.waitReplies(3)

	n := old.stream.sentCount()
	old.push(tvAppend(1, 0x1000350, 8, 0))
	got = old.waitReplies(n + 1)
	if ar := got[n].(walproto.AppendResponse); ar.Term != 2 || ar.FlushLSN != 0 {
		t.Fatalf("stale connection got %+v, want a term-only refusal", ar)
	}
	if h.wal.WriteLSN() != 0x1000350 {
		t.Fatalf("write_lsn %s", h.wal.WriteLSN())
	}
}

// TestSessionOnElected: the hook runs once for the accepted ProposerElected
// and not for the appends that follow it.
func TestSessionOnElected(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	var mu sync.Mutex
	calls := 0
	h.sess.OnElected = func() { mu.Lock(); calls++; mu.Unlock() }
	h.start()
	h.handshake(0x1000028)
	h.push(tvAppend(1, 0x1000028, 8, 0))
	h.waitReplies(3)
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Fatalf("OnElected called %d times, want 1", calls)
	}
}

// ownedStream hands over each payload (acceptor.OwnedStream) and counts
// how often the session took that path.
type ownedStream struct {
	*fakeStream
	owned atomic.Int64
}

func (s *ownedStream) RecvOwned() ([]byte, error) {
	s.owned.Add(1)
	b, err := s.fakeStream.Recv()
	return bytes.Clone(b), err
}

// TestSessionOwnedStream: with an OwnedStream the session reads through
// RecvOwned only and parses the payloads in place; the WAL that reaches
// the store is exactly what was sent.
func TestSessionOwnedStream(t *testing.T) {
	t.Parallel()
	wal := newFakeWAL()
	wal.keepData = true
	h := newHarness(t, wal)
	os := &ownedStream{fakeStream: h.stream}
	h.sess.Stream = os
	h.start()
	h.handshake(0x1000028)
	a1, a2 := tvAppend(1, 0x1000028, 0x128, 0), tvAppend(1, 0x1000150, 8, 0x1000150)
	h.push(a1, a2)
	h.waitFor("WAL", func() bool { return h.wal.FlushRecordLSN() == 0x1000158 })
	h.eof()
	if err := h.wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if want := append(slices.Clone(a1.WAL), a2.WAL...); !bytes.Equal(h.wal.data, want) {
		t.Fatal("WAL bytes differ from what was sent")
	}
	if n, total := os.owned.Load(), h.stream.recvs.Load(); n == 0 || n != total {
		t.Fatalf("RecvOwned used for %d of %d receives", n, total)
	}
}

// recyclingStream is an ownedStream that also takes payloads back
// (acceptor.Recycler): it zeroes each one, so that WAL read from a payload
// after it was recycled reaches the store as zeros.
type recyclingStream struct {
	*ownedStream
	mu       sync.Mutex
	recycled int
}

func (s *recyclingStream) Recycle(p []byte) {
	clear(p)
	s.mu.Lock()
	s.recycled++
	s.mu.Unlock()
}

// TestSessionRecycle: the session hands each AppendRequest's payload back
// once its WAL is written, only then (the WAL the store got is intact) and
// only AppendRequests (the greeting, vote and elected are not recycled).
func TestSessionRecycle(t *testing.T) {
	t.Parallel()
	wal := newFakeWAL()
	wal.keepData = true
	h := newHarness(t, wal)
	rs := &recyclingStream{ownedStream: &ownedStream{fakeStream: h.stream}}
	h.sess.Stream = rs
	h.start()
	h.handshake(0x1000028)
	a1, a2, a3 := tvAppend(1, 0x1000028, 0x128, 0), tvAppend(1, 0x1000150, 0x2000, 0), tvAppend(1, 0x1002150, 8, 0x1002150)
	h.push(a1, a2, a3)
	h.waitFor("WAL", func() bool { return h.wal.FlushRecordLSN() == 0x1002158 })
	h.eof()
	if err := h.wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := append(append(slices.Clone(a1.WAL), a2.WAL...), a3.WAL...)
	if !bytes.Equal(h.wal.data, want) {
		t.Fatal("WAL bytes differ from what was sent: a payload was recycled before its WAL was written")
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.recycled != 3 {
		t.Fatalf("%d payloads recycled, want the 3 AppendRequests", rs.recycled)
	}
}

// TestSessionQueueByteBudget: the inbound queue is bounded by payload bytes
// as well as by count. With the WAL store stuck and a budget of ten
// messages, the reader stops after ten queued payloads, far below
// MsgQueueSize, and everything is written once the store moves again.
func TestSessionQueueByteBudget(t *testing.T) {
	t.Parallel()
	const n, size = 60, 0x2000
	wal := newFakeWAL()
	h := newHarness(t, wal)
	wal.writeGate = make(chan struct{})
	payload := len(walproto.AppendProposerMessage(nil, walproto.Version3, tvAppend(1, 0x1000028, size, 0)))
	h.sess.maxQueued = int64(10 * payload)
	h.sess.slowEnqueue = 20 * time.Millisecond
	h.sess.Backlog = &backlog.Counter{}
	h.start()
	h.handshake(0x1000028)
	h.waitReplies(2)
	go func() {
		for i := range n {
			h.push(tvAppend(1, 0x1000028+i*size, size, 0))
		}
	}()
	h.waitFor("slow enqueue warning", func() bool {
		return strings.Contains(h.logs.String(), "slow WalAcceptor enqueue blocked")
	})
	time.Sleep(50 * time.Millisecond)
	// 3 handshake messages, the append stuck in Write, 10 queued, the one
	// the reader holds.
	if got, want := h.stream.recvs.Load(), int64(3+1+10+1); got != want {
		t.Fatalf("reader took %d payloads off the stream while the WAL store was stuck; want %d", got, want)
	}
	if q, b := h.sess.queuedBytes.Load(), h.sess.Backlog.Load(); q != int64(10*payload) || b != q {
		t.Fatalf("queued %d bytes, timeline backlog %d; want both %d", q, b, 10*payload)
	}
	close(wal.writeGate)
	h.waitFor("all appends written", func() bool { w, _ := h.wal.counts(); return w == n })
	if q := h.sess.queuedBytes.Load(); q != 0 {
		t.Fatalf("%d bytes still counted as queued after the queue drained", q)
	}
	if b := h.sess.Backlog.Load(); b != 0 {
		t.Fatalf("timeline backlog %d after the queue drained", b)
	}
}

// TestSessionBacklogReturnedOnCancel: a session that ends with messages
// still queued takes them out of the timeline's backlog, or the
// timeline's senders would yield to an ingest that no longer exists.
func TestSessionBacklogReturnedOnCancel(t *testing.T) {
	t.Parallel()
	const size = 0x2000
	wal := newFakeWAL()
	h := newHarness(t, wal)
	wal.writeGate = make(chan struct{})
	h.sess.Backlog = &backlog.Counter{}
	h.start()
	h.handshake(0x1000028)
	h.waitReplies(2)
	for i := range 5 {
		h.push(tvAppend(1, 0x1000028+i*size, size, 0))
	}
	h.waitFor("appends queued behind the stuck write", func() bool { return h.sess.Backlog.Load() > 0 })
	h.cancel()
	close(wal.writeGate)
	h.wait()
	if b := h.sess.Backlog.Load(); b != 0 {
		t.Fatalf("timeline backlog %d after the session ended", b)
	}
}
