package server

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/internal/e2e"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/proposer"
	"github.com/walkeeper/walkeeper/walproto"
)

// TestDivergentTailTruncated: three walkeepers, two proposers. Proposer A
// (term 1) writes to all three, then only to sk1, past the others.
// Proposer B elects on sk2 and sk3 with term 2, computes the donor and the
// start point as the walproposer does, and then reaches sk1: sk1 votes,
// gets ProposerElected at the common point and truncates its divergent
// tail. Afterwards all three hold identical WAL.
func TestDivergentTailTruncated(t *testing.T) {
	if testing.Short() {
		t.Skip("streams tens of MB of real WAL")
	}
	w := e2e.SharedWAL(t)
	s := midPageStart(t, w)
	x1 := w.RecordAtOrAfter(s + 200_000)  // written by A to all three
	x2 := w.RecordAtOrAfter(x1 + 300_000) // written by A to sk1 only
	x3 := w.RecordAtOrAfter(x2 + 100_000) // written by B to all three
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	ttid := e2e.NewTTID()
	type node struct {
		addr, dir string
	}
	var sks [3]node
	for i := range sks {
		dataDir := t.TempDir()
		addrs, _ := startRun(t, Config{DataDir: dataDir, ID: uint64(i + 1), Logger: testLogger(t)})
		sks[i] = node{addrs.PG.String(), timelineDir(dataDir, ttid)}
	}
	dial := func(i int) *proposer.Conn {
		c, err := e2e.Dial(ctx, sks[i].addr, ttid)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	stream := func(c *proposer.Conn, from, to pgwal.LSN) {
		t.Helper()
		if flush, err := e2e.Stream(ctx, c, w, from, to, e2e.StreamOptions{Chunks: e2e.FixedChunks(walproto.MaxWALPerAppend - 5)}); err != nil || flush < to {
			t.Fatalf("stream %s..%s: flush %s, %v", from, to, flush, err)
		}
	}

	// Proposer A, term 1, on all three.
	var a [3]*proposer.Conn
	for i := range a {
		a[i] = dial(i)
		if got, _, err := e2e.ElectAlone(ctx, a[i], w, 1, s); err != nil || got != s {
			t.Fatalf("A on sk%d: start %s, %v", i+1, got, err)
		}
		stream(a[i], s, x1)
	}
	stream(a[0], x1, x2)

	// Proposer B: greetings from sk2 and sk3 are a quorum; its term is one
	// above the highest greeting term.
	var b [3]*proposer.Conn
	var votes []walproto.VoteResponse
	var term uint64
	for i := 1; i < 3; i++ {
		b[i] = dial(i)
		ag, err := e2e.Greet(ctx, b[i], w)
		if err != nil {
			t.Fatal(err)
		}
		term = max(term, ag.Term)
	}
	term++
	for i := 1; i < 3; i++ {
		vr, err := b[i].Vote(ctx, term)
		if err != nil || !vr.VoteGiven || vr.FlushLSN != x1 {
			t.Fatalf("sk%d vote %+v %v, want granted at %s", i+1, vr, err, x1)
		}
		votes = append(votes, vr)
	}
	donor := votes[e2e.Donor(votes)]
	propStart := donor.FlushLSN
	history := append(append(walproto.TermHistory{}, donor.TermHistory...), walproto.TermLsn{Term: term, LSN: propStart})
	if term != 2 || propStart != x1 {
		t.Fatalf("term %d start %s, want 2 and %s", term, propStart, x1)
	}
	for i, vr := range votes {
		if err := b[i+1].Elect(e2e.StartPoint(history, vr.TermHistory, vr.FlushLSN), history); err != nil {
			t.Fatal(err)
		}
	}

	// B reaches sk1, which is ahead with WAL of term 1 that no quorum has.
	b[0] = dial(0)
	if _, err := e2e.Greet(ctx, b[0], w); err != nil {
		t.Fatal(err)
	}
	vr, err := b[0].Vote(ctx, term)
	if err != nil || !vr.VoteGiven || vr.FlushLSN != x2 || e2e.LastLogTerm(vr.TermHistory) != 1 {
		t.Fatalf("sk1 vote %+v %v, want granted at %s with last_log_term 1", vr, err, x2)
	}
	cp := e2e.StartPoint(history, vr.TermHistory, vr.FlushLSN)
	if cp != x1 {
		t.Fatalf("start point for sk1 %s, want %s", cp, x1)
	}
	if err := b[0].Elect(cp, history); err != nil {
		t.Fatal(err)
	}
	ar, err := e2e.AwaitApplied(ctx, b[0], cp)
	if err != nil || ar.FlushLSN != x1 || ar.Term != 2 {
		t.Fatalf("sk1 after ProposerElected: %+v %v, want flush_lsn %s term 2", ar, err, x1)
	}
	if flush, _, _, err := e2e.TimelineStatus(ctx, sks[0].addr, ttid); err != nil || flush != x1 {
		t.Fatalf("sk1 TIMELINE_STATUS flush %s %v, want %s", flush, err, x1)
	}
	tail, err := e2e.ReadStored(sks[0].dir, x1, x2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tail, make([]byte, x2-x1)) {
		t.Fatalf("sk1 still holds bytes of the divergent tail %s..%s", x1, x2)
	}
	// A's connection to sk1 is now stale.
	if err := a[0].Append(x2, w.Bytes(x2, x2+100), 0, 0); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := a[0].Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ar := m.(walproto.AppendResponse); ar.Term == 2 {
			if ar.FlushLSN != 0 {
				t.Fatalf("stale append reply %+v, want term-only", ar)
			}
			break
		}
	}

	// B streams its term to all three; they end up identical.
	for i := range b {
		stream(b[i], x1, x3)
	}
	for i := range sks {
		if flush, _, _, err := e2e.TimelineStatus(ctx, sks[i].addr, ttid); err != nil || flush != x3 {
			t.Fatalf("sk%d flush %s %v, want %s", i+1, flush, err, x3)
		}
		got, err := e2e.ReadStored(sks[i].dir, s, x3)
		if err != nil {
			t.Fatal(err)
		}
		if d := e2e.FirstDiff(s, got, w.Bytes(s, x3)); d != 0 {
			t.Fatalf("sk%d differs at %s", i+1, d)
		}
	}
}
