package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/internal/watch"
	"github.com/walkeeper/walkeeper/pgwal"
)

// This file drives Serve with real PostgreSQL 15 clients through a tiny
// test-only libpq backend (pgproto3). It is not pgwire: it answers just
// enough (IDENTIFY_SYSTEM, two SHOWs, TIMELINE_HISTORY, START_REPLICATION)
// for pg_receivewal and a streaming standby, with WAL read straight from a
// real primary's pg_wal.

// segDirReader reads WAL segments of a PostgreSQL pg_wal directory.
type segDirReader struct{ dir string }

func (r segDirReader) ReadAt(p []byte, lsn pgwal.LSN) (int, error) {
	const seg = pgwal.DefaultSegmentSize
	off := lsn.SegmentOffset(seg)
	if uint64(len(p)) > seg-off {
		p = p[:seg-off]
	}
	f, err := os.Open(filepath.Join(r.dir, pgwal.SegmentName(lsn.SegmentNumber(seg), seg)))
	if err != nil {
		return 0, fmt.Errorf("WAL segment is not found: %w", err)
	}
	defer f.Close()
	return f.ReadAt(p, int64(off))
}

// pgStream adapts a pgproto3.Backend to Stream.
type pgStream struct {
	be   *pgproto3.Backend
	conn net.Conn
}

func (s *pgStream) Start() error {
	s.be.Send(&pgproto3.CopyBothResponse{OverallFormat: 0})
	return s.be.Flush()
}

func (s *pgStream) Receive() ([]byte, error) {
	msg, err := s.be.Receive()
	if err != nil {
		return nil, err
	}
	switch m := msg.(type) {
	case *pgproto3.CopyData:
		return bytes.Clone(m.Data), nil
	case *pgproto3.CopyDone, *pgproto3.Terminate:
		return nil, io.EOF
	case *pgproto3.CopyFail:
		return nil, fmt.Errorf("%w: %s", ErrCopyFail, m.Message)
	default:
		return nil, fmt.Errorf("unexpected message %T in COPY", msg)
	}
}

func (s *pgStream) Send(p []byte) error {
	s.be.Send(&pgproto3.CopyData{Data: p})
	return s.be.Flush()
}

func (s *pgStream) SendError(state, msg string) error {
	s.be.Send(&pgproto3.ErrorResponse{Severity: "ERROR", Code: state, Message: msg})
	return s.be.Flush()
}

func (s *pgStream) SendCopyDone() error {
	s.be.Send(&pgproto3.CopyDone{})
	return s.be.Flush()
}

func (s *pgStream) Close() error { return s.conn.Close() }

// testServer is the tiny replication server.
type testServer struct {
	t        *testing.T
	ln       net.Listener
	systemID string
	walDir   string
	commit   *watch.Value[pgwal.LSN]
	senders  *WalSenders
	idle     time.Duration
	wg       sync.WaitGroup
	mu       sync.Mutex
	queries  []string
	results  []error
}

