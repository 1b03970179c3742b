package pgwire

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/walkeeper/walkeeper/internal/watch"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/replication"
)

// patternWAL is endless WAL: the byte at lsn is byte(lsn).
type patternWAL struct{}

func (patternWAL) ReadAt(p []byte, lsn pgwal.LSN) (int, error) {
	for i := range p {
		p[i] = byte(uint64(lsn) + uint64(i))
	}
	return len(p), nil
}

// replHandler serves START_REPLICATION with replication.Serve over a WAL
// that is committed up to 1 GiB, and counts the streams still running.
type replHandler struct {
	fakeHandler
	senders *replication.WalSenders
	commit  *watch.Value[pgwal.LSN]
	running sync.WaitGroup
	ended   chan error
}

func newReplHandler() *replHandler {
	return &replHandler{senders: replication.NewWalSenders(replication.RegistryOptions{}),
		commit: watch.New(pgwal.LSN(1 << 30)), ended: make(chan error, 16)}
}

type cbStream struct{ cb *CopyBoth }

func (s cbStream) Start() error { return s.cb.Start() }
func (s cbStream) Receive() ([]byte, error) {
	p, err := s.cb.Receive()
	if errors.Is(err, ErrCopyFail) {
		return nil, replication.ErrCopyFail
	}
	return p, err
}
func (s cbStream) Send(p []byte) error               { return s.cb.Send(p) }
func (s cbStream) SendError(state, msg string) error { return s.cb.SendError(state, msg) }
func (s cbStream) SendCopyDone() error               { return s.cb.SendCopyDone() }
func (s cbStream) Close() error                      { return s.cb.Close() }

func (h *replHandler) StartReplication(ctx context.Context, s *Session, opts ReplicationOptions, cb *CopyBoth) error {
	h.running.Add(1)
	defer h.running.Done()
	cfg := replication.Config{
		Command:     replication.Command{StartLSN: opts.StartLSN, Term: opts.Term, HasTerm: opts.HasTerm},
		Senders:     h.senders,
		CommitLSN:   h.commit,
		Computes:    func() int { return 1 },
		OpenReader:  func(pgwal.LSN) (replication.WALReader, error) { return patternWAL{}, nil },
		IdleTimeout: 50 * time.Millisecond,
	}
	err := replication.Serve(ctx, cfg, cbStream{cb})
	h.ended <- err
	if err != nil {
		return errors.Join(ErrCloseSilently, err)
	}
	return nil
}

func startRepl(t *testing.T, addr string) *client {
	t.Helper()
	c := dial(t, addr)
	c.startup(ttidOptions)
	c.expect(hexBytes(t, trustSequenceHex))
	c.send(query("START_REPLICATION PHYSICAL 0/1000000"))
	c.expect(hexBytes(t, copyBothResponseHex))
	return c
}

// readUntilError reads backend messages until an ErrorResponse or the end
// of the connection, and returns the ErrorResponse (nil if none).
func readUntilError(t *testing.T, c *client) *pgproto3.ErrorResponse {
	t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	fe := pgproto3.NewFrontend(c.nc, io.Discard)
	for {
		m, err := fe.Receive()
		if err != nil {
			return nil
		}
		if e, ok := m.(*pgproto3.ErrorResponse); ok {
			cp := *e
			return &cp
		}
	}
}

// TestReplicationHostileClients: over real TCP, a replication client
// that stops reading, one that sends malformed feedback, one that sends
// large garbage CopyData and one that hangs up mid-stream each end only
// their own stream, every stream goroutine exits, and memory stays bounded.
func TestReplicationHostileClients(t *testing.T) {
	h := newReplHandler()
	addr := startServer(t, Config{Handler: h, ReadTimeout: 500 * time.Millisecond})

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()

	t.Run("stops reading", func(t *testing.T) {
		c := startRepl(t, addr)
		// Never read; keep the read side alive with status updates so only
		// the write deadline can end it.
		stop := time.After(2 * time.Second)
		r := replication.AppendStandbyReply(nil, replication.StandbyReply{})
		msg, _ := (&pgproto3.CopyData{Data: r}).Encode(nil)
	loop:
		for {
			select {
			case <-stop:
				break loop
			case <-time.After(100 * time.Millisecond):
				if _, err := c.nc.Write(msg); err != nil {
					break loop
				}
			}
		}
		select {
		case err := <-h.ended:
			t.Logf("stream ended: %v", err)
		case <-time.After(5 * time.Second):
			t.Fatal("a stream whose client stopped reading did not end")
		}
	})

	t.Run("malformed standby reply", func(t *testing.T) {
		c := startRepl(t, addr)
		c.send(&pgproto3.CopyData{Data: []byte{'r', 1, 2, 3}})
		e := readUntilError(t, c)
		if e == nil || e.Code != "XX000" {
			t.Fatalf("got %+v, want XX000", e)
		}
		<-h.ended
	})

	t.Run("large unknown CopyData then CopyDone", func(t *testing.T) {
		c := startRepl(t, addr)
		big := make([]byte, MaxMessageBodyLen)
		big[0] = '?'
		var msg []byte
		msg = append(msg, 'd', 0, 0, 0, 0)
		binary.BigEndian.PutUint32(msg[1:], uint32(len(big)+4))
		msg = append(msg, big...)
		go func() {
			for i := 0; i < 8; i++ {
				if _, err := c.nc.Write(msg); err != nil {
					return
				}
			}
			c.nc.Write([]byte{'c', 0, 0, 0, 4})
		}()
		_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		fe := pgproto3.NewFrontend(c.nc, io.Discard)
		for {
			m, err := fe.Receive()
			if err != nil {
				t.Fatalf("stream ended without CopyDone: %v", err)
			}
			if _, ok := m.(*pgproto3.CopyDone); ok {
				break
			}
			if e, ok := m.(*pgproto3.ErrorResponse); ok {
				t.Fatalf("ErrorResponse %+v", e)
			}
		}
		if err := <-h.ended; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("hang up mid-stream", func(t *testing.T) {
		for i := 0; i < 5; i++ {
			c := startRepl(t, addr)
			buf := make([]byte, 64<<10)
			io.ReadFull(c.nc, buf)
			c.nc.(*net.TCPConn).SetLinger(0)
			c.nc.Close()
			select {
			case <-h.ended:
			case <-time.After(5 * time.Second):
				t.Fatal("stream did not end after the client hung up")
			}
		}
	})

	h.running.Wait()
	time.Sleep(100 * time.Millisecond)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if g := runtime.NumGoroutine(); g > g0+2 {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Fatalf("goroutines %d -> %d:\n%s", g0, g, buf[:n])
	}
	if growth := int64(after.HeapAlloc) - int64(before.HeapAlloc); growth > 16<<20 {
		t.Fatalf("heap grew by %d bytes", growth)
	}
	if n := h.senders.Len(); n != 0 {
		t.Fatalf("%d walsender slots left", n)
	}
}
