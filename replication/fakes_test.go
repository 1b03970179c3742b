package replication

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/internal/watch"
	"github.com/walkeeper/walkeeper/pgwal"
)

// event is one thing the server wrote to a fakeStream.
type event struct {
	kind  byte // 'W' CopyBothResponse, 'd' CopyData, 'E' ErrorResponse, 'c' CopyDone
	data  []byte
	state string
	msg   string
}

func (e event) String() string {
	switch e.kind {
	case 'd':
		return fmt.Sprintf("CopyData %q %d bytes", e.data[:1], len(e.data))
	case 'E':
		return fmt.Sprintf("ErrorResponse %s %q", e.state, e.msg)
	}
	return string(e.kind)
}

type recvItem struct {
	data []byte
	err  error
}

// fakeStream is an in-memory Stream. Writes go to a bounded channel, so a
// client that does not read applies backpressure like a full socket.
type fakeStream struct {
	in     chan recvItem
	events chan event
	closed chan struct{}
	once   sync.Once
}

func newFakeStream(capacity int) *fakeStream {
	return &fakeStream{in: make(chan recvItem, 16), events: make(chan event, capacity), closed: make(chan struct{})}
}

func (f *fakeStream) emit(e event) error {
	select {
	case <-f.closed:
		return net.ErrClosed
	default:
	}
	select {
	case f.events <- e:
		return nil
	case <-f.closed:
		return net.ErrClosed
	}
}

func (f *fakeStream) Start() error { return f.emit(event{kind: 'W'}) }
func (f *fakeStream) Send(p []byte) error {
	return f.emit(event{kind: 'd', data: append([]byte(nil), p...)})
}
func (f *fakeStream) SendError(state, msg string) error {
	return f.emit(event{kind: 'E', state: state, msg: msg})
}
func (f *fakeStream) SendCopyDone() error { return f.emit(event{kind: 'c'}) }
func (f *fakeStream) Close() error {
	f.once.Do(func() { close(f.closed) })
	return nil
}
func (f *fakeStream) Receive() ([]byte, error) {
	select {
	case it := <-f.in:
		return it.data, it.err
	case <-f.closed:
		return nil, net.ErrClosed
	}
}

func (f *fakeStream) isClosed() bool {
	select {
	case <-f.closed:
		return true
	default:
		return false
	}
}

// client-side helpers
func (f *fakeStream) reply(p []byte) { f.in <- recvItem{data: p} }
func (f *fakeStream) fail(err error) { f.in <- recvItem{err: err} }
func (f *fakeStream) next(t testing.TB) event {
	t.Helper()
	select {
	case e := <-f.events:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a server message")
		return event{}
	}
}

// expectError reads messages, skipping CopyData, until an ErrorResponse.
func (f *fakeStream) expectError(t testing.TB) event {
	t.Helper()
	for {
		e := f.next(t)
		switch e.kind {
		case 'E':
			return e
		case 'd':
			continue
		default:
			t.Fatalf("got %v, want ErrorResponse", e)
		}
	}
}

// walByte is the content of the fake WAL at lsn.
func walByte(lsn uint64) byte { return byte(lsn*131 + lsn>>11) }

// fakeWAL is WAL "written" up to flushed; reads beyond it are a test failure.
type fakeWAL struct {
	data    []byte // data[i] is the byte at base+i
	base    pgwal.LSN
	segSize uint64
	flushed atomic.Uint64
	reads   atomic.Int64
	err     atomic.Pointer[error] // returned by ReadAt when set
	t       testing.TB
}

func newFakeWAL(t testing.TB, base pgwal.LSN, size int, segSize uint64) *fakeWAL {
	w := &fakeWAL{data: make([]byte, size), base: base, segSize: segSize, t: t}
	for i := range w.data {
		w.data[i] = walByte(uint64(base) + uint64(i))
	}
	w.flushed.Store(uint64(base) + uint64(size))
	return w
}