func newTestServer(t *testing.T, systemID, walDir string, commit *watch.Value[pgwal.LSN]) *testServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{t: t, ln: ln, systemID: systemID, walDir: walDir, commit: commit, senders: NewWalSenders(RegistryOptions{})}
	ctx, cancel := context.WithCancel(context.Background())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				context.AfterFunc(ctx, func() { c.Close() })
				s.serveConn(ctx, c)
			}()
		}
	}()
	t.Cleanup(func() {
		cancel()
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *testServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *testServer) record(q string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = append(s.queries, q)
	if err != nil {
		s.results = append(s.results, fmt.Errorf("%s: %w", q, err))
	}
}

func (s *testServer) serveConn(ctx context.Context, c net.Conn) {
	be := pgproto3.NewBackend(c, c)
	be.SetMaxBodyLen(1 << 20)
	var appName string
	for {
		msg, err := be.ReceiveStartupMessage()
		if err != nil {
			return
		}
		switch m := msg.(type) {
		case *pgproto3.SSLRequest, *pgproto3.GSSEncRequest:
			if _, err := c.Write([]byte{'N'}); err != nil {
				return
			}
			continue
		case *pgproto3.StartupMessage:
			appName = m.Parameters["application_name"]
		default:
			return
		}
		break
	}
	be.Send(&pgproto3.AuthenticationOk{})
	be.Send(&pgproto3.ParameterStatus{Name: "client_encoding", Value: "UTF8"})
	be.Send(&pgproto3.ParameterStatus{Name: "integer_datetimes", Value: "on"})
	be.Send(&pgproto3.ParameterStatus{Name: "server_version", Value: "14.1"})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if be.Flush() != nil {
		return
	}
	text := func(name string) pgproto3.FieldDescription {
		return pgproto3.FieldDescription{Name: []byte(name), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1}
	}
	row := func(tag string, cols []string, vals ...[]byte) {
		fds := make([]pgproto3.FieldDescription, len(cols))
		for i, c := range cols {
			fds[i] = text(c)
		}
		be.Send(&pgproto3.RowDescription{Fields: fds})
		be.Send(&pgproto3.DataRow{Values: vals})
		be.Send(&pgproto3.CommandComplete{CommandTag: []byte(tag)})
	}
	for {
		msg, err := be.Receive()
		if err != nil {
			return
		}
		q, ok := msg.(*pgproto3.Query)
		if !ok {
			return // Terminate or anything else
		}
		switch {
		case strings.HasPrefix(q.String, "IDENTIFY_SYSTEM"):
			row("IDENTIFY_SYSTEM", []string{"systemid", "timeline", "xlogpos", "dbname"},
				[]byte(s.systemID), []byte("1"), []byte(s.commit.Get().String()), nil)
		case q.String == "SHOW wal_segment_size":
			row("SHOW", []string{"wal_segment_size"}, []byte("16MB"))
		case q.String == "SHOW data_directory_mode":
			row("SHOW", []string{"data_directory_mode"}, []byte("0700"))
		case strings.HasPrefix(q.String, "TIMELINE_HISTORY"):
			state, m := TimelineHistoryError(q.String)
			be.Send(&pgproto3.ErrorResponse{Severity: "ERROR", Code: state, Message: m})
		case strings.HasPrefix(q.String, "START_REPLICATION"):
			cmd, err := ParseStartReplication(q.String)
			if err != nil {
				be.Send(&pgproto3.ErrorResponse{Severity: "ERROR", Code: SQLStateInternal, Message: err.Error()})
				break
			}
			cfg := Config{Command: cmd, Info: SenderInfo{Addr: c.RemoteAddr().String(), AppName: appName},
				Senders: s.senders, CommitLSN: s.commit, Computes: func() int { return 1 }, IdleTimeout: s.idle,
				OpenReader: func(pgwal.LSN) (WALReader, error) { return segDirReader{s.walDir}, nil }}
			err = Serve(ctx, cfg, &pgStream{be: be, conn: c})
			s.record(q.String, err)
			return
		default:
			be.Send(&pgproto3.ErrorResponse{Severity: "ERROR", Code: SQLStateInternal, Message: "unsupported command " + q.String})
		}
		be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		if be.Flush() != nil {
			return
		}
	}
}

func (s *testServer) errs() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.results...)
}

// primaryWithWAL starts a PostgreSQL 15 primary and writes WAL across a few
// segments, returning it, its system identifier and its flush LSN.
func primaryWithWAL(t *testing.T) (*pgtest.Cluster, string, pgwal.LSN) {
	pg := pgtest.Start(t, pgtest.Options{Conf: []string{"wal_keep_size = 1GB", "hot_standby = on"}})
	pg.Psql(t, "CREATE TABLE t (id int primary key, v text)")
	pg.Psql(t, "INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g")
	pg.Psql(t, "SELECT pg_switch_wal()")
	pg.Psql(t, "INSERT INTO t SELECT g, repeat('y', 200) FROM generate_series(20001, 40000) g")
	sysID := pg.Psql(t, "SELECT system_identifier FROM pg_control_system()")
	flush, err := pgwal.ParseLSN(pg.Psql(t, "SELECT pg_current_wal_flush_lsn()"))
	if err != nil {
		t.Fatal(err)
	}
	return pg, sysID, flush
}

