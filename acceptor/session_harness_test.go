package acceptor

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/walproto"
)

var errInterrupted = errors.New("fake stream: interrupted")

// fakeStream is an in-memory Stream. Recv reuses one buffer, as pgproto3
// does, so a session that forgets to copy payloads corrupts its WAL.
type fakeStream struct {
	in    chan []byte
	buf   []byte
	recvs atomic.Int64

	sendGate chan struct{} // if set, Send waits until it is closed
	mu       sync.Mutex
	sent     [][]byte
	errs     []string
	sendErr  error
	notify   chan struct{}

	intr     chan struct{}
	intrOnce sync.Once
	events   *eventLog
}

func newFakeStream() *fakeStream {
	return &fakeStream{in: make(chan []byte, 4096), notify: make(chan struct{}, 1), intr: make(chan struct{})}
}

func (s *fakeStream) Recv() ([]byte, error) {
	s.recvs.Add(1)
	select {
	case b, ok := <-s.in:
		if !ok {
			return nil, io.EOF
		}
		s.buf = append(s.buf[:0], b...)
		return s.buf, nil
	case <-s.intr:
		return nil, errInterrupted
	}
}

func (s *fakeStream) Send(p []byte) error {
	if s.sendGate != nil {
		<-s.sendGate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sendErr != nil {
		s.events.add("send failed")
		return s.sendErr
	}
	s.sent = append(s.sent, bytes.Clone(p))
	s.events.add("send %c", p[0])
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return nil
}

func (s *fakeStream) SendError(msg string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, msg)
	return nil
}

func (s *fakeStream) Interrupt() { s.intrOnce.Do(func() { close(s.intr) }) }

func (s *fakeStream) sentCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent)
}

func (s *fakeStream) errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.errs)
}

// harness runs one Session in protocol v3 against a fixture's Core.
type harness struct {
	*fixture
	t       *testing.T
	stream  *fakeStream
	sess    *Session
	cancel  context.CancelFunc
	done    chan error
	logs    *syncBuffer
	started bool
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newHarness(t *testing.T, wal *fakeWAL) *harness {
	t.Helper()
	f := newFixture(t, tvState(), wal)
	s := newFakeStream()
	s.events = f.ev
	h := &harness{fixture: f, t: t, stream: s, done: make(chan error, 1), logs: &syncBuffer{}}
	h.sess = &Session{
		Stream:        s,
		ProtoVersion:  walproto.Version3,
		Open:          func(context.Context, *walproto.ProposerGreeting) (*Core, error) { return f.c, nil },
		Logger:        slog.New(slog.NewTextHandler(h.logs, nil)),
		flushInterval: 40 * time.Millisecond,
	}
	t.Cleanup(func() {
		if h.started {
			h.cancel()
			<-h.done
		}
	})
	return h
}

// start runs the session; call after adjusting h.sess.
func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.started = true
	go func() { h.done <- h.sess.Run(ctx) }()
}

func (h *harness) push(ms ...walproto.ProposerMessage) {
	for _, m := range ms {
		h.stream.in <- walproto.AppendProposerMessage(nil, h.sess.ProtoVersion, m)
	}
}

func (h *harness) eof() { close(h.stream.in) }

// wait returns Run's result.
func (h *harness) wait() error {
	h.t.Helper()
	select {
	case err := <-h.done:
		h.started = false
		return err
	case <-time.After(30 * time.Second):
		h.t.Fatal("session did not end")
		return nil
	}
}

// replies parses everything sent so far as the walproposer would.
func (h *harness) replies() []walproto.AcceptorMessage {
	h.t.Helper()
	h.stream.mu.Lock()
	defer h.stream.mu.Unlock()
	out := make([]walproto.AcceptorMessage, 0, len(h.stream.sent))
	for _, b := range h.stream.sent {
		m, err := walproto.ParseAcceptorMessage(h.sess.ProtoVersion, b)
		if err != nil {
			h.t.Fatalf("walproposer would reject reply % x: %v", b, err)
		}
		out = append(out, m)
	}
	return out
}

// waitFor polls cond for up to 30 s (generous: the machine is shared).
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (h *harness) waitReplies(n int) []walproto.AcceptorMessage {
	h.t.Helper()
	h.waitFor("replies", func() bool { return h.stream.sentCount() >= n })
	return h.replies()
}

// waitQueued waits until the reader has taken n payloads off the stream and
// queued them: it is then blocked reading payload n+1.
func (h *harness) waitQueued(n int) {
	h.t.Helper()
	h.waitFor("reader to queue", func() bool { return h.stream.recvs.Load() >= int64(n+1) })
}

// v3 messages of the §9 test vectors.
func tvGreeting() walproto.ProposerGreeting {
	return walproto.ProposerGreeting{TenantID: tvTenant, TimelineID: tvTimeline, PgVersion: tvPG,
		SystemID: tvSystemID, WalSegSize: tvSegSize}
}

func tvAppend(term uint64, begin, n int, commit int) walproto.AppendRequest {
	wal := make([]byte, n)
	for i := range wal {
		wal[i] = byte(begin + i)
	}
	return walproto.AppendRequest{Generation: 1, Term: term, BeginLSN: pgwalLSN(begin),
		EndLSN: pgwalLSN(begin + n), CommitLSN: pgwalLSN(commit), WAL: wal}
}

// handshake pushes greeting, vote and elected for term 1 starting at start.
func (h *harness) handshake(start int) {
	h.push(tvGreeting(), walproto.VoteRequest{Generation: 1, Term: 1},
		walproto.ProposerElected{Generation: 1, Term: 1, StartStreamingAt: pgwalLSN(start),
			TermHistory: walproto.TermHistory{{Term: 1, LSN: pgwalLSN(start)}}})
}
