package walproposer

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/pgwal"
)

// TestProposerRestart: walkeepers 1 and 2 stop, so the commits in flight
// reach only walkeeper 3, which ends up with the longest (uncommitted)
// tail; the walproposer is stopped. A new walproposer elected by walkeepers
// 1 and 2 picks a higher term starting at or after the old commit, and
// when walkeeper 3 comes back its tail beyond the new term's start is
// truncated (the walkeeper checks our start_streaming_at) and replaced.
// Every acknowledged insert is in the table and the three walkeepers end
// with byte-identical WAL.
func TestProposerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	pg := pgtest.Start(t, pgtest.Options{Conf: syncConf})
	ks := startKeepers(t, 3)
	cfg := Config{Safekeepers: addrs(ks), Primary: pg.ConnString("postgres"), ReconnectTimeout: 500 * time.Millisecond}
	a, stopA := runProposer(t, cfg)
	first := waitElected(t, a)
	waitSyncStandby(t, pg)
	pg.Psql(t, "CREATE TABLE t (w int, i int)")
	ins := startInserters(t, pg, 2)
	before := ins.total.Load()
	pgtest.WaitFor(t, 10*time.Second, "commits", func() bool { return ins.total.Load() >= before+50 })

	ks[0].stop()
	ks[1].stop()
	time.Sleep(1500 * time.Millisecond) // pending COMMIT records reach walkeeper 3 only
	// Those COMMITs may all have reached the three walkeepers before the
	// stops (seen under -race: no tail, nothing to truncate). A
	// non-transactional message is flushed at once and waits for no
	// standby, so WAL that only walkeeper 3 receives always follows.
	emitted, err := pgwal.ParseLSN(pg.Psql(t, "SELECT pg_logical_emit_message(false, 'tail', repeat('x', 2000))"))
	if err != nil {
		t.Fatal(err)
	}
	pgtest.WaitFor(t, 10*time.Second, "walkeeper 3 to flush WAL the others did not get", func() bool {
		f, _, _ := ks[2].status(context.Background())
		return f >= emitted
	})
	oldCommit := a.CommitLSN()
	stopA()
	tail, _, err := ks[2].status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ks[2].stop()
	ks[0].start()
	ks[1].start()

	b, _ := runProposer(t, cfg)
	second := waitElected(t, b)
	t.Logf("term %d started at %s; old commit %s; walkeeper 3's tail ends at %s", second.Term, second.TermStart, oldCommit, tail)
	if second.Term <= first.Term || second.TermStart < oldCommit {
		t.Fatalf("new term %d at %s after term %d committed %s", second.Term, second.TermStart, first.Term, oldCommit)
	}
	if second.TermStart >= tail {
		t.Fatalf("walkeeper 3 (%s) is not ahead of the new term start %s: no tail to truncate", tail, second.TermStart)
	}
	before = ins.total.Load()
	pgtest.WaitFor(t, 15*time.Second, "commits in the new term", func() bool { return ins.total.Load() >= before+20 })

	ks[2].start()
	pgtest.WaitFor(t, 15*time.Second, "walkeeper 3 to follow the new term", func() bool {
		f, _, _ := ks[2].status(context.Background())
		return f > tail && b.Status().Flush[2] > tail
	})
	ins.finish()
	if got, want := pg.Psql(t, "SELECT count(*) FROM t"), strconv.FormatInt(ins.total.Load(), 10); got != want {
		t.Fatalf("rows = %s, acknowledged inserts = %s", got, want)
	}
	end := b.CommitLSN()
	pgtest.WaitFor(t, 10*time.Second, "every walkeeper to flush the commit", func() bool {
		for _, k := range ks {
			if f, _, _ := k.status(context.Background()); f < end {
				return false
			}
		}
		return true
	})
	sameWAL(t, []string{ks[0].dir, ks[1].dir, ks[2].dir}, first.TermStart, end)
}
