package proposer

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
)

// Values of walproposer-protocol.md §9.
var (
	tenant   = ids.MustParse("cf0480929707ee75372337efaa5ecf96")
	timeline = ids.MustParse("112ded66422aa5e953e5440fa5427ac4")
)

const (
	lsn28  = pgwal.LSN(0x01000028)
	lsn150 = pgwal.LSN(0x01000150)
	lsn158 = pgwal.LSN(0x01000158)
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

// tv0Query is TV0: the START_WAL_PUSH simple Query, 72 bytes.
var tv0Query = append(append(unhex("51 00 00 00 47"),
	"START_WAL_PUSH (proto_version '3', allow_timeline_creation 'true')"...), 0)

// tv2Frame is TV2, the v3 ProposerGreeting, framed as CopyData.
var tv2Frame = unhex(`64 00 00 00 63
67 63 66 30 34 38 30 39 32 39 37 30 37 65 65 37
35 33 37 32 33 33 37 65 66 61 61 35 65 63 66 39
36 00 31 31 32 64 65 64 36 36 34 32 32 61 61 35
65 39 35 33 65 35 34 34 30 66 61 35 34 32 37 61
63 34 00 00 00 00 00 00 00 00 00 00 00 00 00 00
02 98 14 12 34 56 78 87 65 43 21 01 00 00 00`)

// tv1Frame is TV1, the v2 ProposerGreeting, framed as CopyData.
var tv1Frame = unhex(`64 00 00 00 54
67 00 00 00 00 00 00 00 02 00 00 00 14 98 02 00
00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
21 43 65 87 78 56 34 12 11 2d ed 66 42 2a a5 e9
53 e5 44 0f a5 42 7a c4 cf 04 80 92 97 07 ee 75
37 23 37 ef aa 5e cf 96 01 00 00 00 00 00 00 01`)

var tv4VoteRequestV3 = unhex("76 00 00 00 01 00 00 00 00 00 00 00 06")

var tv5AppendV3 = unhex(`61 00 00 00 01 00 00 00 00 00 00 00 06 00 00 00
00 01 00 01 50 00 00 00 00 01 00 01 58 00 00 00
00 01 00 01 50 00 00 00 00 01 00 00 28 01 02 03
04 05 06 07 08`)

var tv5AppendV2 = unhex(`61 00 00 00 00 00 00 00 06 00 00 00 00 00 00 00
00 00 00 00 00 00 00 00 50 01 00 01 00 00 00 00
58 01 00 01 00 00 00 00 50 01 00 01 00 00 00 00
28 00 00 01 00 00 00 00 00 00 00 00 00 00 00 00
00 00 00 00 00 00 00 00 01 02 03 04 05 06 07 08`)

var (
	history   = walproto.TermHistory{{Term: 5, LSN: lsn28}}
	history2  = walproto.TermHistory{{Term: 5, LSN: lsn28}, {Term: 6, LSN: lsn150}}
	wal8      = []byte{1, 2, 3, 4, 5, 6, 7, 8}
	sk1Greet  = walproto.AcceptorGreeting{NodeID: 1, Term: 5, MConf: walproto.MembershipConfiguration{Generation: 1, Members: []walproto.Member{{ID: 1, Host: "sk-1", PgPort: 5454}}}}
	feedback  = walproto.PageserverFeedback{CurrentTimelineSize: 0x100000, LastReceivedLSN: lsn158, DiskConsistentLSN: lsn150, RemoteConsistentLSN: lsn28, ReplyTime: 0x0002C0C0C0C0C0C0}
	greetTV   = walproto.ProposerGreeting{PgVersion: 170004, SystemID: 0x1234567887654321}
	voteReply = walproto.VoteResponse{Generation: 1, Term: 6, VoteGiven: true, FlushLSN: lsn150, TruncateLSN: lsn28, TermHistory: history}
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, addr string, cfg Config) *Conn {
	t.Helper()
	cfg.Addr, cfg.TenantID, cfg.TimelineID = addr, tenant, timeline
	c, err := Dial(ctxT(t), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestSessionV3 runs the §3.1 sequence with the §9 vectors and checks the
// exact bytes of the query (TV0), the greeting frame (TV2) and the payloads.
func TestSessionV3(t *testing.T) {
	t.Parallel()
	f := &fake{script: func(fc *fakeConn) error {
		msg, err := fc.be.Receive()
		if err != nil {
			return err
		}
		if frame := fc.rec.take(); !bytes.Equal(frame, tv2Frame) {
			return fmt.Errorf("greeting frame\n% x\nwant\n% x (%T)", frame, tv2Frame, msg)
		}
		if err := fc.send(sk1Greet); err != nil {
			return err
		}
		if err := fc.expect("vote", tv4VoteRequestV3); err != nil {
			return err
		}
		if err := fc.send(voteReply); err != nil {
			return err
		}
		elected := walproto.AppendProposerElected(nil, 3, walproto.ProposerElected{
			Generation: 1, Term: 6, StartStreamingAt: lsn150, TermHistory: history2})
		if err := fc.expect("elected", elected); err != nil {
			return err
		}
		if err := fc.expect("append", tv5AppendV3); err != nil {
			return err
		}
		if err := fc.send(walproto.AppendResponse{Generation: 1, Term: 6, FlushLSN: lsn158, CommitLSN: lsn150, PageserverFeedback: &feedback}); err != nil {
			return err
		}
		return fc.expectEnd()
	}}
	addr := startFake(t, f)
	c := dial(t, addr, Config{AllowTimelineCreation: true})
	fc := <-f.conn
	if !bytes.Equal(fc.query, tv0Query) || len(fc.query) != 72 {
		t.Fatalf("query\n% x\nwant\n% x", fc.query, tv0Query)
	}
	if got, want := fc.params["options"], "-c timeline_id=112ded66422aa5e953e5440fa5427ac4 tenant_id=cf0480929707ee75372337efaa5ecf96"; got != want {
		t.Errorf("options = %q, want %q", got, want)
	}
	if fc.params["database"] != "replication" {
		t.Errorf("database = %q", fc.params["database"])
	}
	if _, ok := fc.params["application_name"]; ok {
		t.Error("application_name sent")
	}
	ctx := ctxT(t)
	ag, err := c.Greet(ctx, greetTV)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ag) != fmt.Sprint(sk1Greet) || c.Generation() != 1 {
		t.Fatalf("greeting %+v, generation %d", ag, c.Generation())
	}
	vr, err := c.Vote(ctx, 6)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(vr) != fmt.Sprint(voteReply) || c.Term() != 6 {
		t.Fatalf("vote %+v, term %d", vr, c.Term())
	}
	if err := c.Elect(lsn150, history2); err != nil {
		t.Fatal(err)
	}
	if err := c.Append(lsn150, wal8, lsn150, lsn28); err != nil {
		t.Fatal(err)
	}
	m, err := c.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := m.(walproto.AppendResponse); !ok || r.FlushLSN != lsn158 || r.PageserverFeedback == nil || *r.PageserverFeedback != feedback {
		t.Fatalf("append response %+v", m)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	f.wait(t)
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := c.Append(lsn158, nil, 0, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}
}

func TestSessionV2(t *testing.T) {
	t.Parallel()
	f := &fake{script: func(fc *fakeConn) error {
		if _, err := fc.be.Receive(); err != nil {
			return err
		}
		if frame := fc.rec.take(); !bytes.Equal(frame, tv1Frame) {
			return fmt.Errorf("greeting frame\n% x\nwant\n% x", frame, tv1Frame)
		}
		if err := fc.send(walproto.AcceptorGreeting{NodeID: 1, Term: 5}); err != nil {
			return err
		}
		if err := fc.expect("vote", walproto.AppendVoteRequest(nil, 2, walproto.VoteRequest{Term: 6})); err != nil {
			return err
		}
		if err := fc.send(walproto.VoteResponse{Term: 6, VoteGiven: true, FlushLSN: lsn150, TruncateLSN: lsn28, TermHistory: history}); err != nil {
			return err
		}
		elected := walproto.AppendProposerElected(nil, 2, walproto.ProposerElected{
			Term: 6, StartStreamingAt: lsn150, TermHistory: history2, TimelineStartLSN: lsn28})
		if err := fc.expect("elected", elected); err != nil {
			return err
		}
		if err := fc.expect("append", tv5AppendV2); err != nil {
			return err
		}
		if err := fc.send(walproto.AppendResponse{Term: 6, FlushLSN: lsn158, CommitLSN: lsn150}); err != nil {
			return err
		}
		return fc.expectEnd()
	}}
	addr := startFake(t, f)
	c := dial(t, addr, Config{ProtoVersion: 2, AppName: "walkeeper-test"})
	fc := <-f.conn
	if want := "START_WAL_PUSH (proto_version '2', allow_timeline_creation 'false')"; !bytes.Contains(fc.query, []byte(want+"\x00")) {
		t.Errorf("query %q", fc.query)
	}
	if fc.params["application_name"] != "walkeeper-test" {
		t.Errorf("application_name = %q", fc.params["application_name"])
	}
	ctx := ctxT(t)
	g := greetTV
	g.TenantID, g.TimelineID = tenant, timeline // explicit ids win over Config's
	if ag, err := c.Greet(ctx, g); err != nil || ag.NodeID != 1 || ag.Term != 5 {
		t.Fatalf("Greet = %+v, %v", ag, err)
	}
	if vr, err := c.Vote(ctx, 6); err != nil || !vr.VoteGiven {
		t.Fatalf("Vote = %+v, %v", vr, err)
	}
	if err := c.Elect(lsn150, history2); err != nil {
		t.Fatal(err)
	}
	if err := c.Append(lsn150, wal8, lsn150, lsn28); err != nil {
		t.Fatal(err)
	}
	if m, err := c.Receive(ctx); err != nil || m.(walproto.AppendResponse).FlushLSN != lsn158 {
		t.Fatalf("Receive = %+v, %v", m, err)
	}
	c.Close()
	f.wait(t)
}

func TestDialErrors(t *testing.T) {
	t.Parallel()
	if _, err := Dial(ctxT(t), Config{Addr: "127.0.0.1:1", ProtoVersion: 4}); !errors.Is(err, walproto.ErrUnsupportedVersion) {
		t.Errorf("version 4: %v", err)
	}
	if _, err := Dial(ctxT(t), Config{Addr: "no-port"}); err == nil {
		t.Error("address without port accepted")
	}
	f := &fake{queryErr: "unsupported command START_WAL_PUSH"}
	addr := startFake(t, f)
	_, err := Dial(ctxT(t), Config{Addr: addr, TenantID: tenant, TimelineID: timeline})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "XX000" || pgErr.Message != "unsupported command START_WAL_PUSH" {
		t.Fatalf("Dial = %v", err)
	}
	f.wait(t)
}

func TestPassword(t *testing.T) {
	t.Parallel()
	f := &fake{password: true}
	addr := startFake(t, f)
	dial(t, addr, Config{Token: "header.payload.signature"})
	if fc := <-f.conn; fc.password != "header.payload.signature" {
		t.Fatalf("password = %q", fc.password)
	}
	f.wait(t)
}

func TestServerErrorInCopy(t *testing.T) {
	t.Parallel()
	const text = "WAL acceptor: refusing append request due to generation mismatch: request 0, sk 1"
	f := &fake{script: func(fc *fakeConn) error {
		if _, err := fc.recv(); err != nil {
			return err
		}
		return fc.sendError("XX000", text)
	}}
	addr := startFake(t, f)
	c := dial(t, addr, Config{})
	_, err := c.Greet(ctxT(t), greetTV)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "XX000" || pgErr.Message != text {
		t.Fatalf("Greet = %v", err)
	}
	f.wait(t)
	if _, err := c.Receive(ctxT(t)); err == nil {
		t.Fatal("Receive after the server closed succeeded")
	}
}

// TestStrictReceive: one byte too many or too few is an error, as in the
// walproposer; a reply of the wrong type too.
func TestStrictReceive(t *testing.T) {
	t.Parallel()
	good := walproto.AppendAcceptorGreeting(nil, 3, sk1Greet)
	f := &fake{script: func(fc *fakeConn) error {
		for _, p := range [][]byte{append(bytes.Clone(good), 0), good[:len(good)-1], walproto.AppendVoteResponse(nil, 3, voteReply)} {
			if err := fc.sendRaw(p); err != nil {
				return err
			}
		}
		_, err := fc.recv() // the greeting, so the close is not a reset
		return err
	}}
	addr := startFake(t, f)
	c := dial(t, addr, Config{})
	ctx := ctxT(t)
	if _, err := c.Receive(ctx); !errors.Is(err, walproto.ErrTrailingBytes) {
		t.Errorf("one byte more: %v", err)
	}
	if _, err := c.Receive(ctx); !errors.Is(err, walproto.ErrShortMessage) {
		t.Errorf("one byte less: %v", err)
	}
	// Greet's reply is the queued VoteResponse.
	if _, err := c.Greet(ctx, greetTV); !errors.Is(err, ErrUnexpectedMessage) {
		t.Errorf("VoteResponse for a greeting: %v", err)
	}
	f.wait(t)
}

// TestReceiveTimeoutResumes: a Receive cut by its context leaves a half-read
// message for the next Receive.
func TestReceiveTimeoutResumes(t *testing.T) {
	t.Parallel()
	resume := make(chan struct{})
	frame := append([]byte{'d', 0, 0, 0, 0}, walproto.AppendAcceptorGreeting(nil, 3, sk1Greet)...)
	frame[4] = byte(len(frame) - 1)
	f := &fake{script: func(fc *fakeConn) error {
		if _, err := fc.rec.Conn.Write(frame[:10]); err != nil {
			return err
		}
		<-resume
		_, err := fc.rec.Conn.Write(frame[10:])
		return err
	}}
	addr := startFake(t, f)
	c := dial(t, addr, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Receive(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive = %v, want DeadlineExceeded", err)
	}
	close(resume)
	m, err := c.Receive(ctxT(t))
	if err != nil || fmt.Sprint(m) != fmt.Sprint(sk1Greet) {
		t.Fatalf("Receive after timeout = %+v, %v", m, err)
	}
	f.wait(t)
}

func TestStreamEnded(t *testing.T) {
	t.Parallel()
	f := &fake{script: func(fc *fakeConn) error {
		fc.be.Send(&pgproto3.CopyDone{})
		return fc.be.Flush()
	}}
	addr := startFake(t, f)
	c := dial(t, addr, Config{})
	if _, err := c.Receive(ctxT(t)); !errors.Is(err, ErrStreamEnded) {
		t.Fatalf("Receive = %v", err)
	}
	f.wait(t)
}

// TestConcurrentSendReceive: one goroutine appends while another reads the
// replies (run with -race).
func TestConcurrentSendReceive(t *testing.T) {
	t.Parallel()
	const n = 200
	f := &fake{script: func(fc *fakeConn) error {
		for i := range n {
			p, err := fc.recv()
			if err != nil {
				return err
			}
			req, err := walproto.ParseAppendRequest(3, p)
			if err != nil {
				return fmt.Errorf("append %d: %w", i, err)
			}
			if err := fc.send(walproto.AppendResponse{Term: req.Term, FlushLSN: req.EndLSN}); err != nil {
				return err
			}
		}
		return fc.expectEnd()
	}}
	addr := startFake(t, f)
	c := dial(t, addr, Config{})
	c.SetTerm(7)
	errc := make(chan error, 1)
	go func() {
		pos := lsn150
		for range n {
			if err := c.Append(pos, wal8, 0, 0); err != nil {
				errc <- err
				return
			}
			pos += pgwal.LSN(len(wal8))
		}
		errc <- nil
	}()
	ctx := ctxT(t)
	for i := range n {
		m, err := c.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r := m.(walproto.AppendResponse); r.FlushLSN != lsn150+pgwal.LSN(8*(i+1)) || r.Term != 7 {
			t.Fatalf("reply %d: %+v", i, r)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	c.Close()
	f.wait(t)
}

func TestAppendTooLarge(t *testing.T) {
	t.Parallel()
	f := &fake{}
	addr := startFake(t, f)
	c := dial(t, addr, Config{})
	if err := c.Append(0, make([]byte, walproto.MaxWALPerAppend+1), 0, 0); !errors.Is(err, walproto.ErrAppendTooLarge) {
		t.Fatalf("Append = %v", err)
	}
	f.wait(t)
}

// TestCloseUnblocksReceive: Close from another goroutine ends a Receive that
// waits for a message that never comes.
func TestCloseUnblocksReceive(t *testing.T) {
	t.Parallel()
	f := &fake{script: func(fc *fakeConn) error { return fc.expectEnd() }}
	addr := startFake(t, f)
	c := dial(t, addr, Config{})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Receive(context.Background())
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	c.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Receive = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Receive still blocked after Close")
	}
	f.wait(t)
}

// TestSendAppendGathered checks that an AppendRequest large enough to be
// sent with its WAL gathered from the caller's slice (sendAppend) puts the
// same frame on the wire as a copied one, in both versions, and that small
// ones, which are copied, still follow correctly.
func TestSendAppendGathered(t *testing.T) {
	t.Parallel()
	wal := make([]byte, 100<<10)
	for i := range wal {
		wal[i] = byte(i * 13)
	}
	for _, version := range []uint32{walproto.Version2, walproto.Version3} {
		reqs := []walproto.AppendRequest{
			{Generation: 1, Term: 6, BeginLSN: lsn150, EndLSN: lsn150 + pgwal.LSN(len(wal)), CommitLSN: lsn150, TruncateLSN: lsn28, WAL: wal},
			{Generation: 1, Term: 6, BeginLSN: lsn150, EndLSN: lsn158, WAL: wal8},
			{Generation: 1, Term: 6, BeginLSN: lsn150, EndLSN: lsn150 + gatherMin, WAL: wal[:gatherMin]},
		}
		f := &fake{script: func(fc *fakeConn) error {
			for i, r := range reqs {
				// The frames must follow one another exactly, or the
				// lengths would not parse into these payloads.
				if err := fc.expect(fmt.Sprintf("v%d append %d", version, i), walproto.AppendAppendRequest(nil, version, r)); err != nil {
					return err
				}
			}
			return fc.expectEnd()
		}}
		addr := startFake(t, f)
		c := dial(t, addr, Config{ProtoVersion: version})
		<-f.conn
		for _, r := range reqs {
			if err := c.Send(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		f.wait(t)
	}
}

// TestSendAppendAllocs pins the client's hot path: Append of a large
// AppendRequest allocates nothing once the send buffer has grown.
func TestSendAppendAllocs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		s, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, s)
			s.Close()
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := &Conn{conn: nc, version: walproto.Version3, closed: make(chan struct{})}
	wal := make([]byte, 128<<10)
	if allocs := testing.AllocsPerRun(50, func() {
		if err := c.Append(lsn150, wal, 0, 0); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Fatalf("%v allocations per AppendRequest sent", allocs)
	}
}
