package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/proposer"
	"github.com/walkeeper/walkeeper/walproto"
)

// This file holds the helpers of the START_REPLICATION tests: a pusher that
// feeds a real PostgreSQL 15 primary's WAL into walkeeper through the
// proposer client (standing in for the walproposer), and a raw physical
// replication client.

var replTTID = ids.TTID{Tenant: ids.MustParse("0a1b2c3d4e5f60718293a4b5c6d7e8f9"), Timeline: ids.MustParse("f9e8d7c6b5a4938271605f4e3d2c1b0a")}

// primary is a PostgreSQL 15 server whose WAL the tests push.
type primary struct {
	*pgtest.Cluster
	sysID     uint64
	pgVersion uint32
}

func startPrimary(t testing.TB, conf ...string) *primary {
	t.Helper()
	c := pgtest.Start(t, pgtest.Options{Conf: append([]string{"wal_keep_size = 1GB", "hot_standby = on"}, conf...)})
	v, _ := strconv.ParseUint(c.Psql(t, "show server_version_num"), 10, 32)
	sysID, _ := strconv.ParseUint(c.Psql(t, "select system_identifier from pg_control_system()"), 10, 64)
	return &primary{Cluster: c, sysID: sysID, pgVersion: uint32(v)}
}

// switchWAL ends the current segment and returns the LSN of the first
// record of the next one (segment start + long page header): the timeline
// start the tests use.
func (p *primary) switchWAL(t testing.TB) pgwal.LSN {
	t.Helper()
	p.Psql(t, "select pg_switch_wal()")
	at := p.lsn(t, "pg_current_wal_insert_lsn()")
	return at - pgwal.LSN(at.SegmentOffset(pgwal.DefaultSegmentSize)) + 40
}

