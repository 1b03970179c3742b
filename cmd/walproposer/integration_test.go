package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/walkeeper/walkeeper/internal/e2e"
	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/server"
)

const (
	tenantHex   = "cf0480929707ee75372337efaa5ecf96"
	timelineHex = "112ded66422aa5e953e5440fa5427ac4"
)

// startKeeper runs an in-process walkeeper until the test ends and returns
// its libpq address.
func startKeeper(t *testing.T, id uint64) string {
	t.Helper()
	ready := make(chan server.Addrs, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, server.Config{DataDir: t.TempDir(), ID: id, ListenPG: "127.0.0.1:0", ListenHTTP: "127.0.0.1:0",
			NoSync: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(a server.Addrs) { ready <- a }})
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case a := <-ready:
		return a.PG.String()
	case err := <-done:
		t.Fatalf("walkeeper: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("walkeeper did not start")
	}
	return ""
}

func flushLSN(t *testing.T, addr string) pgwal.LSN {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pgconn.Connect(ctx, fmt.Sprintf("host=%s port=%s user=x dbname=x sslmode=disable options='-c tenant_id=%s timeline_id=%s'",
		host, port, tenantHex, timelineHex))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	res, err := c.Exec(ctx, "TIMELINE_STATUS").ReadAll()
	if err != nil || len(res) == 0 || len(res[0].Rows) == 0 {
		t.Fatalf("TIMELINE_STATUS: %v", err)
	}
	lsn, err := pgwal.ParseLSN(string(res[0].Rows[0][0]))
	if err != nil {
		t.Fatal(err)
	}
	return lsn
}

// TestBinary runs the built walproposer against a real PostgreSQL 15 with
// synchronous_standby_names and three walkeepers: a COMMIT completes
// through it, SIGTERM stops it cleanly, and --sync-safekeepers then prints
// the walkeepers' common end.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts PostgreSQL")
	}
	bin := filepath.Join(t.TempDir(), "walproposer")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	pg := pgtest.Start(t, pgtest.Options{Conf: []string{"synchronous_standby_names = 'walproposer'", "wal_keep_size = '256MB'"}})
	var sks []string
	for id := uint64(1); id <= 3; id++ {
		sks = append(sks, startKeeper(t, id))
	}
	common := []string{"--safekeepers", strings.Join(sks, ","), "--tenant-id", tenantHex, "--timeline-id", timelineHex,
		"--primary", pg.ConnString("postgres")}
	wp := exec.Command(bin, append(common, "--log-format", "json", "--status-interval", "500ms")...)
	var logs e2e.SyncBuffer
	wp.Stderr = &logs
	if err := wp.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- wp.Wait() }()
	t.Cleanup(func() { wp.Process.Kill() })
	pgtest.WaitFor(t, 20*time.Second, "walproposer as sync standby", func() bool {
		return pg.Psql(t, "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'walproposer'") == "sync"
	})
	pg.Psql(t, "CREATE TABLE t AS SELECT g FROM generate_series(1, 10000) g")
	pgtest.WaitFor(t, 5*time.Second, "a status line", func() bool { return strings.Contains(logs.String(), `"msg":"status"`) })
	wp.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("walproposer exit: %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("walproposer did not exit on SIGTERM\n%s", logs.String())
	}

	out, err := exec.Command(bin, append(common, "--sync-safekeepers")...).Output()
	if err != nil {
		t.Fatalf("--sync-safekeepers: %v", err)
	}
	lsn, err := pgwal.ParseLSN(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("--sync-safekeepers printed %q: %v", out, err)
	}
	for _, sk := range sks {
		if f := flushLSN(t, sk); f != lsn {
			t.Errorf("walkeeper %s flush %s, sync printed %s", sk, f, lsn)
		}
	}
	t.Logf("sync-safekeepers: %s", lsn)
}
