package walproposer

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/pgwal"
)

// probe is one committed probe transaction, when its COMMIT returned, and
// the walkeepers' flush positions read right after.
type probe struct {
	xid      uint32
	returned time.Time
	flushes  []pgwal.LSN
}

// TestSyncCommitQuorum: with synchronous_standby_names naming the
// walproposer, during pgbench -c 4 -T 20, every committed probe
// transaction's COMMIT record (its end from pg_waldump) had been reported
// flushed by at least 2 of 3 walkeepers when COMMIT returned: proxies on
// the walproposer⇄walkeeper connections timestamp every AppendResponse,
// and the walkeepers' own TIMELINE_STATUS read right after agrees.
func TestSyncCommitQuorum(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and pgbench for 20 s")
	}
	pg := pgtest.Start(t, pgtest.Options{Conf: syncConf})
	ks := startKeepers(t, 3)
	var taps []*tapProxy
	var tapAddrs []string
	for _, k := range ks {
		taps = append(taps, startTapProxy(t, k.addr))
		tapAddrs = append(tapAddrs, taps[len(taps)-1].addr)
	}
	p, _ := runProposer(t, Config{Safekeepers: tapAddrs, Primary: pg.ConnString("postgres")})
	st := waitElected(t, p)
	waitSyncStandby(t, pg)
	ctx := context.Background()
	if out, err := pgbench(ctx, t, pg, "-i", "-s", "2", "-q").CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	pg.Psql(t, "CREATE TABLE probe (id int PRIMARY KEY, xid bigint)")

	bench := pgbench(ctx, t, pg, "-n", "-c", "4", "-T", "20")
	var benchOut strings.Builder
	bench.Stdout, bench.Stderr = &benchOut, &benchOut
	if err := bench.Start(); err != nil {
		t.Fatal(err)
	}
	benchDone := make(chan error, 1)
	go func() { benchDone <- bench.Wait() }()

	c, err := pg.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var probes []probe
	for id := 1; ; id++ {
		select {
		case err := <-benchDone:
			if err != nil {
				t.Fatalf("pgbench: %v\n%s", err, benchOut.String())
			}
			checkProbes(t, pg, st.TermStart, probes, taps)
			t.Logf("%d probes; pgbench: %s", len(probes), tpsLine(benchOut.String()))
			return
		default:
		}
		res := mustExec(t, c, "BEGIN; INSERT INTO probe VALUES ("+strconv.Itoa(id)+", txid_current()) RETURNING xid; COMMIT")
		returned := time.Now()
		xid, _ := strconv.ParseUint(string(res[1].Rows[0][0]), 10, 64)
		probes = append(probes, probe{xid: uint32(xid), returned: returned, flushes: flushes(t, ks)})
		time.Sleep(20 * time.Millisecond)
	}
}

// waitSyncStandby waits until the primary sees the walproposer as its
// synchronous standby.
func waitSyncStandby(t *testing.T, pg *pgtest.Cluster) {
	t.Helper()
	pgtest.WaitFor(t, 15*time.Second, "walproposer as sync standby", func() bool {
		return pg.Psql(t, "SELECT application_name FROM pg_stat_replication WHERE sync_state = 'sync'") == "walproposer"
	})
}

// flushes reads every walkeeper's flush_lsn concurrently (0 if down).
func flushes(t *testing.T, ks []*keeper) []pgwal.LSN {
	out := make([]pgwal.LSN, len(ks))
	var wg sync.WaitGroup
	for i, k := range ks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			out[i], _, _ = k.status(ctx)
		}()
	}
	wg.Wait()
	return out
}

// checkProbes requires each probe's COMMIT record end to be flushed on a
// walkeeper quorum.
func checkProbes(t *testing.T, pg *pgtest.Cluster, from pgwal.LSN, probes []probe, taps []*tapProxy) {
	t.Helper()
	if len(probes) < 10 {
		t.Fatalf("only %d probes", len(probes))
	}
	ends := commitEnds(t, pg, from)
	for _, pr := range probes {
		end, ok := ends[pr.xid]
		if !ok {
			t.Fatalf("no COMMIT record for xid %d", pr.xid)
		}
		n := 0
		for _, f := range pr.flushes {
			if f >= end {
				n++
			}
		}
		if n < 2 {
			t.Errorf("xid %d: commit ends at %s, walkeeper flushes %v", pr.xid, end, pr.flushes)
		}
		reported := 0
		for _, tp := range taps {
			if tp.reportedBy(end, pr.returned) {
				reported++
			}
		}
		if reported < 2 {
			t.Errorf("xid %d: commit ends at %s, only %d walkeepers had reported it when COMMIT returned", pr.xid, end, reported)
		}
	}
}

func tpsLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "tps") {
			return l
		}
	}
	return "(no tps line)"
}
