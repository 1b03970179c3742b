package walproposer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/pgwal"
)

// errNoReplication: the walkeeper does not serve START_REPLICATION yet.
var errNoReplication = errors.New("walkeeper does not serve START_REPLICATION")

// walkeeperServesReplication asks the walkeeper at addr for a commit-mode
// stream at from and reports whether it starts one.
func walkeeperServesReplication(t *testing.T, addr string, from pgwal.LSN) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg, err := pgconn.ParseConfig(standbyConnInfo(addr))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := dialRepl(ctx, cfg)
	if err != nil {
		return err
	}
	defer rc.Close()
	err = rc.start(ctx, fmt.Sprintf("START_REPLICATION PHYSICAL %s", from))
	if err != nil && strings.Contains(err.Error(), "not implemented") {
		return fmt.Errorf("%w: %v", errNoReplication, err)
	}
	return err
}

// standbyConnInfo is the conninfo a standby uses to stream from a walkeeper.
func standbyConnInfo(addr string) string {
	host, port, _ := strings.Cut(addr, ":")
	return fmt.Sprintf("host=%s port=%s user=postgres dbname=replication sslmode=disable options='-c timeline_id=%s tenant_id=%s'",
		host, port, testTimeline, testTenant)
}

// startStandby takes a base backup of pg without WAL and starts a hot
// standby that streams the WAL from the walkeeper at addr.
func startStandby(t *testing.T, pg *pgtest.Cluster, addr string) *pgtest.Cluster {
	t.Helper()
	bin := pgtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := pgtest.OwnedDir(t)
	dir := filepath.Join(base, "standby")
	if out, err := pgtest.Command(ctx, t, filepath.Join(bin, "pg_basebackup"), "-h", "127.0.0.1",
		"-p", fmt.Sprint(pg.Port), "-U", pgtest.Superuser, "-D", dir, "-X", "none", "-c", "fast", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("pg_basebackup: %v\n%s", err, out)
	}
	port := pgtest.FreePort(t)
	conninfo := strings.ReplaceAll(standbyConnInfo(addr), "'", "''")
	conf := fmt.Sprintf("\nport = %d\nprimary_conninfo = '%s'\nhot_standby = on\nsynchronous_standby_names = ''\n"+
		"hot_standby_feedback = on\nwal_receiver_status_interval = 1s\n"+
		"unix_socket_directories = '%s'\n", port, conninfo, base)
	f, err := os.OpenFile(filepath.Join(dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(conf); err != nil {
		t.Fatal(err)
	}
	f.Close()
	signal := filepath.Join(dir, "standby.signal")
	if err := os.WriteFile(signal, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if st, ok := statOwner(dir); ok {
		os.Chown(signal, st.Uid, st.Gid)
	}
	logFile := filepath.Join(base, "standby.log")
	pgctl := filepath.Join(bin, "pg_ctl")
	if out, err := pgtest.Command(ctx, t, pgctl, "start", "-w", "-t", "60", "-D", dir, "-l", logFile).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(logFile)
		t.Fatalf("standby start: %v\n%s\n%s", err, out, log)
	}
	t.Cleanup(func() {
		_ = pgtest.Command(context.Background(), t, pgctl, "stop", "-m", "immediate", "-D", dir).Run()
	})
	return &pgtest.Cluster{BinDir: bin, DataDir: dir, Port: port}
}

type owner struct{ Uid, Gid int }

func statOwner(path string) (owner, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return owner{}, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return owner{}, false
	}
	return owner{int(st.Uid), int(st.Gid)}, true
}

// checksums are per-table digests of the pgbench tables and t.
const checksumSQL = `SELECT string_agg(tbl || ':' || sum, ' ' ORDER BY tbl) FROM (
  SELECT 'accounts' tbl, md5(string_agg(aid || ',' || abalance, ';' ORDER BY aid)) sum FROM pgbench_accounts
  UNION ALL SELECT 'branches', md5(string_agg(bid || ',' || bbalance, ';' ORDER BY bid)) FROM pgbench_branches
  UNION ALL SELECT 'tellers', md5(string_agg(tid || ',' || tbalance, ';' ORDER BY tid)) FROM pgbench_tellers
  UNION ALL SELECT 'history', md5(string_agg(tid || ',' || aid || ',' || delta || ',' || mtime, ';' ORDER BY mtime, tid, aid, delta)) FROM pgbench_history) s`

// checkStandby waits until the standby replayed the primary's flush
// position and compares table checksums.
func checkStandby(t *testing.T, pg, standby *pgtest.Cluster) {
	t.Helper()
	target, err := pgwal.ParseLSN(pg.Psql(t, "SELECT pg_current_wal_flush_lsn()"))
	if err != nil {
		t.Fatal(err)
	}
	pgtest.WaitFor(t, 60*time.Second, "standby to replay "+target.String(), func() bool {
		out := standby.Psql(t, "SELECT coalesce(pg_last_wal_replay_lsn(), '0/0')")
		l, err := pgwal.ParseLSN(out)
		return err == nil && l >= target
	})
	want, got := pg.Psql(t, checksumSQL), standby.Psql(t, checksumSQL)
	if got != want {
		t.Fatalf("standby checksums %s, primary %s", got, want)
	}
	t.Logf("standby matches the primary: %s", got)
}

// TestStandbyFromWalkeeper: a standby built from a base backup without WAL
// streams from a walkeeper fed by the walproposer and ends with the
// primary's table checksums. It needs START_REPLICATION on walkeeper.
func TestStandbyFromWalkeeper(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL twice")
	}
	pg := pgtest.Start(t, pgtest.Options{Conf: syncConf})
	ks := startKeepers(t, 3)
	p, _ := runProposer(t, Config{Safekeepers: addrs(ks), Primary: pg.ConnString("postgres")})
	st := waitElected(t, p)
	waitSyncStandby(t, pg)
	if err := walkeeperServesReplication(t, ks[1].addr, st.TermStart); errors.Is(err, errNoReplication) {
		t.Skipf("NOT CHECKED: %v", err)
	}
	if out, err := pgbench(context.Background(), t, pg, "-i", "-s", "1", "-q").CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	standby := startStandby(t, pg, ks[1].addr)
	if out, err := pgbench(context.Background(), t, pg, "-n", "-c", "2", "-t", "200").CombinedOutput(); err != nil {
		t.Fatalf("pgbench: %v\n%s", err, out)
	}
	checkStandby(t, pg, standby)
	// The standby's hot standby feedback goes to the walkeeper, comes back
	// in AppendResponses and is relayed to the primary's slot.
	pgtest.WaitFor(t, 20*time.Second, "the standby's xmin on the primary's slot", func() bool {
		return pg.Psql(t, "SELECT xmin IS NOT NULL FROM pg_replication_slots WHERE slot_name = 'walproposer'") == "t"
	})
}
