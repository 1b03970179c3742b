package walproposer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/pgwal"
)

// runSync runs one --sync-safekeepers round and returns its LSN.
func runSync(t *testing.T, cfg Config) pgwal.LSN {
	t.Helper()
	cfg.SyncSafekeepers = true
	cfg.TenantID, cfg.TimelineID = testTenant, testTimeline
	cfg.Logger = testLogger(t)
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lsn, err := p.Run(ctx)
	if err != nil || ctx.Err() != nil {
		t.Fatalf("sync-safekeepers: %s, %v (%v)", lsn, err, ctx.Err())
	}
	return lsn
}

// TestSyncSafekeepers: after a walproposer stopped with one walkeeper
// lagging far behind, sync mode elects, brings every walkeeper to the
// donor's end and returns that LSN; every walkeeper then has flush_lsn and
// commit_lsn equal to it, and a second run returns the same LSN.
func TestSyncSafekeepers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	t.Run("recovery from the primary", func(t *testing.T) { testSyncSafekeepers(t, true) })
	t.Run("recovery from the donor", func(t *testing.T) { testSyncSafekeepers(t, false) })
}

// testSyncSafekeepers runs the sync round with or without the primary; without
// it, the lagging walkeeper's WAL comes from the donor walkeeper.
func testSyncSafekeepers(t *testing.T, withPrimary bool) {
	pg := pgtest.Start(t, pgtest.Options{Conf: []string{"wal_keep_size = '512MB'"}})
	ks := startKeepers(t, 3)
	p, stop := runProposer(t, Config{Safekeepers: addrs(ks), Primary: pg.ConnString("postgres")})
	waitElected(t, p)
	pg.Psql(t, "CREATE TABLE a AS SELECT g FROM generate_series(1, 1000) g")
	pgtest.WaitFor(t, 10*time.Second, "walkeeper 3 to get the table", func() bool {
		f, _, _ := ks[2].status(context.Background())
		return f > p.Status().TermStart
	})
	lag, _, _ := ks[2].status(context.Background())
	ks[2].stop()
	pg.Psql(t, "CREATE TABLE b AS SELECT g FROM generate_series(1, 200000) g")
	target := pgwal.LSN(0)
	if lsn, err := pgwal.ParseLSN(pg.Psql(t, "SELECT pg_current_wal_flush_lsn()")); err == nil {
		target = lsn
	}
	pgtest.WaitFor(t, 20*time.Second, "walkeepers 1 and 2 to catch up", func() bool {
		a, _, _ := ks[0].status(context.Background())
		b, _, _ := ks[1].status(context.Background())
		return min(a, b) >= target-pgwal.XLogBlockSize // the primary may flush a bit more
	})
	stop()
	ks[2].start()
	syncCfg := Config{Safekeepers: addrs(ks), Primary: pg.ConnString("postgres")}
	if !withPrimary {
		if err := walkeeperServesReplication(t, ks[0].addr, lag); errors.Is(err, errNoReplication) {
			t.Skipf("NOT CHECKED: %v", err)
		}
		syncCfg.Primary = ""
		syncCfg.PgVersion = p.si.PgVersion
	}

	lsn := runSync(t, syncCfg)
	t.Logf("synced at %s; the lagging walkeeper was at %s", lsn, lag)
	if lag >= lsn-pgwal.DefaultSegmentSize/2 {
		t.Fatalf("walkeeper 3 at %s did not lag behind %s", lag, lsn)
	}
	if lsn < target-pgwal.XLogBlockSize {
		t.Fatalf("sync LSN %s below what a quorum had (%s)", lsn, target)
	}
	for i, k := range ks {
		flush, commit, err := k.status(context.Background())
		if err != nil || flush != lsn || commit != lsn {
			t.Errorf("walkeeper %d: flush %s, commit %s, %v; want both %s", i+1, flush, commit, err, lsn)
		}
	}
	sameWAL(t, []string{ks[0].dir, ks[1].dir, ks[2].dir}, p.Status().TermStart, lsn)
	if again := runSync(t, syncCfg); again != lsn {
		t.Fatalf("second sync = %s, want %s", again, lsn)
	}
}
