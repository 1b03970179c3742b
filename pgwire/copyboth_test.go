package pgwire

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

var copyBothResponseHex = "57 00000007 00 0000"

// startCopy connects and sends START_WAL_PUSH, expecting CopyBothResponse.
func startCopy(t *testing.T, addr string) *client {
	c := dial(t, addr)
	c.startup(ttidOptions)
	c.expect(hexBytes(t, trustSequenceHex))
	c.send(query("START_WAL_PUSH (proto_version '3', allow_timeline_creation 'true')"))
	c.expect(hexBytes(t, copyBothResponseHex))
	return c
}

// TestCopyBothConcurrent echoes every CopyData from a reader goroutine
// through a channel to a writer goroutine, as the acceptor pipeline will:
// Receive and Send run concurrently (checked by -race).
func TestCopyBothConcurrent(t *testing.T) {
	const n = 200
	h := &fakeHandler{walPush: func(ctx context.Context, s *Session, opts WALPushOptions, cb *CopyBoth) error {
		if opts.ProtoVersion != 3 || !opts.AllowTimelineCreation || s.TTID.Tenant.String() != tenantHex {
			return fmt.Errorf("bad options %+v %v", opts, s.TTID)
		}
		if err := cb.Start(); err != nil {
			return err
		}
		ch := make(chan []byte, 4)
		var wg sync.WaitGroup
		wg.Add(1)
		var sendErr error
		go func() {
			defer wg.Done()
			for p := range ch {
				if sendErr = cb.Send(p); sendErr != nil {
					return
				}
			}
		}()
		var err error
		for {
			var p []byte
			if p, err = cb.Receive(); err != nil {
				break
			}
			ch <- p
		}
		close(ch)
		wg.Wait()
		if sendErr != nil {
			return sendErr
		}
		return err
	}}
	addr := startServer(t, Config{Handler: h})
	c := startCopy(t, addr)
	go func() {
		for i := 0; i < n; i++ {
			p := bytes.Repeat([]byte{byte(i)}, 1+i*300)
			c.send(&pgproto3.CopyData{Data: p})
		}
		c.send(&pgproto3.CopyDone{})
	}()
	for i := 0; i < n; i++ {
		p := bytes.Repeat([]byte{byte(i)}, 1+i*300)
		c.expect(mustEncodeBackend(t, &pgproto3.CopyData{Data: p}))
	}
	c.expect(mustEncodeBackend(t, &pgproto3.CopyDone{})) // CopyDone answered
	c.expectClosed()
}

func mustEncodeBackend(t testing.TB, m pgproto3.BackendMessage) []byte {
	b, err := m.Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCopyBothEnds(t *testing.T) {
	results := make(chan error, 1)
	h := &fakeHandler{}
	addr := startServer(t, Config{Handler: h})
	receiveAll := func(ctx context.Context, s *Session, opts WALPushOptions, cb *CopyBoth) error {
		if err := cb.Start(); err != nil {
			return err
		}
		for {
			if _, err := cb.Receive(); err != nil {
				results <- err
				return err
			}
		}
	}
	tests := []struct {
		name    string
		handler func(ctx context.Context, s *Session, opts WALPushOptions, cb *CopyBoth) error
		client  func(c *client)
		want    []byte
		recvErr error
	}{
		{name: "copyfail", handler: receiveAll, client: func(c *client) { c.send(&pgproto3.CopyFail{Message: "bye"}) },
			want: hexBytes(t, "45 00000026 53 4552524f5200 43 303030303000 4d 726563656976656420436f70794661696c00 00"), recvErr: ErrCopyFail},
		{name: "terminate", handler: receiveAll, client: func(c *client) { c.send(&pgproto3.Terminate{}) }, recvErr: io.EOF},
		{name: "eof", handler: receiveAll, client: func(c *client) { c.nc.(interface{ CloseWrite() error }).CloseWrite() }, recvErr: io.EOF},
		{name: "query inside copy", handler: receiveAll, client: func(c *client) { c.send(query("TIMELINE_STATUS")) },
			want: AppendErrorResponse(nil, SQLStateInternalError, "protocol violation: unexpected *pgproto3.Query in COPY stream"), recvErr: ErrProtocol},
		{name: "handler error", handler: func(ctx context.Context, s *Session, opts WALPushOptions, cb *CopyBoth) error {
			cb.Start()
			results <- nil
			return fmt.Errorf("WAL acceptor: %w", errors.New("refusing append request"))
		}, want: AppendErrorResponse(nil, SQLStateInternalError, "WAL acceptor: refusing append request")},
		{name: "silent", handler: func(ctx context.Context, s *Session, opts WALPushOptions, cb *CopyBoth) error {
			cb.Start()
			results <- nil
			return fmt.Errorf("timeline not found: %w", ErrCloseSilently)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.setWALPush(tt.handler)
			c := startCopy(t, addr)
			if tt.client != nil {
				tt.client(c)
			}
			if err := <-results; !errors.Is(err, tt.recvErr) {
				t.Fatalf("Receive error %v, want %v", err, tt.recvErr)
			}
			if tt.want != nil {
				c.expect(tt.want)
			}
			c.expectClosed()
		})
	}
}

func TestCopyBothSendLarge(t *testing.T) {
	payload := make([]byte, 128<<10+64)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	h := &fakeHandler{walPush: func(ctx context.Context, s *Session, opts WALPushOptions, cb *CopyBoth) error {
		cb.Start()
		p, err := cb.Receive()
		if err != nil {
			return err
		}
		return cb.Send(p)
	}}
	addr := startServer(t, Config{Handler: h})
	c := startCopy(t, addr)
	c.send(&pgproto3.CopyData{Data: payload})
	hdr := []byte{'d', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)+4))
	c.expect(append(hdr, payload...))
	c.expectClosed()
}

func TestCopyBothNotStarted(t *testing.T) {
	cb := &CopyBoth{}
	if _, err := cb.Receive(); !errors.Is(err, ErrNotStarted) {
		t.Errorf("Receive: %v", err)
	}
	if err := cb.Send(nil); !errors.Is(err, ErrNotStarted) {
		t.Errorf("Send: %v", err)
	}
	if err := cb.SendError(SQLStateInternalError, "x"); !errors.Is(err, ErrNotStarted) {
		t.Errorf("SendError: %v", err)
	}
	if err := cb.SendCopyDone(); !errors.Is(err, ErrNotStarted) {
		t.Errorf("SendCopyDone: %v", err)
	}
}

// TestInterruptReceive: a Receive blocked on a silent client returns
// ErrInterrupted once interrupted, later ones too, and the handler can still
// send an ErrorResponse on the open connection.
func TestInterruptReceive(t *testing.T) {
	h := &fakeHandler{walPush: func(ctx context.Context, s *Session, opts WALPushOptions, cb *CopyBoth) error {
		if err := cb.Start(); err != nil {
			return err
		}
		errc := make(chan error, 1)
		go func() { _, err := cb.Receive(); errc <- err }()
		cb.InterruptReceive()
		if err := <-errc; !errors.Is(err, ErrInterrupted) {
			return fmt.Errorf("blocked Receive: %v", err)
		}
		if _, err := cb.Receive(); !errors.Is(err, ErrInterrupted) {
			return fmt.Errorf("later Receive: %v", err)
		}
		return cb.SendError(SQLStateInternalError, "interrupted on purpose")
	}}
	addr := startServer(t, Config{Handler: h})
	c := startCopy(t, addr)
	c.expect(mustEncodeBackend(t, &pgproto3.ErrorResponse{Severity: "ERROR", Code: SQLStateInternalError, Message: "interrupted on purpose"}))
}
