package acceptor

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
	"github.com/walkeeper/walkeeper/walstore"
)

// realSegment makes PostgreSQL 15 write one whole segment that starts with
// a fresh record (after a WAL switch) and ends with an XLOG_SWITCH, and
// returns its bytes, its start LSN, and the server's identity.
func realSegment(t *testing.T) (seg []byte, start pgwal.LSN, pgVersion uint32, sysID uint64) {
	t.Helper()
	c := pgtest.Start(t, pgtest.Options{})
	v, err := strconv.ParseUint(c.Psql(t, "show server_version_num"), 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	sysID, err = strconv.ParseUint(c.Psql(t, "select system_identifier from pg_control_system()"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
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
	if len(seg) != pgwal.DefaultSegmentSize {
		t.Fatalf("segment of %d bytes", len(seg))
	}
	return seg, pgwal.LSN(segNo*pgwal.DefaultSegmentSize) + 40, uint32(v), sysID
}

// realTimeline opens the WAL and control stores of a timeline in dir.
func realTimeline(t *testing.T, dir string, pgVersion uint32, sysID uint64) (*Core, *walstore.Store, *controlfile.Store) {
	t.Helper()
	ctl, err := controlfile.Open(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	st := ctl.State()
	wal, err := walstore.Open(walstore.Config{Dir: dir, SegSize: pgwal.DefaultSegmentSize, PGVersion: pgVersion,
		SystemID: sysID, NoSync: true}, st.CommitLSN, st.TimelineStartLSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wal.Close() })
	core, err := NewCore(Config{NodeID: tvNode, WAL: wal, Control: ctl, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return core, wal, ctl
}

// TestRealWAL streams a real PostgreSQL 15 segment through a Session into
// walstore and controlfile, restarts, and elects a second term.
func TestRealWAL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	seg, start, pgVersion, sysID := realSegment(t)
	segEnd := start - 40 + pgwal.DefaultSegmentSize

	dir := t.TempDir()
	server := controlfile.ServerInfo{PGVersion: pgVersion, SystemID: sysID, WalSegSize: pgwal.DefaultSegmentSize}
	st, err := controlfile.New(ids.TTID{Tenant: tvTenant, Timeline: tvTimeline}, controlfile.Configuration{}, server, 0, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := controlfile.Create(dir, st, true); err != nil {
		t.Fatal(err)
	}

	// The segment's record ends: a commit_lsn is always one of them (a
	// quorum's flush_lsn).
	var ends []pgwal.LSN
	dec := pgwal.NewDecoder(start, pgVersion)
	dec.Feed(seg[40:])
	for {
		rec, ok, err := dec.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		ends = append(ends, rec.NextLSN)
	}
	lastEndUpTo := func(l pgwal.LSN) pgwal.LSN {
		e := pgwal.LSN(0)
		for _, x := range ends {
			if x <= l {
				e = x
			}
		}
		return e
	}

	// Session 1: a fresh compute streams the segment in chunks cut at
	// arbitrary byte positions, as the walproposer does, each announcing
	// the last record end of the chunks before it as commit_lsn.
	core, wal, _ := realTimeline(t, dir, pgVersion, sysID)
	h := newHarness(t, nil)
	h.sess.Open = func(context.Context, *walproto.ProposerGreeting) (*Core, error) { return core, nil }
	h.start()
	g := tvGreeting()
	g.PgVersion, g.SystemID = pgVersion, sysID
	h.push(g, walproto.VoteRequest{Term: 1},
		walproto.ProposerElected{Term: 1, StartStreamingAt: start, TermHistory: walproto.TermHistory{{Term: 1, LSN: start}}})
	commit := pgwal.LSN(0)
	for pos := start; pos < segEnd; {
		n := min(pgwal.LSN(100_003), segEnd-pos)
		off := pos - (start - 40)
		h.push(walproto.AppendRequest{Term: 1, BeginLSN: pos, EndLSN: pos + n, CommitLSN: commit, WAL: seg[off : off+n]})
		commit = lastEndUpTo(pos)
		pos += n
	}
	h.eof()
	if err := h.wait(); err != nil {
		t.Fatalf("session 1: %v", err)
	}
	got := h.replies()
	last, ok := got[len(got)-1].(walproto.AppendResponse)
	if !ok || last.FlushLSN != segEnd || last.Term != 1 {
		t.Fatalf("last reply %+v, want flush_lsn %s (the XLOG_SWITCH ends the segment)", got[len(got)-1], segEnd)
	}
	if last.CommitLSN < start {
		t.Fatalf("persisted commit_lsn %s never reached the term start %s", last.CommitLSN, start)
	}
	name := filepath.Join(dir, pgwal.SegmentName(start.SegmentNumber(pgwal.DefaultSegmentSize), pgwal.DefaultSegmentSize))
	stored, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("completed segment not under its final name: %v", err)
	}
	if !bytes.Equal(stored[40:], seg[40:]) {
		t.Fatal("stored segment differs from PostgreSQL's")
	}
	if err := wal.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart: both stores recover, and a new proposer gets a vote for
	// term 2 on the recovered end and starts its term there.
	core, wal, ctl := realTimeline(t, dir, pgVersion, sysID)
	if wal.FlushRecordLSN() != segEnd || core.Term() != 1 {
		t.Fatalf("after restart: flush_record_lsn %s term %d", wal.FlushRecordLSN(), core.Term())
	}
	v, err := core.Vote(&walproto.VoteRequest{Term: 2})
	if err != nil || !v.VoteGiven || v.FlushLSN != segEnd || len(v.TermHistory) != 1 || v.TermHistory[0] != (walproto.TermLsn{Term: 1, LSN: start}) {
		t.Fatalf("vote after restart: %+v, %v", v, err)
	}
	err = core.Elected(&walproto.ProposerElected{Term: 2, StartStreamingAt: segEnd,
		TermHistory: walproto.TermHistory{{Term: 1, LSN: start}, {Term: 2, LSN: segEnd}}})
	if err != nil {
		t.Fatal(err)
	}
	if p := ctl.Persisted(); p.Acceptor.Term != 2 || len(p.Acceptor.TermHistory) != 2 || p.TimelineStartLSN != start || p.LocalStartLSN != start {
		t.Fatalf("control file after second election: %+v", p)
	}
	if _, err := os.Stat(name); err != nil {
		t.Fatalf("truncating at the segment end lost the completed segment: %v", err)
	}
}
