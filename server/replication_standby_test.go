package server

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
)

// startStandby makes a hot standby of p with pg_basebackup whose
// walreceiver streams from walkeeper at addr, and starts it.
func startStandby(t *testing.T, p *primary, addr string) *pgtest.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := pgtest.OwnedDir(t)
	dir := filepath.Join(base, "standby")
	if out, err := pgtest.Command(ctx, t, filepath.Join(p.BinDir, "pg_basebackup"), "-h", "127.0.0.1",
		"-p", fmt.Sprint(p.Port), "-U", "postgres", "-D", dir, "-X", "none", "-c", "fast", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("pg_basebackup: %v\n%s", err, out)
	}
	port := pgtest.FreePort(t)
	conninfo := strings.ReplaceAll(walkeeperConnString(addr, "standby1"), "'", "''")
	conf := fmt.Sprintf("\nport = %d\nprimary_conninfo = '%s'\nhot_standby = on\nhot_standby_feedback = on\n"+
		"wal_receiver_status_interval = 1s\nwal_retrieve_retry_interval = 500ms\n", port, conninfo)
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
	chownLike(t, signal, dir)
	logFile := filepath.Join(base, "standby.log")
	pgctl := filepath.Join(p.BinDir, "pg_ctl")
	if out, err := pgtest.Command(ctx, t, pgctl, "start", "-w", "-t", "60", "-D", dir, "-l", logFile).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(logFile)
		t.Fatalf("standby start: %v\n%s\n%s", err, out, log)
	}
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(logFile)
			t.Logf("standby log:\n%s", log)
		}
		_ = pgtest.Command(context.Background(), t, pgctl, "stop", "-m", "immediate", "-D", dir).Run()
	})
	return &pgtest.Cluster{BinDir: p.BinDir, DataDir: dir, Port: port}
}

func pgbench(t *testing.T, p *primary, args ...string) {
	t.Helper()
	args = append([]string{"-h", "127.0.0.1", "-p", fmt.Sprint(p.Port), "-U", "postgres"}, args...)
	if out, err := exec.Command(pgtest.Bin(t, "pgbench"), append(args, "postgres")...).CombinedOutput(); err != nil {
		t.Fatalf("pgbench %v: %v\n%s", args, err, out)
	}
}

func waitReplayed(t *testing.T, s *pgtest.Cluster, lsn pgwal.LSN) {
	t.Helper()
	pgtest.WaitFor(t, 45*time.Second, "standby to replay "+lsn.String(), func() bool {
		l, err := pgwal.ParseLSN(s.Psql(t, "select coalesce(pg_last_wal_replay_lsn(), '0/0')"))
		return err == nil && l >= lsn
	})
}

const accountsQuery = "select count(*), sum(abalance) from pgbench_accounts"

// TestReplicationStandby runs a PostgreSQL 15 hot standby whose only WAL
// source is walkeeper: it replays pgbench to the same data as the primary,
// its hot-standby xmin reaches the proposer in AppendResponses, and after a
// walkeeper restart on the same port and data directory it reconnects by
// itself and catches up with WAL pushed by a newly elected proposer.
func TestReplicationStandby(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	p := startPrimary(t)
	start := p.switchWAL(t)
	dataDir := t.TempDir()
	addrs, stop := startRun(t, Config{DataDir: dataDir, ID: 1, NoSync: true, Logger: testLogger(t)})
	addr := addrs.PG.String()
	u := startPusher(t, p, addr, 1, start)
	pgbench(t, p, "-i", "-s", "1", "-q")
	s := startStandby(t, p, addr)
	pgbench(t, p, "-t", "300", "-c", "2", "-n")
	end := p.lsn(t, "pg_current_wal_flush_lsn()")
	u.waitCommitted(t, addr, end)
	waitReplayed(t, s, end)
	if got, want := s.Psql(t, accountsQuery), p.Psql(t, accountsQuery); got != want {
		t.Fatalf("standby %s, primary %s", got, want)
	}

	// The standby's hot-standby feedback reaches the proposer.
	var ar walproto.AppendResponse
	deadline := time.Now().Add(30 * time.Second)
	for ar.HotStandby.Xmin == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no hot-standby xmin in AppendResponses; last %+v", ar)
		}
		p.Psql(t, "update pgbench_branches set bbalance = bbalance + 1 where bid = 1")
		ar = u.waitResponse(t, 5*time.Second, "an AppendResponse", func(walproto.AppendResponse) bool { return true })
		time.Sleep(100 * time.Millisecond)
	}
	xid, _ := strconv.ParseUint(p.Psql(t, "select txid_current()"), 10, 64)
	if ar.HotStandby.Xmin > xid || ar.HotStandby.Xmin < 3 {
		t.Fatalf("hot-standby xmin %d is not a FullTransactionId below the primary's next xid %d", ar.HotStandby.Xmin, xid)
	}
	t.Logf("AppendResponse carries the standby's xmin %d (primary xid %d)", ar.HotStandby.Xmin, xid)

	// Restart walkeeper on the same port and data directory; a new
	// proposer term continues the timeline, the standby reconnects.
	u.stop()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	addrs, _ = startRun(t, Config{DataDir: dataDir, ID: 1, NoSync: true, ListenPG: addr, Logger: testLogger(t)})
	u = startPusher(t, p, addrs.PG.String(), 2, 0)
	pgbench(t, p, "-t", "300", "-c", "2", "-n")
	end = p.lsn(t, "pg_current_wal_flush_lsn()")
	u.waitCommitted(t, addr, end)
	waitReplayed(t, s, end)
	if got, want := s.Psql(t, accountsQuery), p.Psql(t, accountsQuery); got != want {
		t.Fatalf("after restart: standby %s, primary %s", got, want)
	}
	t.Logf("standby replayed to %s through a walkeeper restart: %s", end, s.Psql(t, accountsQuery))
}