// TestPGReceiveWAL streams a real primary's WAL, from the first segment up
// to its flush LSN, to pg_receivewal, and compares the files byte for byte.
func TestPGReceiveWAL(t *testing.T) {
	bin := pgtest.Require(t)
	pg, sysID, commitLSN := primaryWithWAL(t)
	commit := watch.New(commitLSN)
	srv := newTestServer(t, sysID, pg.WALDir(), commit)

	const seg = pgwal.DefaultSegmentSize
	dir := pgtest.OwnedDir(t)
	first := pgwal.SegmentName(1, seg)
	// A zero-filled, segment-sized .partial makes pg_receivewal start at
	// the beginning of segment 1 instead of the segment of xlogpos (§10).
	partial := filepath.Join(dir, first+pgwal.PartialSuffix)
	if err := os.WriteFile(partial, make([]byte, seg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(partial, ownerUID(t, dir), ownerGID(t, dir)); err != nil {
		t.Fatal(err)
	}
	endpos := commitLSN - 1 // it stops only after receiving WAL beyond endpos
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := pgtest.Command(ctx, t, filepath.Join(bin, "pg_receivewal"), "-h", "127.0.0.1",
		"-p", fmt.Sprint(srv.port()), "-U", "postgres", "-D", dir, "--no-loop", "--no-sync", "-w",
		"-E", endpos.String(), "-v")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pg_receivewal: %v\n%s", err, out)
	}
	t.Logf("pg_receivewal:\n%s", out)
	for _, err := range srv.errs() {
		t.Errorf("Serve: %v", err)
	}

	// Every byte pg_receivewal wrote below commit must equal the primary's.
	last := commitLSN.SegmentNumber(seg)
	for segNo := uint64(1); segNo <= last; segNo++ {
		name := pgwal.SegmentName(segNo, seg)
		got, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			got, err = os.ReadFile(filepath.Join(dir, name+pgwal.PartialSuffix))
		}
		if err != nil {
			t.Fatalf("segment %s: %v", name, err)
		}
		want, err := os.ReadFile(filepath.Join(pg.WALDir(), name))
		if err != nil {
			t.Fatal(err)
		}
		n := uint64(seg)
		if segNo == last {
			n = commitLSN.SegmentOffset(seg)
		}
		if !bytes.Equal(got[:n], want[:n]) {
			t.Fatalf("segment %s differs in its first %d bytes", name, n)
		}
		if segNo == last && bytes.ContainsFunc(got[n:], func(r rune) bool { return r != 0 }) {
			t.Fatalf("segment %s has bytes beyond commit_lsn %s", name, commitLSN)
		}
	}
	t.Logf("pg_receivewal received %d segments up to %s, identical to the primary's", last, commitLSN)
}

func statOf(t *testing.T, path string) *syscall.Stat_t {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t)
}

func ownerUID(t *testing.T, path string) int { return int(statOf(t, path).Uid) }
func ownerGID(t *testing.T, path string) int { return int(statOf(t, path).Gid) }

