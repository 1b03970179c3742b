package timeline

import (
	"errors"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/replication"
	"github.com/walkeeper/walkeeper/walproto"
)

func newTimelineForTest(t *testing.T) *Timeline {
	t.Helper()
	r := newRegistry(t, t.TempDir())
	t.Cleanup(r.Close)
	tl, err := r.Create(newState(t, ttA))
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

// TestUnlockPublishesWatches: every change made under the lock reaches
// the walsender watches when the lock is released, and an unlock that
// changed nothing publishes nothing and allocates nothing.
func TestUnlockPublishesWatches(t *testing.T) { // not parallel: AllocsPerRun
	tl := newTimelineForTest(t)
	const start = pgwal.LSN(0x2000028)
	tl.Lock()
	err := tl.Control().Update(func(s *controlfile.State) {
		s.TimelineStartLSN, s.LocalStartLSN = start, start
		s.Acceptor.Term = 3
		s.Acceptor.TermHistory = controlfile.TermHistory{{Term: 3, LSN: start}}
	})
	tl.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	// No WAL is stored yet: a (term=…) stream ends at the raw storage flush
	// position, 0, while last_log_term is read at the consensus flush_lsn
	// (timeline_start_lsn here), which the history's term 3 covers.
	if got := tl.TermFlushLSNWatch().Get(); got != (replication.TermLSN{Term: 3, LSN: 0}) {
		t.Fatalf("flush watch %+v", got)
	}
	_, changed := tl.CommitLSNWatch().Load()
	tl.Lock()
	tl.Control().SetCommitLSN(start)
	tl.Unlock()
	select {
	case <-changed:
	default:
		t.Fatal("commit watch not woken")
	}
	if got := tl.CommitLSNWatch().Get(); got != start {
		t.Fatalf("commit watch %s", got)
	}
	_, changed = tl.CommitLSNWatch().Load()
	_, fchanged := tl.TermFlushLSNWatch().Load()
	if allocs := testing.AllocsPerRun(100, func() { tl.Lock(); tl.Unlock() }); allocs != 0 {
		t.Fatalf("Lock/Unlock without changes allocates %.1f times", allocs)
	}
	select {
	case <-changed:
		t.Fatal("commit watch woken without a change")
	case <-fchanged:
		t.Fatal("flush watch woken without a change")
	default:
	}
}

func TestWithTermReadLocked(t *testing.T) {
	t.Parallel()
	tl := newTimelineForTest(t)
	tl.Lock()
	if err := tl.Control().Update(func(s *controlfile.State) { s.Acceptor.Term = 2 }); err != nil {
		t.Fatal(err)
	}
	tl.Unlock()
	ran := false
	if err := tl.WithTermReadLocked(2, func() error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("same term: %v, ran %t", err, ran)
	}
	err := tl.WithTermReadLocked(1, func() error { t.Fatal("read ran under a stale term"); return nil })
	var te *replication.TermError
	if !errors.As(err, &te) || err.Error() != "failed to acquire term 1, current term 2" {
		t.Fatalf("stale term: %v", err)
	}
}

// TestSendersFeedIntoTimeline: a pageserver's remote_consistent_lsn only
// moves the timeline's value forward, a standby's hot-standby feedback is
// what the Core puts in AppendResponses, and push sessions are counted.
func TestSendersFeedIntoTimeline(t *testing.T) {
	t.Parallel()
	tl := newTimelineForTest(t)
	s := tl.WalSenders().Register(replication.SenderInfo{AppName: "pageserver-1"})
	s.RecordPageserverFeedback(walproto.PageserverFeedback{RemoteConsistentLSN: 0x5000})
	s.RecordPageserverFeedback(walproto.PageserverFeedback{RemoteConsistentLSN: 0x4000})
	if got := tl.State().RemoteConsistentLSN; got != 0x5000 {
		t.Fatalf("remote_consistent_lsn %s", got)
	}
	s.Unregister()

	hs := walproto.HotStandbyFeedback{TS: 7, Xmin: 1000, CatalogXmin: 900}
	st := tl.WalSenders().Register(replication.SenderInfo{AppName: "standby"})
	st.RecordHotStandbyFeedback(hs)
	if got := tl.hotStandbyFeedback(); got != hs {
		t.Fatalf("hot-standby feedback %+v", got)
	}
	st.Unregister()

	_, done1 := tl.AddWALReceiver(1)
	streaming2, done2 := tl.AddWALReceiver(2)
	streaming2()
	if got := tl.WALReceivers(); len(got) != 2 || got[0] != (Receiver{1, ReceiverVoting}) || got[1] != (Receiver{2, ReceiverStreaming}) {
		t.Fatalf("receivers %+v", got)
	}
	done1()
	done1()
	if n := tl.NumWALReceivers(); n != 1 {
		t.Fatalf("receivers %d", n)
	}
	done2()
	if n := tl.NumWALReceivers(); n != 0 {
		t.Fatalf("receivers %d", n)
	}
}

// BenchmarkLockUnlock is the cost the watches add to every unlock of the
// timeline lock: unchanged (nothing published) and with commit_lsn moving
// (one watch published).
func BenchmarkLockUnlock(b *testing.B) {
	r := NewRegistry(Config{DataDir: b.TempDir(), NoSync: true})
	defer r.Close()
	st, err := controlfile.New(ttA, controlfile.Configuration{},
		controlfile.ServerInfo{PGVersion: 150004, SystemID: 42, WalSegSize: 16 << 20}, 0, 0, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	tl, err := r.Create(st)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("unchanged", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tl.Lock()
			tl.Unlock()
		}
	})
	b.Run("commit_moves", func(b *testing.B) {
		b.ReportAllocs()
		l := pgwal.LSN(0)
		for b.Loop() {
			l++
			tl.Lock()
			tl.Control().SetCommitLSN(l)
			tl.Unlock()
		}
	})
}
