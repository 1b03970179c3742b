package acceptor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/proposer"
	"github.com/walkeeper/walkeeper/walproto"
)

// pgStream is a Stream over pgproto3, as small as the pgwire handler's
// could be: it shows the seam fits real libpq framing. Replies are encoded
// and written directly so that Send never shares the Backend's buffers
// with the reader.
type pgStream struct {
	conn net.Conn
	be   *pgproto3.Backend
}

func (s *pgStream) Recv() ([]byte, error) {
	msg, err := s.be.Receive()
	if err != nil {
		return nil, err
	}
	switch m := msg.(type) {
	case *pgproto3.CopyData:
		return m.Data, nil
	case *pgproto3.CopyDone, *pgproto3.CopyFail, *pgproto3.Terminate:
		return nil, io.EOF
	}
	return nil, fmt.Errorf("unexpected %T in COPY", msg)
}

func (s *pgStream) write(m pgproto3.BackendMessage) error {
	b, err := m.Encode(nil)
	if err == nil {
		_, err = s.conn.Write(b)
	}
	return err
}

func (s *pgStream) Send(p []byte) error { return s.write(&pgproto3.CopyData{Data: p}) }

func (s *pgStream) SendError(msg string) error {
	return s.write(&pgproto3.ErrorResponse{Severity: "ERROR", Code: "XX000", Message: msg})
}

func (s *pgStream) Interrupt() { s.conn.SetReadDeadline(time.Unix(1, 0)) }

// serveOne accepts one connection, does trust auth and START_WAL_PUSH, and
// runs a Session on it.
func serveOne(t *testing.T, ln net.Listener, open func(context.Context, *walproto.ProposerGreeting) (*Core, error)) <-chan error {
	done := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer conn.Close()
		be := pgproto3.NewBackend(conn, conn)
		be.SetMaxBodyLen(1 << 20)
		if _, err := be.ReceiveStartupMessage(); err != nil {
			done <- err
			return
		}
		be.Send(&pgproto3.AuthenticationOk{})
		be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		if err := be.Flush(); err != nil {
			done <- err
			return
		}
		msg, err := be.Receive()
		if err != nil {
			done <- err
			return
		}
		q, ok := msg.(*pgproto3.Query)
		if !ok {
			done <- fmt.Errorf("got %T", msg)
			return
		}
		version, _, err := walproto.ParseStartWALPush(q.String)
		if err != nil {
			done <- err
			return
		}
		be.Send(&pgproto3.CopyBothResponse{})
		if err := be.Flush(); err != nil {
			done <- err
			return
		}
		s := &Session{Stream: &pgStream{conn: conn, be: be}, ProtoVersion: version, Open: open}
		done <- s.Run(context.Background())
	}()
	return done
}

func TestSessionOverLibpqWithProposerClient(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tvState(), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	open := func(context.Context, *walproto.ProposerGreeting) (*Core, error) { return f.c, nil }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := proposer.Config{Addr: ln.Addr().String(), TenantID: tvTenant, TimelineID: tvTimeline, AllowTimelineCreation: true}

	done := serveOne(t, ln, open)
	c, err := proposer.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := tvGreeting()
	conf := tvConf(1, tvNode)
	g.MConf = confToWire(&conf)
	if ag, err := c.Greet(ctx, g); err != nil || ag.NodeID != tvNode {
		t.Fatalf("greet: %+v %v", ag, err)
	}
	v, err := c.Vote(ctx, 1)
	if err != nil || !v.VoteGiven {
		t.Fatalf("vote: %+v %v", v, err)
	}
	if err := c.Elect(0x1000028, walproto.TermHistory{{Term: 1, LSN: 0x1000028}}); err != nil {
		t.Fatal(err)
	}
	pos := pgwal.LSN(0x1000028)
	for range 10 {
		if err := c.Append(pos, make([]byte, 1000), pos, 0); err != nil {
			t.Fatal(err)
		}
		pos += 1000
	}
	for {
		m, err := c.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ar := m.(walproto.AppendResponse); ar.FlushLSN == pos {
			break
		}
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatalf("session: %v", err)
	}

	// A second connection of a stale proposer gets the error text in an
	// ErrorResponse.
	done = serveOne(t, ln, open)
	c, err = proposer.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Greet(ctx, g); err != nil {
		t.Fatal(err)
	}
	c.SetTerm(2)
	if err := c.Append(pos, make([]byte, 8), 0, 0); err != nil {
		t.Fatal(err)
	}
	_, err = c.Receive(ctx)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "XX000" || pgErr.Message != "WAL acceptor: got AppendRequest before ProposerElected" {
		t.Fatalf("proposer got %v", err)
	}
	if err := <-done; err == nil || !strings.Contains(err.Error(), "before ProposerElected") {
		t.Fatalf("session: %v", err)
	}
}
