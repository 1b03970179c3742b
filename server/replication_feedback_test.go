package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/replication"
	"github.com/walkeeper/walkeeper/walproto"
)

// sendPageserverFeedback sends a 'z' message as the pageserver does.
func (r *reader) sendPageserverFeedback(t *testing.T, fb walproto.PageserverFeedback) {
	t.Helper()
	r.c.Frontend().Send(&pgproto3.CopyData{Data: replication.AppendPageserverFeedbackMessage(nil, fb)})
	if err := r.c.Frontend().Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestReplicationPageserverFeedback plays a pageserver against a timeline
// fed by a proposer: its 'z' feedback is relayed into the proposer's
// AppendResponses, and its stream ends with Neon's "ending streaming"
// completion only once no compute is connected and it reported
// remote_consistent_lsn >= commit_lsn (the stop rule, replication.md §5.2).
func TestReplicationPageserverFeedback(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	seg, start, pgVersion, sysID := pgSegment(t)
	segStart := start - 40
	addrs, _ := startRun(t, Config{DataDir: t.TempDir(), ID: 1, NoSync: true, Logger: testLogger(t), AvailabilityZone: "az-1"})
	addr := addrs.PG.String()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	prop, _ := dialProposer(ctx, t, addr, pgVersion, sysID, 1)
	if err := prop.Elect(start, walproto.TermHistory{{Term: 1, LSN: start}}); err != nil {
		t.Fatal(err)
	}
	const part = 1 << 20 // a few records are enough
	for pos := start; pos < start+part; {
		n := min(pgwal.LSN(walproto.MaxWALPerAppend), start+part-pos)
		if err := prop.Append(pos, seg[pos-segStart:pos-segStart+n], 0, 0); err != nil {
			t.Fatal(err)
		}
		pos += n
	}
	var flushed pgwal.LSN
	for flushed == 0 || flushed < start+part-pgwal.XLogBlockSize {
		m, err := prop.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ar, ok := m.(walproto.AppendResponse); ok {
			flushed = ar.FlushLSN
		}
	}
	if err := prop.Append(start+part, nil, flushed, 0); err != nil {
		t.Fatal(err)
	}
	commit := flushed
	deadline := time.Now().Add(10 * time.Second)
	for commitLSN(ctx, t, addr) != commit {
		if time.Now().After(deadline) {
			t.Fatalf("commit_lsn did not reach %s", commit)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The pageserver says which zone it is in, as Neon's does.
	psCfg, err := pgconn.ParseConfig(walkeeperConnString(addr, "pageserver-1"))
	if err != nil {
		t.Fatal(err)
	}
	psCfg.RuntimeParams["replication"] = "true"
	psCfg.RuntimeParams["options"] += " availability_zone=az-1"
	psConn, err := pgconn.ConnectConfig(ctx, psCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { psConn.Close(context.Background()) })
	ps := &reader{c: psConn}
	if err := startStream(ctx, ps.c, fmt.Sprintf("START_REPLICATION PHYSICAL %s", start)); err != nil {
		t.Fatal(err)
	}
	readUntilIdle(ctx, t, ps, start, start)

	// Feedback is broadcast to the walproposer connection.
	fb := walproto.PageserverFeedback{CurrentTimelineSize: 1234, LastReceivedLSN: commit, DiskConsistentLSN: commit,
		RemoteConsistentLSN: commit - 100, ReplyTime: 42}
	ps.sendPageserverFeedback(t, fb)
	for {
		m, err := prop.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ar, ok := m.(walproto.AppendResponse); ok && ar.PageserverFeedback != nil {
			if *ar.PageserverFeedback != fb || ar.FlushLSN != flushed {
				t.Fatalf("relayed AppendResponse %+v, feedback %+v", ar, *ar.PageserverFeedback)
			}
			break
		}
	}

	// The feedback and the connection's bytes are in /metrics.
	_, body := apiGet(t, "GET", "http://"+addrs.HTTP.String()+"/metrics")
	text := string(body)
	labels := `{tenant_id="` + replTTID.Tenant.String() + `",timeline_id="` + replTTID.Timeline.String() + `"}`
	for series, want := range map[string]float64{
		"safekeeper_ps_feedback_count_total" + labels:      1,
		"safekeeper_ps_last_received_lsn" + labels:         float64(commit),
		"safekeeper_feedback_last_time_seconds" + labels:   946684800, // replytime 42 µs after 2000-01-01
		"safekeeper_ps_corruption_detected" + labels:       0,
		"safekeeper_interpreted_wal_reader_tasks" + labels: 0,
	} {
		if got := metricValue(t, text, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	for _, dir := range []string{"read", "write"} {
		series := `safekeeper_pg_io_bytes_total{app_name="pageserver-1",client_az="az-1",dir="` + dir + `",same_az="true",sk_az="az-1"}`
		if metricValue(t, text, series) <= 0 {
			t.Errorf("%s is 0", series)
		}
	}

	// A compute is connected: the caught-up stream goes on.
	expectKeepalives := func(n int) {
		for range n {
			m, err := ps.next(ctx)
			if err != nil || m.tag != 'k' || m.walEnd != commit {
				t.Fatalf("expected a keepalive at %s: %+v, %v", commit, m, err)
			}
		}
	}
	ps.sendPageserverFeedback(t, walproto.PageserverFeedback{LastReceivedLSN: commit, RemoteConsistentLSN: commit})
	expectKeepalives(2)
	// No compute, but the pageserver has not everything: it goes on.
	prop.Close()
	ps.sendPageserverFeedback(t, walproto.PageserverFeedback{LastReceivedLSN: commit, RemoteConsistentLSN: commit - 1})
	time.Sleep(500 * time.Millisecond) // the push session ends
	expectKeepalives(2)
	// No compute and caught up: the stream ends with a completion.
	ps.sendPageserverFeedback(t, walproto.PageserverFeedback{LastReceivedLSN: commit, RemoteConsistentLSN: commit})
	for {
		m, err := ps.next(ctx)
		if err == nil && m.tag == 'k' {
			continue
		}
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "00000" || !strings.Contains(pe.Message, "ending streaming") ||
			!strings.Contains(pe.Message, "receiver is caughtup and there is no computes") {
			t.Fatalf("stream ended with %v", err)
		}
		t.Logf("pageserver stream ended: %s", pe.Message)
		break
	}
}
