package walproposer

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/internal/pgtest"
)

// inserters commit single-row inserts on several connections and count the
// acknowledged ones.
type inserters struct {
	acked  []atomic.Int64
	total  atomic.Int64
	cancel context.CancelFunc
	halt   atomic.Bool // finish the insert in flight, then stop
	wg     sync.WaitGroup
	errs   chan error
}

func startInserters(t *testing.T, pg *pgtest.Cluster, n int) *inserters {
	ctx, cancel := context.WithCancel(context.Background())
	ins := &inserters{acked: make([]atomic.Int64, n), cancel: cancel, errs: make(chan error, n)}
	for w := range n {
		c, err := pg.Connect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ins.wg.Add(1)
		go func() {
			defer ins.wg.Done()
			defer c.Close(context.Background())
			for i := 0; ctx.Err() == nil && !ins.halt.Load(); i++ {
				_, err := c.Exec(ctx, fmt.Sprintf("INSERT INTO t VALUES (%d, %d)", w, i)).ReadAll()
				if err != nil {
					if ctx.Err() == nil {
						ins.errs <- err
					}
					return
				}
				ins.acked[w].Add(1)
				ins.total.Add(1)
			}
		}()
	}
	t.Cleanup(ins.stop)
	return ins
}

func (ins *inserters) stop() { ins.cancel(); ins.wg.Wait() }

// finish lets every insert in flight return, so each committed row is
// acknowledged or none is pending.
func (ins *inserters) finish() { ins.halt.Store(true); ins.wg.Wait() }

func (ins *inserters) counts() []int64 {
	out := make([]int64, len(ins.acked))
	for i := range ins.acked {
		out[i] = ins.acked[i].Load()
	}
	return out
}

// TestStoppedWalkeepers: one of three walkeepers stopped, commits go on;
// two stopped, they wait; one restarted, every waiting commit finishes
// within 10 s; the table then holds exactly the acknowledged inserts.
func TestStoppedWalkeepers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	pg := pgtest.Start(t, pgtest.Options{Conf: syncConf})
	ks := startKeepers(t, 3)
	runProposer(t, Config{Safekeepers: addrs(ks), Primary: pg.ConnString("postgres"), ReconnectTimeout: 500 * time.Millisecond})
	waitSyncStandby(t, pg)
	pg.Psql(t, "CREATE TABLE t (w int, i int)")
	ins := startInserters(t, pg, 3)
	progress := func(what string, d time.Duration) {
		t.Helper()
		before := ins.total.Load()
		pgtest.WaitFor(t, d, what, func() bool { return ins.total.Load() >= before+20 })
	}
	progress("commits with 3 walkeepers", 10*time.Second)

	ks[0].stop()
	progress("commits with walkeeper 1 stopped", 10*time.Second)

	ks[1].stop()
	time.Sleep(time.Second) // commits flushed on a quorum before the stop may still return
	blocked := ins.counts()
	time.Sleep(3 * time.Second)
	if now := ins.counts(); fmt.Sprint(now) != fmt.Sprint(blocked) {
		t.Fatalf("commits went on with 2 of 3 walkeepers stopped: %v then %v", blocked, now)
	}

	restarted := time.Now()
	ks[1].start()
	pgtest.WaitFor(t, 10*time.Second, "every waiting commit to finish", func() bool {
		now := ins.counts()
		for i := range now {
			if now[i] <= blocked[i] {
				return false
			}
		}
		return true
	})
	t.Logf("waiting commits finished %v after the restart", time.Since(restarted).Round(time.Millisecond))

	ins.finish()
	select {
	case err := <-ins.errs:
		t.Fatalf("insert failed: %v", err)
	default:
	}
	if got, want := pg.Psql(t, "SELECT count(*) FROM t"), strconv.FormatInt(ins.total.Load(), 10); got != want {
		t.Fatalf("rows = %s, acknowledged inserts = %s", got, want)
	}
}
