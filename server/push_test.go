package server

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/internal/e2e"
	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/proposer"
	"github.com/walkeeper/walkeeper/walproto"
)

// pgSegment makes PostgreSQL 15 fill one segment that starts after a WAL
// switch and ends with one, and returns its bytes, the LSN of its first
// record and the server's identity.
func pgSegment(t *testing.T) (seg []byte, start pgwal.LSN, pgVersion uint32, sysID uint64) {
	t.Helper()
	c := pgtest.Start(t, pgtest.Options{})
	v, _ := strconv.ParseUint(c.Psql(t, "show server_version_num"), 10, 32)
	sysID, _ = strconv.ParseUint(c.Psql(t, "select system_identifier from pg_control_system()"), 10, 64)
	c.Psql(t, "create table t (id int, v text)")
	c.Psql(t, "select pg_switch_wal()")
	at, err := pgwal.ParseLSN(c.Psql(t, "select pg_current_wal_insert_lsn()"))
	if err != nil {
		t.Fatal(err)
	}
	segNo := at.SegmentNumber(pgwal.DefaultSegmentSize)
	c.Psql(t, "insert into t select g, repeat('x', 100) from generate_series(1, 5000) g")
	c.Psql(t, "select pg_switch_wal()")
	seg, err = os.ReadFile(filepath.Join(c.WALDir(), pgwal.SegmentName(segNo, pgwal.DefaultSegmentSize)))
	if err != nil {
		t.Fatal(err)
	}
	return seg, pgwal.LSN(segNo*pgwal.DefaultSegmentSize) + 40, uint32(v), sysID
}

// psqlStatus runs TIMELINE_STATUS through the real psql.
func psqlStatus(t *testing.T, addr string, ttid ids.TTID) string {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	conn := "host=" + host + " port=" + port + " user=x dbname=x sslmode=disable options='-c tenant_id=" +
		ttid.Tenant.String() + " timeline_id=" + ttid.Timeline.String() + "'"
	out, err := exec.Command(pgtest.Bin(t, "psql"), "-X", "-A", "-t", "-d", conn, "-c", "TIMELINE_STATUS").CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestWALPushEndToEnd streams a real PostgreSQL 15 segment through the
// server with the proposer client, reads the result back with psql, and
// checks that a restarted server still has it.
func TestWALPushEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	seg, start, pgVersion, sysID := pgSegment(t)
	end := start - 40 + pgwal.DefaultSegmentSize
	dataDir := t.TempDir()
	ttid := ids.TTID{Tenant: ids.MustParse("cf0480929707ee75372337efaa5ecf96"), Timeline: ids.MustParse("112ded66422aa5e953e5440fa5427ac4")}
	addrs, stop := startRun(t, Config{DataDir: dataDir, ID: 1, Logger: testLogger(t)})
	addr := addrs.PG.String()
	if got := psqlStatus(t, addr, ttid); got != "" {
		t.Fatalf("TIMELINE_STATUS before creation = %q, want no rows", got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := proposer.Dial(ctx, proposer.Config{Addr: addr, TenantID: ttid.Tenant, TimelineID: ttid.Timeline,
		ProtoVersion: 3, AllowTimelineCreation: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ag, err := c.Greet(ctx, walproto.ProposerGreeting{PgVersion: pgVersion, SystemID: sysID})
	if err != nil || ag.NodeID != 1 || ag.Term != 0 {
		t.Fatalf("greeting = %+v, %v", ag, err)
	}
	vr, err := c.Vote(ctx, 1)
	if err != nil || !vr.VoteGiven || vr.FlushLSN != 0 {
		t.Fatalf("vote = %+v, %v", vr, err)
	}
	if err := c.Elect(start, walproto.TermHistory{{Term: 1, LSN: start}}); err != nil {
		t.Fatal(err)
	}
	// Append in 128 KiB pieces cut at arbitrary bytes, as the walproposer does.
	sent := make(chan error, 1)
	go func() {
		defer close(sent)
		for pos := start; pos < end; {
			n := min(pgwal.LSN(walproto.MaxWALPerAppend-int(pos%7)), end-pos)
			off := pos - (start - 40)
			if err := c.Append(pos, seg[off:off+n], 0, 0); err != nil {
				sent <- err
				return
			}
			pos += n
		}
	}()
	var flush pgwal.LSN
	for flush < end {
		m, err := c.Receive(ctx)
		if err != nil {
			t.Fatalf("receive at flush %s: %v", flush, err)
		}
		ar, ok := m.(walproto.AppendResponse)
		if !ok || ar.Term != 1 || ar.FlushLSN < flush {
			t.Fatalf("unexpected %+v after flush %s", m, flush)
		}
		flush = ar.FlushLSN
	}
	// After the final XLOG_SWITCH the record-aligned flush_lsn is already the
	// next segment start while its zero padding is still in flight.
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	// The proposer learns the quorum commit and tells the safekeeper.
	if err := c.Append(end, nil, end, start); err != nil {
		t.Fatal(err)
	}
	// AppendResponse carries the persisted commit_lsn, TIMELINE_STATUS the
	// in-memory one: poll until the heartbeat has been processed.
	want := end.String() + "|" + end.String()
	pgtest.WaitFor(t, 10*time.Second, "commit_lsn to reach "+end.String(), func() bool {
		return psqlStatus(t, addr, ttid) == want
	})
	c.Close()

	// The stored segment equals PostgreSQL's from the first streamed byte.
	tlDir := filepath.Join(dataDir, ttid.Tenant.String(), ttid.Timeline.String())
	got, err := os.ReadFile(filepath.Join(tlDir, pgwal.SegmentName(end.SegmentNumber(pgwal.DefaultSegmentSize)-1, pgwal.DefaultSegmentSize)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[40:], seg[40:]) {
		t.Fatal("stored segment differs from PostgreSQL's")
	}

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	addrs, _ = startRun(t, Config{DataDir: dataDir, Logger: testLogger(t)})
	if got := psqlStatus(t, addrs.PG.String(), ttid); got != want {
		t.Fatalf("after restart TIMELINE_STATUS = %q, want %q", got, want)
	}
}

// testLogger collects the server's log and prints it if the test fails.
func testLogger(t testing.TB) *slog.Logger {
	var buf e2e.SyncBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
