package main

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/internal/e2e"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
)

// TestVotePersistsAcrossSIGKILL: a granted vote is durable before the
// VoteResponse leaves. The real binary (fsync on) is killed right after
// the reply; after a restart the greeting reports the term and a vote for
// the same term is refused.
func TestVotePersistsAcrossSIGKILL(t *testing.T) {
	bin := e2e.BuildWalkeeper(t)
	wk := e2e.StartWalkeeper(t, bin, filepath.Join(t.TempDir(), "data"), 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ttid := e2e.NewTTID()
	greeting := walproto.ProposerGreeting{PgVersion: 150018, SystemID: 7}
	c, err := e2e.Dial(ctx, wk.Addr, ttid)
	if err != nil {
		t.Fatal(err)
	}
	if ag, err := c.Greet(ctx, greeting); err != nil || ag.Term != 0 {
		t.Fatalf("greeting %+v %v", ag, err)
	}
	if vr, err := c.Vote(ctx, 5); err != nil || !vr.VoteGiven || vr.Term != 5 {
		t.Fatalf("vote %+v %v", vr, err)
	}
	wk.Kill(t)
	c.Close()

	wk.Restart(t)
	c, err = e2e.Dial(ctx, wk.Addr, ttid)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ag, err := c.Greet(ctx, greeting); err != nil || ag.Term != 5 || ag.NodeID != 1 {
		t.Fatalf("greeting after SIGKILL %+v %v, want term 5", ag, err)
	}
	if vr, err := c.Vote(ctx, 5); err != nil || vr.VoteGiven || vr.Term != 5 {
		t.Fatalf("vote for term 5 after SIGKILL %+v %v, want refused", vr, err)
	}
	if vr, err := c.Vote(ctx, 6); err != nil || !vr.VoteGiven || vr.Term != 6 {
		t.Fatalf("vote for term 6 %+v %v", vr, err)
	}
}

// TestSIGKILLDurability kills the real binary (fsync on) at 20 random
// moments while real PostgreSQL WAL streams into it. After each restart
// the flush_lsn (TIMELINE_STATUS and a new election's VoteResponse) is at
// least every flush_lsn acknowledged before the kill, and the stored bytes
// up to it equal PostgreSQL's. Each round streams a short burst from where
// the previous one ended, under a new term.
func TestSIGKILLDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("streams tens of MB of real WAL")
	}
	w := e2e.SharedWAL(t)
	bin := e2e.BuildWalkeeper(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	wk := e2e.StartWalkeeper(t, bin, dataDir, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Second)
	defer cancel()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 2))
	t.Logf("seed %d", seed)

	first := w.RecordAtOrAfter(w.Base + 3*pgwal.XLogBlockSize + 1000)
	ttid := e2e.NewTTID()
	var acked pgwal.LSN // highest flush_lsn acknowledged on this timeline
	var term uint64
	const kills = 20
	midStream, timelines := 0, 1
	for k := 0; k < kills; k++ {
		tlDir := filepath.Join(dataDir, ttid.Tenant.String(), ttid.Timeline.String())
		if acked > 0 {
			flush, _, ok, err := e2e.TimelineStatus(ctx, wk.Addr, ttid)
			if err != nil || !ok || flush < acked {
				t.Fatalf("kill %d: TIMELINE_STATUS flush %s (%v, %v) below the acknowledged %s", k, flush, ok, err, acked)
			}
		}
		c, err := e2e.Dial(ctx, wk.Addr, ttid)
		if err != nil {
			t.Fatal(err)
		}
		term++
		start, vr, err := e2e.ElectAlone(ctx, c, w, term, first)
		if err != nil {
			t.Fatalf("kill %d: elect: %v", k, err)
		}
		if vr.FlushLSN < acked {
			t.Fatalf("kill %d: VoteResponse flush_lsn %s below the acknowledged %s", k, vr.FlushLSN, acked)
		}
		checkStored(t, tlDir, w, first, start)

		to := min(w.End, start+pgwal.LSN(256<<10+rng.IntN(6<<20)))
		var mu sync.Mutex
		done := make(chan error, 1)
		// The kill comes right after the sender has passed a random byte
		// of the burst (plus up to 2 ms), so it always lands while appends
		// are in flight, however fast the machine is.
		if to <= start {
			t.Fatalf("kill %d: no WAL left to stream from %s (capture ends at %s)", k, start, w.End)
		}
		killAt := start + pgwal.LSN(rng.IntN(int(to-start)))
		reached := make(chan struct{})
		var reachedOnce sync.Once
		sentTo := start
		chunks := e2e.RandomChunks(rand.New(rand.NewPCG(seed, uint64(k))))
		go func() {
			_, err := e2e.Stream(ctx, c, w, start, to, e2e.StreamOptions{
				Chunks: func() int {
					n := chunks()
					if sentTo += pgwal.LSN(n); sentTo >= killAt {
						reachedOnce.Do(func() { close(reached) })
					}
					return n
				},
				OnAck: func(ar walproto.AppendResponse) error {
					if !w.IsBoundary(ar.FlushLSN) {
						t.Errorf("flush_lsn %s acknowledged is not a record boundary", ar.FlushLSN)
					}
					mu.Lock()
					acked = max(acked, ar.FlushLSN)
					mu.Unlock()
					return nil
				},
			})
			done <- err
		}()
		select {
		case <-reached:
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
		time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
		wk.Kill(t)
		if err := <-done; err != nil {
			midStream++
		}
		c.Close()
		mu.Lock()
		t.Logf("kill %d: term %d streamed from %s toward %s, acknowledged %s", k, term, start, to, acked)
		mu.Unlock()
		wk.Restart(t)

		// The recovered end may be past what was acknowledged (flushed, the
		// ack lost with the kill); the next burst starts there, so it too
		// must leave room before the end of the capture.
		recovered := acked
		if flush, _, ok, err := e2e.TimelineStatus(ctx, wk.Addr, ttid); err == nil && ok {
			recovered = max(recovered, flush)
		}
		if recovered >= w.End-pgwal.LSN(8<<20) {
			// Near the end of the capture: go on with a fresh timeline.
			ttid, acked, term = e2e.NewTTID(), 0, 0
			timelines++
		}
	}
	t.Logf("%d of %d kills hit a stream in flight, %d timelines", midStream, kills, timelines)
	if midStream < kills/2 {
		t.Fatalf("only %d of %d kills hit a stream in flight", midStream, kills)
	}
	// The last timeline after its last restart.
	if acked > 0 {
		flush, _, _, err := e2e.TimelineStatus(ctx, wk.Addr, ttid)
		if err != nil || flush < acked {
			t.Fatalf("final TIMELINE_STATUS flush %s %v, acknowledged %s", flush, err, acked)
		}
		checkStored(t, filepath.Join(dataDir, ttid.Tenant.String(), ttid.Timeline.String()), w, first, flush)
	}
}

// checkStored compares a timeline's stored WAL in [from, to) with
// PostgreSQL's.
func checkStored(t *testing.T, dir string, w *e2e.WAL, from, to pgwal.LSN) {
	t.Helper()
	if to <= from {
		return
	}
	got, err := e2e.ReadStored(dir, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if d := e2e.FirstDiff(from, got, w.Bytes(from, to)); d != 0 {
		t.Fatalf("stored WAL differs from PostgreSQL's at %s (checked %s..%s)", d, from, to)
	}
}
