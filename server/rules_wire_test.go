package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/internal/e2e"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/proposer"
	"github.com/walkeeper/walkeeper/walproto"
)

// wireEnv is one in-process server and the real WAL the rules are
// exercised with (the server decodes every append, so it must be real).
type wireEnv struct {
	t       *testing.T
	w       *e2e.WAL
	addr    string
	dataDir string
	start   pgwal.LSN // where every timeline's first term starts
	ctx     context.Context
}

func newWireEnv(t *testing.T) *wireEnv {
	t.Helper()
	w := e2e.SharedWAL(t)
	dataDir := t.TempDir()
	addrs, _ := startRun(t, Config{DataDir: dataDir, ID: 1, NoSync: true, Logger: testLogger(t)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return &wireEnv{t: t, w: w, addr: addrs.PG.String(), dataDir: dataDir, start: midPageStart(t, w), ctx: ctx}
}

func (e *wireEnv) dial(ttid ids.TTID) *proposer.Conn {
	e.t.Helper()
	c, err := e2e.Dial(e.ctx, e.addr, ttid)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// greeted is a connection past the greeting of a fresh timeline.
func (e *wireEnv) greeted() (*proposer.Conn, ids.TTID) {
	e.t.Helper()
	ttid := e2e.NewTTID()
	c := e.dial(ttid)
	if _, err := e2e.Greet(e.ctx, c, e.w); err != nil {
		e.t.Fatal(err)
	}
	return c, ttid
}

// elected is a connection elected in term on a fresh timeline.
func (e *wireEnv) elected(term uint64) (*proposer.Conn, ids.TTID) {
	e.t.Helper()
	ttid := e2e.NewTTID()
	c := e.dial(ttid)
	if _, _, err := e2e.ElectAlone(e.ctx, c, e.w, term, e.start); err != nil {
		e.t.Fatal(err)
	}
	return c, ttid
}

// appendResponse receives the next message, which must be an AppendResponse.
func (e *wireEnv) appendResponse(c *proposer.Conn) walproto.AppendResponse {
	e.t.Helper()
	m, err := c.Receive(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	ar, ok := m.(walproto.AppendResponse)
	if !ok {
		e.t.Fatalf("%T instead of AppendResponse", m)
	}
	return ar
}

// wantServerError reads the connection until the server's ErrorResponse
// and checks that its SQLSTATE is XX000 and its text is want; then the
// server must have closed the connection.
func wantServerError(t *testing.T, ctx context.Context, c *proposer.Conn, want string) {
	t.Helper()
	var err error
	for err == nil {
		_, err = c.Receive(ctx)
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want ErrorResponse %q", err, want)
	}
	if pe.Code != "XX000" || pe.Severity != "ERROR" || pe.Message != want {
		t.Fatalf("ErrorResponse %s %s %q\nwant XX000 ERROR %q", pe.Severity, pe.Code, pe.Message, want)
	}
	if _, err := c.Receive(ctx); err == nil || errors.As(err, &pe) && pe.Message != want {
		t.Fatalf("after the ErrorResponse: %v, want the stream closed", err)
	}
}

// wantSilence checks that the server sends nothing for a while (the
// walproposer's wait states treat any readable event as EOF).
func wantSilence(t *testing.T, c *proposer.Conn, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if b, err := c.ReceiveRaw(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%s: the server sent %x (%v), want nothing", what, b, err)
	}
}

// TestWireRules drives each consensus rule of walproposer-protocol §3 over
// TCP against the real server and checks what the client receives,
// including the exact ErrorResponse texts.
func TestWireRules(t *testing.T) {
	e := newWireEnv(t)
	w, s := e.w, e.start
	// A record boundary a little past the start, for short appends.
	x := w.RecordAtOrAfter(s + 3000)

	t.Run("vote refused for the same or a lower term", func(t *testing.T) {
		a, ttid := e.greeted()
		if vr, err := a.Vote(e.ctx, 3); err != nil || !vr.VoteGiven || vr.Term != 3 {
			t.Fatalf("first vote %+v %v", vr, err)
		}
		b := e.dial(ttid)
		if ag, err := e2e.Greet(e.ctx, b, w); err != nil || ag.Term != 3 {
			t.Fatalf("greeting %+v %v, want term 3", ag, err)
		}
		for _, term := range []uint64{3, 2} {
			vr, err := b.Vote(e.ctx, term)
			if err != nil || vr.VoteGiven || vr.Term != 3 {
				t.Fatalf("vote for term %d: %+v %v, want refused with term 3", term, vr, err)
			}
		}
		// A refusal is a normal reply: the connection goes on.
		if vr, err := b.Vote(e.ctx, 4); err != nil || !vr.VoteGiven || vr.Term != 4 {
			t.Fatalf("vote for term 4 %+v %v", vr, err)
		}
	})

	t.Run("generation mismatch", func(t *testing.T) {
		c, _ := e.greeted()
		c.SetGeneration(5)
		if err := c.Send(walproto.VoteRequest{Generation: 5, Term: 1}); err != nil {
			t.Fatal(err)
		}
		wantServerError(t, e.ctx, c, "WAL acceptor: refusing VoteRequest { generation: SafekeeperGeneration(5), term: 1 } due to generation mismatch: sk generation 0")
	})

	t.Run("gap", func(t *testing.T) {
		c, _ := e.elected(1)
		if err := c.Append(s+8, w.Bytes(s+8, s+100), 0, 0); err != nil {
			t.Fatal(err)
		}
		wantServerError(t, e.ctx, c, fmt.Sprintf("WAL acceptor: append request creates gap in written WAL, write_lsn=%s, msg lsn=%s", s, s+8))
	})

	t.Run("rewrite", func(t *testing.T) {
		c, _ := e.elected(1)
		if err := c.Append(s, w.Bytes(s, x), 0, 0); err != nil {
			t.Fatal(err)
		}
		if err := c.Append(s+16, w.Bytes(s+16, x+16), 0, 0); err != nil {
			t.Fatal(err)
		}
		wantServerError(t, e.ctx, c, fmt.Sprintf("WAL acceptor: append request rewrites WAL written before, write_lsn=%s, msg lsn=%s", x, s+16))
	})

	t.Run("append over 128 KiB", func(t *testing.T) {
		c, _ := e.elected(1)
		big := walproto.AppendRequest{Generation: 0, Term: 1, BeginLSN: s, EndLSN: s + walproto.MaxWALPerAppend + 1,
			WAL: w.Bytes(s, s+walproto.MaxWALPerAppend+1)}
		if err := c.SendRaw(walproto.AppendAppendRequest(nil, walproto.Version3, big)); err != nil {
			t.Fatal(err)
		}
		wantServerError(t, e.ctx, c, "AppendRequest is longer than MAX_SEND_SIZE (131072): 131073 bytes")
	})

	t.Run("append before elected", func(t *testing.T) {
		c, _ := e.greeted()
		c.SetTerm(1)
		if err := c.Append(s, w.Bytes(s, x), 0, 0); err != nil {
			t.Fatal(err)
		}
		wantServerError(t, e.ctx, c, "WAL acceptor: got AppendRequest before ProposerElected")
	})

	t.Run("wrong start_streaming_at", func(t *testing.T) {
		c, _ := e.greeted()
		if _, err := c.Vote(e.ctx, 1); err != nil {
			t.Fatal(err)
		}
		if err := c.Elect(x, walproto.TermHistory{{Term: 1, LSN: s}}); err != nil {
			t.Fatal(err)
		}
		wantServerError(t, e.ctx, c, fmt.Sprintf("WAL acceptor: refusing ProposerElected with unexpected truncation point: lcp=TermLsn { term: 1, lsn: %s } start_streaming_at=%s, term=1, sk_th=[] flush_lsn=0/0, wp_th=[(1, %s)]", s, x, s))
	})

	t.Run("lower-term append gets a term-only response and writes nothing", func(t *testing.T) {
		a, ttid := e.elected(1)
		if err := a.Append(s, w.Bytes(s, x), 0, 0); err != nil {
			t.Fatal(err)
		}
		if ar := e.appendResponse(a); ar.FlushLSN != x {
			t.Fatalf("flush_lsn %s, want %s", ar.FlushLSN, x)
		}
		b := e.dial(ttid)
		if _, err := e2e.Greet(e.ctx, b, w); err != nil {
			t.Fatal(err)
		}
		if vr, err := b.Vote(e.ctx, 2); err != nil || !vr.VoteGiven {
			t.Fatalf("vote %+v %v", vr, err)
		}
		y := w.RecordAtOrAfter(x + 5000)
		if err := a.Append(x, w.Bytes(x, y), x, 0); err != nil {
			t.Fatal(err)
		}
		ar := e.appendResponse(a)
		if want := (walproto.AppendResponse{Generation: 0, Term: 2}); ar != want {
			t.Fatalf("response to a stale append %+v, want the term-only %+v", ar, want)
		}
		flush, commit, _, err := e2e.TimelineStatus(e.ctx, e.addr, ttid)
		if err != nil || flush != x || commit != s {
			t.Fatalf("TIMELINE_STATUS %s %s %v, want flush %s commit %s", flush, commit, err, x, s)
		}
		stored, err := e2e.ReadStored(timelineDir(e.dataDir, ttid), x, y)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(stored, make([]byte, y-x)) {
			t.Fatalf("the stale append wrote into the segment at %s", x)
		}
	})

	t.Run("heartbeat answered within 1.5s", func(t *testing.T) {
		c, _ := e.elected(1)
		if err := c.Append(s, w.Bytes(s, x), 0, 0); err != nil {
			t.Fatal(err)
		}
		e.appendResponse(c)
		for i := 0; i < 3; i++ {
			begin := time.Now()
			if err := c.Append(x, nil, x, s); err != nil {
				t.Fatal(err)
			}
			ar := e.appendResponse(c)
			if d := time.Since(begin); d > 1500*time.Millisecond || ar.Term != 1 || ar.FlushLSN != x {
				t.Fatalf("heartbeat reply %+v after %v", ar, d)
			}
		}
	})

	t.Run("nothing sent in the wait states", func(t *testing.T) {
		c, _ := e.greeted()
		wantSilence(t, c, "after the AcceptorGreeting")
		if _, err := c.Vote(e.ctx, 1); err != nil {
			t.Fatal(err)
		}
		wantSilence(t, c, "after the VoteResponse")
		if err := c.Elect(s, walproto.TermHistory{{Term: 1, LSN: s}}); err != nil {
			t.Fatal(err)
		}
		wantSilence(t, c, "after ProposerElected")
		if err := c.Append(s, w.Bytes(s, x), 0, 0); err != nil {
			t.Fatal(err)
		}
		if ar := e.appendResponse(c); ar.FlushLSN != x || ar.Term != 1 {
			t.Fatalf("first message after the wait states %+v", ar)
		}
	})
}
