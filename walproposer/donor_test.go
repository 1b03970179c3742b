package walproposer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/pgwal"
)

// TestRecoveryFromDonor: a walkeeper was down while the primary recycled
// the WAL it misses (no wal_keep_size; the slot follows the commit). Back
// up, it gets that WAL from the donor walkeeper with START_REPLICATION …
// (term=…), then from the primary, and ends byte-identical to the others.
func TestRecoveryFromDonor(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	pg := pgtest.Start(t, pgtest.Options{Conf: []string{"synchronous_standby_names = 'walproposer'", "max_wal_senders = 20"}})
	ks := startKeepers(t, 3)
	p, _ := runProposer(t, Config{Safekeepers: addrs(ks), Primary: pg.ConnString("postgres"), ReconnectTimeout: 500 * time.Millisecond})
	st := waitElected(t, p)
	waitSyncStandby(t, pg)
	if err := walkeeperServesReplication(t, ks[0].addr, st.TermStart); errors.Is(err, errNoReplication) {
		t.Skipf("NOT CHECKED: %v", err)
	}
	pg.Psql(t, "CREATE TABLE t (x int)")
	pg.Psql(t, "INSERT INTO t SELECT generate_series(1, 1000)")
	lag := p.CommitLSN()
	pgtest.WaitFor(t, 10*time.Second, "walkeeper 3 to flush the table", func() bool {
		f, _, _ := ks[2].status(context.Background())
		return f >= lag
	})
	ks[2].stop()
	for range 4 {
		pg.Psql(t, "INSERT INTO t SELECT generate_series(1, 1000)")
		pg.Psql(t, "SELECT pg_switch_wal()")
	}
	pg.Psql(t, "INSERT INTO t SELECT generate_series(1, 1000)")
	pg.Psql(t, "CHECKPOINT")
	pg.Psql(t, "CHECKPOINT")
	seg := pgwal.SegmentName(lag.SegmentNumber(pgwal.DefaultSegmentSize), pgwal.DefaultSegmentSize)
	if _, err := os.Stat(filepath.Join(pg.WALDir(), seg)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the primary still has segment %s (%v)", seg, err)
	}
	ks[2].start()
	end := p.CommitLSN()
	pgtest.WaitFor(t, 20*time.Second, "walkeeper 3 to catch up to "+end.String(), func() bool {
		f, _, _ := ks[2].status(context.Background())
		return f >= end
	})
	sameWAL(t, []string{ks[0].dir, ks[1].dir, ks[2].dir}, st.TermStart, end)
	t.Logf("walkeeper 3 recovered from %s (segment %s gone from the primary) to %s", lag, seg, end)
}