// TestPGStandby streams to a real PostgreSQL 15 hot standby: it must reach
// and replay the commit LSN, follow it as it moves, and its 'r' and 'h'
// messages must land in the registry with sane values (the 'h' xid/epoch
// rotation gives a small FullTransactionId, not xid<<32).
func TestPGStandby(t *testing.T) {
	bin := pgtest.Require(t)
	pg, sysID, before := primaryWithWAL(t)
	commit := watch.New(before)
	srv := newTestServer(t, sysID, pg.WALDir(), commit)
	srv.idle = 200 * time.Millisecond

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := filepath.Join(pgtest.OwnedDir(t), "standby")
	if out, err := pgtest.Command(ctx, t, filepath.Join(bin, "pg_basebackup"), "-h", "127.0.0.1",
		"-p", fmt.Sprint(pg.Port), "-U", "postgres", "-D", dir, "-X", "none", "-c", "fast", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("pg_basebackup: %v\n%s", err, out)
	}
	// The backup's checkpoint and end-of-backup record are newer WAL.
	flush, err := pgwal.ParseLSN(pg.Psql(t, "SELECT pg_current_wal_flush_lsn()"))
	if err != nil {
		t.Fatal(err)
	}
	commit.Set(flush)
	port := pgtest.FreePort(t)
	conf := fmt.Sprintf("\nport = %d\nprimary_conninfo = 'host=127.0.0.1 port=%d user=postgres application_name=replica'\n"+
		"hot_standby = on\nhot_standby_feedback = on\nwal_receiver_status_interval = 1s\n", port, srv.port())
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
	if err := os.Chown(signal, ownerUID(t, dir), ownerGID(t, dir)); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(filepath.Dir(dir), "standby.log")
	pgctl := filepath.Join(bin, "pg_ctl")
	if out, err := pgtest.Command(ctx, t, pgctl, "start", "-w", "-t", "60", "-D", dir, "-l", logFile).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(logFile)
		t.Fatalf("standby start: %v\n%s\n%s", err, out, log)
	}
	t.Cleanup(func() {
		_ = pgtest.Command(context.Background(), t, pgctl, "stop", "-m", "immediate", "-D", dir).Run()
	})
	standby := &pgtest.Cluster{BinDir: bin, DataDir: dir, Port: port}
	replayed := func() pgwal.LSN {
		l, err := pgwal.ParseLSN(standby.Psql(t, "SELECT coalesce(pg_last_wal_replay_lsn(), '0/0')"))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	pgtest.WaitFor(t, 60*time.Second, "standby to replay commit_lsn", func() bool { return replayed() >= flush })
	if got := standby.Psql(t, "SELECT count(*) FROM t"); got != "40000" {
		t.Fatalf("standby sees %s rows", got)
	}

	// Move commit forward: the standby follows.
	pg.Psql(t, "INSERT INTO t SELECT g, 'z' FROM generate_series(40001, 40100) g")
	flush2, err := pgwal.ParseLSN(pg.Psql(t, "SELECT pg_current_wal_flush_lsn()"))
	if err != nil {
		t.Fatal(err)
	}
	commit.Set(flush2)
	pgtest.WaitFor(t, 30*time.Second, "standby to follow commit_lsn", func() bool { return replayed() >= flush2 })
	if got := standby.Psql(t, "SELECT count(*) FROM t"); got != "40100" {
		t.Fatalf("standby sees %s rows", got)
	}

	nextXid, err := strconv.ParseUint(pg.Psql(t, "SELECT txid_current()"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	var fb Feedback
	pgtest.WaitFor(t, 30*time.Second, "standby feedback", func() bool {
		snap := srv.senders.Snapshot()
		if len(snap) != 1 {
			return false
		}
		fb = snap[0].Feedback
		return fb.Kind == FeedbackStandby && fb.Standby.Reply.ApplyLSN >= flush2 && fb.Standby.HotStandby.Xmin != 0
	})
	hs := fb.Standby.HotStandby
	if hs.Xmin > nextXid || hs.Xmin < 3 {
		t.Fatalf("hot standby xmin %d (epoch %d, xid %d) is not a plausible FullTransactionId below %d",
			hs.Xmin, hs.Xmin>>32, uint32(hs.Xmin), nextXid)
	}
	if agg := srv.senders.HotStandbyFeedback(); agg.Xmin != hs.Xmin {
		t.Fatalf("aggregate xmin %d, slot %d", agg.Xmin, hs.Xmin)
	}
	if snap := srv.senders.Snapshot(); snap[0].AppName != "replica" {
		t.Fatalf("appname %q", snap[0].AppName)
	}
	t.Logf("standby replayed to %s; reply %+v; hs %+v (primary next xid %d)", replayed(), fb.Standby.Reply, hs, nextXid)
	for _, err := range srv.errs() {
		t.Errorf("Serve: %v", err)
	}
}
