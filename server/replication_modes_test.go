package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/proposer"
	"github.com/walkeeper/walkeeper/walproto"
)

// dialProposer connects a proposer to the test timeline and wins term.
func dialProposer(ctx context.Context, t testing.TB, addr string, pgVersion uint32, sysID uint64, term uint64) (*proposer.Conn, walproto.VoteResponse) {
	t.Helper()
	c, err := proposer.Dial(ctx, proposer.Config{Addr: addr, TenantID: replTTID.Tenant, TimelineID: replTTID.Timeline,
		ProtoVersion: 3, AllowTimelineCreation: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Greet(ctx, walproto.ProposerGreeting{PgVersion: pgVersion, SystemID: sysID, WalSegSize: segSize}); err != nil {
		t.Fatal(err)
	}
	vr, err := c.Vote(ctx, term)
	if err != nil || !vr.VoteGiven {
		t.Fatalf("vote %d: %+v, %v", term, vr, err)
	}
	return c, vr
}

// checkChunk asserts the XLogData rules of replication.md §3.3: at most
// 128 KiB, within one segment, never beyond wal_end, and cut at a page
// boundary unless it reaches wal_end (or the timeline start, where the
// synthetic prefix ends).
func checkChunk(t *testing.T, m streamMsg, tlStart pgwal.LSN) {
	t.Helper()
	end := m.walStart + pgwal.LSN(len(m.data))
	switch {
	case len(m.data) == 0 || len(m.data) > pgwal.MaxSendSize:
		t.Fatalf("XLogData of %d bytes", len(m.data))
	case end > m.walEnd:
		t.Fatalf("XLogData [%s, %s) beyond wal_end %s", m.walStart, end, m.walEnd)
	case (end - 1).SegmentNumber(segSize) != m.walStart.SegmentNumber(segSize):
		t.Fatalf("XLogData [%s, %s) crosses a segment", m.walStart, end)
	case end != m.walEnd && end%pgwal.XLogBlockSize != 0 && end != tlStart:
		t.Fatalf("XLogData [%s, %s) short of wal_end %s is not cut at a page", m.walStart, end, m.walEnd)
	}
}

// readUntilIdle reads XLogData from pos until a keepalive arrives with nothing
// left to send (wal_end == pos), and returns the bytes and the messages'
// largest wal_end.
func readUntilIdle(ctx context.Context, t *testing.T, r *reader, pos, tlStart pgwal.LSN) ([]byte, pgwal.LSN) {
	t.Helper()
	var got []byte
	var maxEnd pgwal.LSN
	for {
		m, err := r.next(ctx)
		if err != nil {
			t.Fatalf("stream at %s: %v", pos, err)
		}
		maxEnd = max(maxEnd, m.walEnd)
		if m.tag == 'k' {
			if m.walEnd == pos {
				return got, maxEnd
			}
			continue
		}
		checkChunk(t, m, tlStart)
		if m.walStart != pos {
			t.Fatalf("XLogData at %s, expected %s", m.walStart, pos)
		}
		got = append(got, m.data...)
		pos += pgwal.LSN(len(m.data))
	}
}

// TestReplicationModes drives both end watches with a hand-made proposer
// over a real PostgreSQL 15 segment whose commit_lsn is held far below
// flush_lsn: a commit-mode reader gets exactly the WAL up to commit_lsn,
// a term reader up to flush_lsn; a new term ends the term reader with the
// spec's error; CopyDone is answered with CopyDone.
func TestReplicationModes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	seg, start, pgVersion, sysID := pgSegment(t)
	segStart := start - 40
	end := segStart + segSize
	dataDir := t.TempDir()
	addrs, _ := startRun(t, Config{DataDir: dataDir, ID: 1, NoSync: true, Logger: testLogger(t)})
	addr := addrs.PG.String()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	prop, _ := dialProposer(ctx, t, addr, pgVersion, sysID, 1)
	if err := prop.Elect(start, walproto.TermHistory{{Term: 1, LSN: start}}); err != nil {
		t.Fatal(err)
	}
	// commit_lsn: a record end (as a quorum's flush_lsn always is) 300 kB
	// in, far below the flush (the XLOG_SWITCH takes it to the segment end).
	commit := pgwal.LSN(0)
	dec := pgwal.NewDecoder(start, pgVersion)
	dec.Feed(seg[start-segStart:])
	for commit < start+300_000 {
		rec, ok, err := dec.Next()
		if err != nil || !ok {
			t.Fatalf("no record end past %s: %v", start+300_000, err)
		}
		commit = rec.NextLSN
	}
	for pos := start; pos < end; {
		n := min(pgwal.LSN(walproto.MaxWALPerAppend), end-pos)
		if err := prop.Append(pos, seg[pos-segStart:pos-segStart+n], min(commit, pos), 0); err != nil {
			t.Fatal(err)
		}
		pos += n
	}
	if err := prop.Append(end, nil, commit, 0); err != nil {
		t.Fatal(err)
	}
	for flushed := pgwal.LSN(0); flushed < end; {
		m, err := prop.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ar, ok := m.(walproto.AppendResponse); ok {
			flushed = ar.FlushLSN
		}
	}
	// The last heartbeat may have been processed before the flush: repeat.
	if err := prop.Append(end, nil, commit, 0); err != nil {
		t.Fatal(err)
	}
	waitFor := func(what string, cond func() bool) {
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("commit_lsn", func() bool { return commitLSN(ctx, t, addr) == commit })

	// Commit mode: from the segment start (synthetic prefix first) to
	// commit_lsn exactly, then keepalives.
	cr := dialReader(ctx, t, addr, "commit-reader")
	if err := startStream(ctx, cr.c, fmt.Sprintf("START_REPLICATION PHYSICAL %s", segStart)); err != nil {
		t.Fatal(err)
	}
	got, maxEnd := readUntilIdle(ctx, t, cr, segStart, start)
	if maxEnd != commit || segStart+pgwal.LSN(len(got)) != commit {
		t.Fatalf("commit reader got up to %s (wal_end %s), commit_lsn is %s", segStart+pgwal.LSN(len(got)), maxEnd, commit)
	}
	if !bytes.Equal(got[40:], seg[40:commit-segStart]) {
		t.Fatal("commit reader's bytes differ from PostgreSQL's")
	}
	// An idle stream gets a keepalive (reply requested) about every second.
	began := time.Now()
	for range 2 {
		if m, err := cr.next(ctx); err != nil || m.tag != 'k' || m.walEnd != commit {
			t.Fatalf("idle stream: %+v, %v", m, err)
		}
	}
	if d := time.Since(began); d < 1500*time.Millisecond || d > 6*time.Second {
		t.Fatalf("two keepalives took %v", d)
	}
	// CopyDone is answered with CopyDone.
	cr.c.Frontend().Send(&pgproto3.CopyDone{})
	if err := cr.c.Frontend().Flush(); err != nil {
		t.Fatal(err)
	}
	for {
		msg, err := cr.c.ReceiveMessage(ctx)
		if err != nil {
			t.Fatalf("after CopyDone: %v", err)
		}
		if _, ok := msg.(*pgproto3.CopyDone); ok {
			break
		}
		if _, ok := msg.(*pgproto3.CopyData); !ok {
			t.Fatalf("after CopyDone got %T", msg)
		}
	}

	// Flush mode: up to flush_lsn, past commit_lsn.
	fr := dialReader(ctx, t, addr, "wal_proposer_recovery")
	if err := startStream(ctx, fr.c, fmt.Sprintf("START_REPLICATION PHYSICAL %s (term='1')", start)); err != nil {
		t.Fatal(err)
	}
	got, _ = readUntilIdle(ctx, t, fr, start, start)
	flushEnd := start + pgwal.LSN(len(got))
	if flushEnd <= commit || !bytes.Equal(got, seg[40:flushEnd-segStart]) {
		t.Fatalf("term reader got [%s, %s), commit_lsn %s", start, flushEnd, commit)
	}

	// A new proposer wins term 2: the term reader's stream ends.
	prop.Close()
	prop2, vr := dialProposer(ctx, t, addr, pgVersion, sysID, 2)
	if err := prop2.Elect(vr.FlushLSN, append(vr.TermHistory, walproto.TermLsn{Term: 2, LSN: vr.FlushLSN})); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := fr.next(ctx)
		if err == nil {
			continue
		}
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "XX000" || pe.Message != "term changed: requested 1, now 2" {
			t.Fatalf("term reader ended with %v", err)
		}
		break
	}
	// A term reader that starts late is refused around its first read.
	late := dialReader(ctx, t, addr, "wal_proposer_recovery")
	if err := startStream(ctx, late.c, fmt.Sprintf("START_REPLICATION PHYSICAL %s (term='1')", start)); err != nil {
		t.Fatal(err)
	}
	_, err := late.next(ctx)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "XX000" || pe.Message != "failed to acquire term 1, current term 2" {
		t.Fatalf("late term reader: %v", err)
	}
	t.Logf("commit reader stopped at commit_lsn %s, term reader at flush_lsn %s; late term reader: %q", commit, flushEnd, pe.Message)

	// Clear errors for WAL before the timeline's first segment and for WAL
	// no longer on disk.
	streamError := func(from pgwal.LSN) *pgconn.PgError {
		r := dialReader(ctx, t, addr, "late")
		if err := startStream(ctx, r.c, fmt.Sprintf("START_REPLICATION PHYSICAL %s", from)); err != nil {
			t.Fatal(err)
		}
		_, err := r.next(ctx)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "XX000" {
			t.Fatalf("stream from %s: %v", from, err)
		}
		return pe
	}
	want := fmt.Sprintf("Requested streaming from %s, which is before the start of the timeline %s, "+
		"and also doesn't start at the first segment of that timeline", segStart-1, start)
	if pe := streamError(segStart - 1); pe.Message != want {
		t.Fatalf("before the timeline: %q", pe.Message)
	}
	name := pgwal.SegmentName(start.SegmentNumber(segSize), segSize)
	if err := os.Remove(filepath.Join(dataDir, replTTID.Tenant.String(), replTTID.Timeline.String(), name)); err != nil {
		t.Fatal(err)
	}
	if pe := streamError(start); pe.Message != "WAL segment is not found: "+name {
		t.Fatalf("removed segment: %q", pe.Message)
	}

	// TIMELINE_HISTORY, which a standby sends only above timeline 1, gets
	// the answer of a primary without that history file.
	hr := dialReader(ctx, t, addr, "standby")
	_, err = hr.c.Exec(ctx, "TIMELINE_HISTORY 2").ReadAll()
	if !errors.As(err, &pe) || pe.Code != "58P01" {
		t.Fatalf("TIMELINE_HISTORY: %v", err)
	}
}
