package pgwire

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// fakeHandler is an in-memory Handler for protocol tests.
type fakeHandler struct {
	status   *TimelineStatusRow
	identify IdentifySystemRow
	identErr error
	mu       sync.Mutex
	walPush  func(ctx context.Context, s *Session, opts WALPushOptions, cb *CopyBoth) error
}

func (h *fakeHandler) setWALPush(f func(ctx context.Context, s *Session, opts WALPushOptions, cb *CopyBoth) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.walPush = f
}

func (h *fakeHandler) IdentifySystem(ctx context.Context, s *Session) (IdentifySystemRow, error) {
	return h.identify, h.identErr
}

func (h *fakeHandler) TimelineStatus(ctx context.Context, s *Session) (*TimelineStatusRow, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.status, nil
}

func (h *fakeHandler) StartWALPush(ctx context.Context, s *Session, opts WALPushOptions, cb *CopyBoth) error {
	h.mu.Lock()
	f := h.walPush
	h.mu.Unlock()
	if f == nil {
		return errors.New("START_WAL_PUSH is not implemented yet")
	}
	return f(ctx, s, opts, cb)
}

func (h *fakeHandler) StartReplication(ctx context.Context, s *Session, opts ReplicationOptions, cb *CopyBoth) error {
	return errors.New("START_REPLICATION is not implemented yet")
}

// startServer serves cfg on a loopback port until the test ends.
func startServer(t *testing.T, cfg Config) string {
	t.Helper()
	if cfg.Handler == nil {
		cfg.Handler = &fakeHandler{}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := NewServer(cfg).Serve(ctx, l); err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return l.Addr().String()
}

// client is a raw protocol client.
type client struct {
	t  testing.TB
	nc net.Conn
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, nc: nc}
}

func (c *client) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) send(msgs ...pgproto3.FrontendMessage) {
	c.t.Helper()
	var b []byte
	for _, m := range msgs {
		var err error
		if b, err = m.Encode(b); err != nil {
			c.t.Fatal(err)
		}
	}
	c.write(b)
}

func (c *client) startup(options string) {
	c.t.Helper()
	params := map[string]string{"user": "u", "database": "replication"}
	if options != "" {
		params["options"] = options
	}
	c.send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: params})
}

// expect reads exactly len(want) bytes and compares them.
func (c *client) expect(want []byte) {
	c.t.Helper()
	got := make([]byte, len(want))
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c.nc, got); err != nil {
		c.t.Fatalf("read %d bytes: %v (got %x)", len(want), err, got)
	}
	if !bytes.Equal(got, want) {
		c.t.Fatalf("\n got %x\nwant %x", got, want)
	}
}

// expectClosed asserts the server closes the connection with nothing more.
func (c *client) expectClosed() {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 1)
	n, err := c.nc.Read(b)
	if n != 0 || err == nil {
		c.t.Fatalf("want close, got %d bytes %x err %v", n, b[:n], err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatal("want close, timed out")
	}
}

func query(q string) *pgproto3.Query { return &pgproto3.Query{String: q} }

// queryBytes is the expected answer: the messages then ReadyForQuery.
func queryBytes(t testing.TB, msgs ...encoder) []byte {
	return append(encodeAll(t, msgs...), hexBytes(t, rfqHex)...)
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