func (w *fakeWAL) ReadAt(p []byte, lsn pgwal.LSN) (int, error) {
	w.reads.Add(1)
	if e := w.err.Load(); e != nil {
		return 0, *e
	}
	end := uint64(lsn) + uint64(len(p))
	if segEnd := (uint64(lsn)/w.segSize + 1) * w.segSize; end > segEnd {
		w.t.Errorf("read [%s,+%d) crosses a segment", lsn, len(p))
		end = segEnd
	}
	if end > w.flushed.Load() {
		w.t.Errorf("read up to %X beyond flushed %X", end, w.flushed.Load())
		return 0, fmt.Errorf("beyond flushed")
	}
	if lsn < w.base {
		return 0, fmt.Errorf("before base")
	}
	return copy(p, w.data[uint64(lsn-w.base):end-uint64(w.base)]), nil
}

// harness is one Serve call against fakes.
type harness struct {
	t        testing.TB
	cfg      Config
	stream   *fakeStream
	wal      *fakeWAL
	commit   *watch.Value[pgwal.LSN]
	flush    *watch.Value[TermLSN]
	computes atomic.Int64
	term     atomic.Uint64 // acceptor's current term for WithTerm
	done     chan error
	cancel   context.CancelFunc
}

type harnessOpts struct {
	cmd         Command
	commit      pgwal.LSN
	flush       TermLSN
	walBase     pgwal.LSN
	walSize     int
	segSize     uint64
	idle        time.Duration
	appName     string
	streamCap   int
	openReader  func(pgwal.LSN) (WALReader, error)
	senders     *WalSenders
	keepWaiting bool
}

func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	if o.segSize == 0 {
		o.segSize = pgwal.DefaultSegmentSize
	}
	if o.streamCap == 0 {
		o.streamCap = 1024
	}
	if o.senders == nil {
		o.senders = NewWalSenders(RegistryOptions{})
	}
	h := &harness{t: t, stream: newFakeStream(o.streamCap), commit: watch.New(o.commit), flush: watch.New(o.flush),
		done: make(chan error, 1)}
	h.wal = newFakeWAL(t, o.walBase, o.walSize, o.segSize)
	h.term.Store(o.flush.Term)
	open := o.openReader
	if open == nil {
		open = func(pgwal.LSN) (WALReader, error) { return h.wal, nil }
	}
	h.cfg = Config{
		Command:     o.cmd,
		Info:        SenderInfo{Addr: "127.0.0.1:1", ConnID: 1, AppName: o.appName},
		Senders:     o.senders,
		CommitLSN:   h.commit,
		Computes:    func() int { return int(h.computes.Load()) },
		Flush:       h.flush,
		WithTerm:    h.withTerm,
		OpenReader:  open,
		SegmentSize: o.segSize,
		IdleTimeout: o.idle,
	}
	return h
}

func (h *harness) withTerm(term uint64, read func() error) error {
	if cur := h.term.Load(); cur != term {
		return &TermError{Requested: term, Current: cur, Acquire: true}
	}
	return read()
}

func (h *harness) start() *harness {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- Serve(ctx, h.cfg, h.stream) }()
	h.t.Cleanup(func() {
		cancel()
		h.stream.Close()
	})
	if e := h.stream.next(h.t); e.kind != 'W' {
		h.t.Fatalf("first message %v, want CopyBothResponse", e)
	}
	return h
}

// wait returns Serve's result.
func (h *harness) wait() error {
	h.t.Helper()
	select {
	case err := <-h.done:
		return err
	case <-time.After(10 * time.Second):
		h.t.Fatal("Serve did not return")
		return nil
	}
}

// xlog parses a CopyData that must be XLogData.
func xlog(t testing.TB, e event) (XLogDataHeader, []byte) {
	t.Helper()
	if e.kind != 'd' {
		t.Fatalf("got %v, want XLogData", e)
	}
	hd, data, err := ParseXLogData(e.data)
	if err != nil {
		t.Fatalf("%v: %v", e, err)
	}
	return hd, data
}

func checkWAL(t testing.TB, start pgwal.LSN, data []byte) {
	t.Helper()
	for i, b := range data {
		if b != walByte(uint64(start)+uint64(i)) {
			t.Fatalf("wrong WAL byte at %s", start+pgwal.LSN(i))
		}
	}
}