func (p *primary) lsn(t testing.TB, expr string) pgwal.LSN {
	t.Helper()
	l, err := pgwal.ParseLSN(p.Psql(t, "select "+expr))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// pusher streams the primary's WAL from a physical replication connection
// into walkeeper as AppendRequests of one proposer term, committing what
// walkeeper has flushed (a one-safekeeper quorum).
type pusher struct {
	prop   *proposer.Conn
	repl   *pgconn.PgConn
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	pos     pgwal.LSN // end of WAL sent to walkeeper
	last    walproto.AppendResponse
	err     error
	changed chan struct{}
}

// startPusher connects a proposer to walkeeper at addr, wins term and
// streams the primary's WAL into it.
//
// With a non-zero start the timeline is new and begins at start; with
// start 0 the proposer continues the timeline from walkeeper's flush_lsn,
// as a walproposer elected after a restart does.
func startPusher(t *testing.T, p *primary, addr string, term uint64, start pgwal.LSN) *pusher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	u := &pusher{cancel: cancel, changed: make(chan struct{})}
	t.Cleanup(u.stop)
	var err error
	u.prop, err = proposer.Dial(ctx, proposer.Config{Addr: addr, TenantID: replTTID.Tenant, TimelineID: replTTID.Timeline,
		ProtoVersion: 3, AllowTimelineCreation: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.prop.Greet(ctx, walproto.ProposerGreeting{PgVersion: p.pgVersion, SystemID: p.sysID,
		WalSegSize: pgwal.DefaultSegmentSize}); err != nil {
		t.Fatal(err)
	}
	vr, err := u.prop.Vote(ctx, term)
	if err != nil || !vr.VoteGiven {
		t.Fatalf("vote for term %d: %+v, %v", term, vr, err)
	}
	from, history := start, walproto.TermHistory{{Term: term, LSN: start}}
	if start == 0 {
		from = vr.FlushLSN
		history = append(vr.TermHistory, walproto.TermLsn{Term: term, LSN: from})
	}
	u.pos = from
	if err := u.prop.Elect(from, history); err != nil {
		t.Fatal(err)
	}

	cfg, err := pgconn.ParseConfig(p.ConnString("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["replication"] = "true"
	if u.repl, err = pgconn.ConnectConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	// PostgreSQL refuses to start beyond its flush position, which right
	// after a WAL switch is the segment start: start there and skip the
	// bytes before `from`.
	reqStart := from - pgwal.LSN(from.SegmentOffset(pgwal.DefaultSegmentSize))
	if err := startStream(ctx, u.repl, fmt.Sprintf("START_REPLICATION PHYSICAL %s TIMELINE 1", reqStart)); err != nil {
		t.Fatal(err)
	}
	chunks := make(chan xlogData, 64)
	u.wg.Add(3)
	go func() { defer u.wg.Done(); u.readPrimary(ctx, chunks) }()
	go func() { defer u.wg.Done(); u.forward(ctx, chunks) }()
	go func() { defer u.wg.Done(); u.readReplies(ctx) }()
	return u
}

type xlogData struct {
	start pgwal.LSN
	data  []byte
}

func (u *pusher) fail(err error) {
	u.mu.Lock()
	if u.err == nil {
		u.err = err
	}
	u.mu.Unlock()
}

// readPrimary receives XLogData from the primary and answers its
// keepalives with a status update so wal_sender_timeout never fires.
func (u *pusher) readPrimary(ctx context.Context, out chan<- xlogData) {
	defer close(out)
	for {
		msg, err := u.repl.ReceiveMessage(ctx)
		if err != nil {
			if ctx.Err() == nil {
				u.fail(fmt.Errorf("primary stream: %w", err))
			}
			return
		}
		cd, ok := msg.(*pgproto3.CopyData)
		if e, isErr := msg.(*pgproto3.ErrorResponse); isErr {
			u.fail(fmt.Errorf("primary stream: %w", pgconn.ErrorResponseToPgError(e)))
			return
		}
		if !ok || len(cd.Data) == 0 {
			continue
		}
		switch cd.Data[0] {
		case 'w':
			x := xlogData{start: pgwal.LSN(binary.BigEndian.Uint64(cd.Data[1:])), data: append([]byte(nil), cd.Data[25:]...)}
			select {
			case out <- x:
			case <-ctx.Done():
				return
			}
		case 'k':
			if cd.Data[17] != 0 {
				u.mu.Lock()
				pos := u.pos
				u.mu.Unlock()
				_ = sendStatus(u.repl, pos)
			}
		}
	}
}

// forward cuts the primary's WAL into AppendRequests and, when the stream
// pauses, sends a heartbeat so walkeeper's commit_lsn catches up with its
// flush_lsn.
func (u *pusher) forward(ctx context.Context, in <-chan xlogData) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var hbPos, hbFlushed pgwal.LSN
	for {
		select {
		case x, ok := <-in:
			if !ok {
				return
			}
			u.mu.Lock()
			pos := u.pos
			u.mu.Unlock()
			if skip := pos - x.start; x.start < pos {
				if uint64(skip) >= uint64(len(x.data)) {
					continue
				}
				x.start, x.data = pos, x.data[skip:]
			}
			for off := 0; off < len(x.data); {
				n := min(walproto.MaxWALPerAppend, len(x.data)-off)
				begin := x.start + pgwal.LSN(off)
				if err := u.prop.Append(begin, x.data[off:off+n], begin, 0); err != nil {
					u.fail(fmt.Errorf("append at %s: %w", begin, err))
					return
				}
				off += n
			}
			u.mu.Lock()
			u.pos = x.start + pgwal.LSN(len(x.data))
			u.mu.Unlock()
		case <-tick.C:
			// Commit what walkeeper has flushed: one heartbeat after each
			// change of the position or of the flush_lsn it reported.
			u.mu.Lock()
			pos, flushed := u.pos, u.last.FlushLSN
			u.mu.Unlock()
			if pos != hbPos || flushed != hbFlushed {
				if err := u.prop.Append(pos, nil, min(pos, flushed), 0); err != nil {
					u.fail(fmt.Errorf("heartbeat at %s: %w", pos, err))
					return
				}
				hbPos, hbFlushed = pos, flushed
			}
		case <-ctx.Done():
			return
		}
	}
}

// readReplies keeps the last AppendResponse.
func (u *pusher) readReplies(ctx context.Context) {
	for {
		m, err := u.prop.Receive(ctx)
		if err != nil {
			if ctx.Err() == nil {
				u.fail(fmt.Errorf("walkeeper replies: %w", err))
			}
			return
		}
		if ar, ok := m.(walproto.AppendResponse); ok {
			u.mu.Lock()
			u.last = ar
			close(u.changed)
			u.changed = make(chan struct{})
			u.mu.Unlock()
		}
	}
}

// waitResponse waits until an AppendResponse satisfies ok.
func (u *pusher) waitResponse(t *testing.T, timeout time.Duration, what string, ok func(walproto.AppendResponse) bool) walproto.AppendResponse {
	t.Helper()
	deadline := time.After(timeout)
	for {
		u.mu.Lock()
		last, ch, err := u.last, u.changed, u.err
		u.mu.Unlock()
		if err != nil {
			t.Fatalf("pusher: %v", err)
		}
		if ok(last) {
			return last
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out after %v waiting for %s; last AppendResponse %+v", timeout, what, last)
		}
	}
}

// waitFlushed waits until walkeeper has flushed the primary's WAL up to lsn.
func (u *pusher) waitFlushed(t *testing.T, lsn pgwal.LSN) {
	t.Helper()
	u.waitResponse(t, 30*time.Second, "flush_lsn "+lsn.String(), func(ar walproto.AppendResponse) bool { return ar.FlushLSN >= lsn })
}

func (u *pusher) stop() {
	u.cancel() // ends ReceiveMessage on the primary's stream
	if u.prop != nil {
		u.prop.Close()
	}
	u.wg.Wait()
	if u.repl != nil {
		u.repl.Close(context.Background())
	}
}

// stopFinal stops the pusher and waits until walkeeper's push session has
// ended: until then the session may still apply AppendRequests it had
// queued, and commit_lsn may still move. It returns the final commit_lsn.
func (u *pusher) stopFinal(t *testing.T, addrs Addrs) pgwal.LSN {
	t.Helper()
	u.stop()
	url := fmt.Sprintf("http://%s/v1/tenant/%s/timeline/%s", addrs.HTTP, replTTID.Tenant, replTTID.Timeline)
	pgtest.WaitFor(t, 10*time.Second, "the push session to end", func() bool {
		_, body := apiGet(t, "GET", url)
		return strings.Contains(string(body), `"walreceivers":[]`)
	})
	return commitLSN(context.Background(), t, addrs.PG.String())
}

// startStream sends a START_REPLICATION and waits for CopyBothResponse.
func startStream(ctx context.Context, c *pgconn.PgConn, query string) error {
	c.Frontend().Send(&pgproto3.Query{String: query})
	if err := c.Frontend().Flush(); err != nil {
		return err
	}
	for {
		msg, err := c.ReceiveMessage(ctx)
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.CopyBothResponse:
			return nil
		case *pgproto3.ErrorResponse:
			return pgconn.ErrorResponseToPgError(m)
		}
	}
}

// sendStatus sends a standby status update ('r') reporting pos.
func sendStatus(c *pgconn.PgConn, pos pgwal.LSN) error {
	b := make([]byte, 34)
	b[0] = 'r'
	for i := range 3 {
		binary.BigEndian.PutUint64(b[1+8*i:], uint64(pos))
	}
	binary.BigEndian.PutUint64(b[25:], uint64(time.Since(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).Microseconds()))
	c.Frontend().Send(&pgproto3.CopyData{Data: b})
	return c.Frontend().Flush()
}

// walkeeperConnString is a libpq connection string for the test timeline.
func walkeeperConnString(addr, appName string) string {
	host, port, _ := strings.Cut(addr, ":")
	return fmt.Sprintf("host=%s port=%s user=postgres dbname=postgres sslmode=disable application_name=%s "+
		"options='-c tenant_id=%s timeline_id=%s'", host, port, appName, replTTID.Tenant, replTTID.Timeline)
}

// reader is a raw physical replication client of walkeeper.
type reader struct {
	c *pgconn.PgConn
}

func dialReader(ctx context.Context, t testing.TB, addr, appName string) *reader {
	t.Helper()
	cfg, err := pgconn.ParseConfig(walkeeperConnString(addr, appName))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["replication"] = "true"
	c, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return &reader{c: c}
}

// streamMsg is one server message of a replication stream.
type streamMsg struct {
	tag      byte // 'w' or 'k'
	walStart pgwal.LSN
	walEnd   pgwal.LSN
	data     []byte // aliases the connection's buffer until the next receive
}

// next returns the next 'w' or 'k' message, or the stream's ErrorResponse
// as a *pgconn.PgError.
func (r *reader) next(ctx context.Context) (streamMsg, error) {
	for {
		msg, err := r.c.ReceiveMessage(ctx)
		if err != nil {
			return streamMsg{}, err
		}
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			return streamMsg{}, pgconn.ErrorResponseToPgError(m)
		case *pgproto3.CopyDone:
			return streamMsg{}, errors.New("server sent CopyDone")
		case *pgproto3.CopyData:
			d := m.Data
			switch {
			case len(d) >= 25 && d[0] == 'w':
				return streamMsg{tag: 'w', walStart: pgwal.LSN(binary.BigEndian.Uint64(d[1:])),
					walEnd: pgwal.LSN(binary.BigEndian.Uint64(d[9:])), data: d[25:]}, nil
			case len(d) == 18 && d[0] == 'k':
				if d[17] != 1 {
					return streamMsg{}, fmt.Errorf("keepalive without reply_requested: %q", d)
				}
				return streamMsg{tag: 'k', walEnd: pgwal.LSN(binary.BigEndian.Uint64(d[1:]))}, nil
			default:
				return streamMsg{}, fmt.Errorf("unexpected CopyData %q", d)
			}
		}
	}
}

// commitLSN reads walkeeper's in-memory commit_lsn with TIMELINE_STATUS.
func commitLSN(ctx context.Context, t testing.TB, addr string) pgwal.LSN {
	t.Helper()
	c, err := pgconn.Connect(ctx, walkeeperConnString(addr, "status"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	res, err := c.Exec(ctx, "TIMELINE_STATUS").ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || len(res[0].Rows) != 1 {
		return 0
	}
	l, err := pgwal.ParseLSN(string(res[0].Rows[0][1]))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// waitCommitted waits until walkeeper has flushed and committed the
// primary's WAL up to lsn, and returns the in-memory commit_lsn.
func (u *pusher) waitCommitted(t *testing.T, addr string, lsn pgwal.LSN) pgwal.LSN {
	t.Helper()
	u.waitFlushed(t, lsn)
	var c pgwal.LSN
	pgtest.WaitFor(t, 10*time.Second, "commit_lsn "+lsn.String(), func() bool {
		c = commitLSN(context.Background(), t, addr)
		return c >= lsn
	})
	return c
}
