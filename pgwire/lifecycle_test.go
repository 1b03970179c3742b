package pgwire

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// recordingListener hands every accepted server-side conn to the test.
type recordingListener struct {
	net.Listener
	conns chan net.Conn
}

func (l recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.conns <- c
	}
	return c, err
}

func TestTCPNoDelay(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := recordingListener{Listener: inner, conns: make(chan net.Conn, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(Config{Handler: &fakeHandler{}}).Serve(ctx, l) }()
	c := dial(t, inner.Addr().String())
	c.startup(ttidOptions)
	c.expect(hexBytes(t, trustSequenceHex))
	sc := <-l.conns
	raw, err := sc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	raw.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY) })
	if gerr != nil || v == 0 {
		t.Fatalf("TCP_NODELAY = %d, %v", v, gerr)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.expectClosed()
}

// TestShutdownClosesCopyStream: cancelling Serve's context ends a COPY
// stream blocked in Receive, and Serve returns once the handler has.
func TestShutdownClosesCopyStream(t *testing.T) {
	recvErr := make(chan error, 1)
	h := &fakeHandler{walPush: func(ctx context.Context, s *Session, opts WALPushOptions, cb *CopyBoth) error {
		cb.Start()
		_, err := cb.Receive()
		recvErr <- err
		return err
	}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(Config{Handler: h}).Serve(ctx, l) }()
	c := startCopy(t, l.Addr().String())
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	if err := <-recvErr; err == nil {
		t.Fatal("Receive returned no error after shutdown")
	}
	c.expectClosed()
}

// lockedWriter collects log output from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// TestLogsCarryConnID: every line a connection logs names its conn_id.
func TestLogsCarryConnID(t *testing.T) {
	var out lockedWriter
	log := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	addr := startServer(t, Config{Logger: log})
	for i := 0; i < 2; i++ {
		c := dial(t, addr)
		c.startup(ttidOptions)
		c.expect(hexBytes(t, trustSequenceHex))
		c.send(query("TIMELINE_STATUS"), query("NOPE"))
		c.expect(append(queryBytes(t, timelineStatusMessages(nil)...), queryBytes(t, errorResponse{SQLStateInternalError, "unsupported command NOPE"})...))
		c.send(&pgproto3.Terminate{})
		c.expectClosed()
	}
	time.Sleep(50 * time.Millisecond) // let the server log the closes
	out.mu.Lock()
	lines := bytes.Split(bytes.TrimSpace(out.b.Bytes()), []byte("\n"))
	out.mu.Unlock()
	ids := map[float64]bool{}
	for _, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("bad log line %s: %v", line, err)
		}
		id, ok := rec["conn_id"].(float64)
		if !ok {
			t.Errorf("log line without conn_id: %s", line)
		}
		ids[id] = true
	}
	if len(ids) != 2 || len(lines) < 6 {
		t.Errorf("want lines from 2 connections, got %d lines, ids %v", len(lines), ids)
	}
}
