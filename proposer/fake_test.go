package proposer

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/walkeeper/walkeeper/walproto"
)

// fake is a minimal in-test safekeeper front end on pgproto3.Backend: it
// accepts one connection, does startup (trust, or a cleartext password when
// password is set), answers START_WAL_PUSH with CopyBothResponse (or with
// queryErr as an ErrorResponse) and then runs script.
type fake struct {
	ln       net.Listener
	password bool
	queryErr string
	script   func(fc *fakeConn) error
	conn     chan *fakeConn // the connection, once START_WAL_PUSH was read
	done     chan error
}

// recConn records every byte read, so tests can compare raw frames.
type recConn struct {
	net.Conn
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recConn) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.buf.Write(p[:n])
	r.mu.Unlock()
	return n, err
}

// take returns and forgets what was read so far.
func (r *recConn) take() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := bytes.Clone(r.buf.Bytes())
	r.buf.Reset()
	return b
}

type fakeConn struct {
	be       *pgproto3.Backend
	rec      *recConn
	params   map[string]string
	password string
	query    []byte // the raw Query message
	version  uint32
}

func startFake(t *testing.T, f *fake) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.ln = ln
	f.conn = make(chan *fakeConn, 1)
	f.done = make(chan error, 1)
	t.Cleanup(func() { ln.Close() })
	go func() { f.done <- f.serve() }()
	return ln.Addr().String()
}

// wait returns the server goroutine's error.
func (f *fake) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-f.done:
		if err != nil {
			t.Fatalf("fake server: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fake server did not finish")
	}
}

func (f *fake) serve() error {
	c, err := f.ln.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fc := &fakeConn{rec: &recConn{Conn: c}}
	fc.be = pgproto3.NewBackend(fc.rec, fc.rec)
	fc.be.SetMaxBodyLen(1 << 20)
	sm, err := fc.be.ReceiveStartupMessage()
	if err != nil {
		return err
	}
	startup, ok := sm.(*pgproto3.StartupMessage)
	if !ok {
		return fmt.Errorf("startup: got %T", sm)
	}
	fc.params = startup.Parameters
	if f.password {
		fc.be.Send(&pgproto3.AuthenticationCleartextPassword{})
		if err := fc.be.Flush(); err != nil {
			return err
		}
		if err := fc.be.SetAuthType(pgproto3.AuthTypeCleartextPassword); err != nil {
			return err
		}
		msg, err := fc.be.Receive()
		if err != nil {
			return err
		}
		pm, ok := msg.(*pgproto3.PasswordMessage)
		if !ok {
			return fmt.Errorf("auth: got %T", msg)
		}
		fc.password = pm.Password
	}
	fc.be.Send(&pgproto3.AuthenticationOk{})
	fc.be.Send(&pgproto3.ParameterStatus{Name: "client_encoding", Value: "UTF8"})
	fc.be.Send(&pgproto3.ParameterStatus{Name: "server_version", Value: "14.1"})
	fc.be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if err := fc.be.Flush(); err != nil {
		return err
	}
	fc.rec.take()
	msg, err := fc.be.Receive()
	if err != nil {
		return err
	}
	q, ok := msg.(*pgproto3.Query)
	if !ok {
		return fmt.Errorf("query: got %T", msg)
	}
	fc.query = fc.rec.take()
	if f.queryErr != "" {
		fc.be.Send(&pgproto3.ErrorResponse{Severity: "ERROR", Code: "XX000", Message: f.queryErr})
		fc.be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		f.conn <- fc
		return fc.be.Flush()
	}
	version, _, err := walproto.ParseStartWALPush(q.String)
	if err != nil {
		return err
	}
	fc.version = version
	fc.be.Send(&pgproto3.CopyBothResponse{})
	if err := fc.be.Flush(); err != nil {
		return err
	}
	f.conn <- fc
	if f.script == nil {
		return nil
	}
	return f.script(fc)
}

// recv returns the next CopyData payload (copied).
func (fc *fakeConn) recv() ([]byte, error) {
	msg, err := fc.be.Receive()
	if err != nil {
		return nil, err
	}
	cd, ok := msg.(*pgproto3.CopyData)
	if !ok {
		return nil, fmt.Errorf("fake: got %T, want CopyData", msg)
	}
	return bytes.Clone(cd.Data), nil
}

// expect receives a CopyData and compares its payload with want.
func (fc *fakeConn) expect(what string, want []byte) error {
	got, err := fc.recv()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%s: payload\n% x\nwant\n% x", what, got, want)
	}
	return nil
}

// expectEnd checks the client ends with CopyDone, Terminate and EOF.
func (fc *fakeConn) expectEnd() error {
	for _, want := range []string{"*pgproto3.CopyDone", "*pgproto3.Terminate"} {
		msg, err := fc.be.Receive()
		if err != nil {
			return fmt.Errorf("want %s: %w", want, err)
		}
		if got := fmt.Sprintf("%T", msg); got != want {
			return fmt.Errorf("got %s, want %s", got, want)
		}
	}
	if _, err := fc.be.Receive(); err == nil {
		return fmt.Errorf("no EOF after Terminate")
	}
	return nil
}

func (fc *fakeConn) send(m walproto.AcceptorMessage) error {
	return fc.sendRaw(walproto.AppendAcceptorMessage(nil, fc.version, m))
}

func (fc *fakeConn) sendRaw(payload []byte) error {
	fc.be.Send(&pgproto3.CopyData{Data: payload})
	return fc.be.Flush()
}

func (fc *fakeConn) sendError(code, msg string) error {
	fc.be.Send(&pgproto3.ErrorResponse{Severity: "ERROR", Code: code, Message: msg})
	return fc.be.Flush()
}
