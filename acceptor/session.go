package acceptor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/walkeeper/walkeeper/internal/backlog"
	"github.com/walkeeper/walkeeper/walproto"
	"golang.org/x/sync/errgroup"
)

// Pipeline sizes and periods of the reference WalAcceptor (§3.10).
const (
	// MsgQueueSize bounds the parsed messages waiting for the WalAcceptor
	// (MSG_QUEUE_SIZE): with 128 KiB appends, about 32 MiB per connection.
	// A full queue blocks the network reader, which back-pressures TCP.
	MsgQueueSize = 256
	// MaxQueuedBytes also bounds the inbound queue by payload size: twice
	// what MsgQueueSize full appends hold, so streaming never meets it, but
	// 256 large non-append messages (up to pgwire's 1 MiB each) cannot pin
	// hundreds of MiB per connection. One message larger than the budget
	// still passes when the queue is empty.
	MaxQueuedBytes = 2 * MsgQueueSize * walproto.MaxWALPerAppend
	// ReplyQueueSize bounds the replies waiting for the network writer.
	ReplyQueueSize = 16
	// FlushInterval is how often WAL is flushed and acknowledged while
	// appends keep the inbound queue from draining.
	FlushInterval = time.Second
	// SlowEnqueueThreshold is how long the network reader waits on a full
	// queue before logging a warning.
	SlowEnqueueThreshold = 5 * time.Second
)

// Session runs one START_WAL_PUSH stream: a network reader parses each
// CopyData payload into a bounded queue, the WalAcceptor processes the
// messages in order against the timeline's Core and batches fsyncs, and a
// network writer sends the replies. It never sends anything unsolicited:
// the only replies are one AcceptorGreeting per greeting, one VoteResponse
// per vote and AppendResponses after appends, so the walproposer's wait
// states (after the greeting, after the vote) see nothing.
type Session struct {
	// Stream is the connection, already switched to CopyBoth.
	Stream Stream
	// ProtoVersion is the proto_version of START_WAL_PUSH (2 or 3).
	ProtoVersion uint32
	// Open finds or creates the timeline named by the first greeting
	// (§3.2) and returns its Core; an error wrapping ErrTimelineNoCreate
	// ends the stream without an ErrorResponse.
	Open func(ctx context.Context, g *walproto.ProposerGreeting) (*Core, error)
	// Feedback delivers pageserver feedback to attach to a copy of the
	// last AppendResponse (§3.7 d). Nil means none.
	Feedback <-chan walproto.PageserverFeedback
	// OnElected, if set, is called after each ProposerElected is processed
	// without error: the connection is now streaming (Neon's walreceiver
	// status "Streaming"). It runs on the WalAcceptor goroutine; keep it short.
	OnElected func()
	// Logger gets the session's events; nil discards.
	Logger *slog.Logger
	// Metrics receives queue figures; nil records nothing.
	Metrics *SessionMetrics
	// Backlog, if set (by Open, before the first message is queued),
	// also counts the bytes in the inbound queue: the timeline's total,
	// which its replication senders yield to. Everything the session
	// counted is subtracted again by the time Run returns.
	Backlog *backlog.Counter

	// Test hooks; zero means the constants above.
	flushInterval time.Duration
	slowEnqueue   time.Duration
	maxQueued     int64 // MaxQueuedBytes when zero

	// queuedBytes is the payload size waiting in the inbound queue; drained
	// wakes a reader waiting for room after the WalAcceptor took a message.
	queuedBytes atomic.Int64
	drained     chan struct{}
}

// netError is a failure of the connection itself; nothing more can be
// sent on it, so it ends the session without an ErrorResponse.
type netError struct{ err error }

func (e netError) Error() string { return e.err.Error() }
func (e netError) Unwrap() error { return e.err }

// procError is a failure of processing a message; its text follows the
// reference ("WAL acceptor: <cause>").
type procError struct{ err error }

func (e procError) Error() string { return "WAL acceptor: " + e.err.Error() }
func (e procError) Unwrap() error { return e.err }

// Run serves the stream until the client ends it, an error occurs or ctx
// (the timeline's or the server's lifetime) is cancelled. It returns nil
// after a clean end. Parse and processing errors are sent to the client as
// ErrorResponse XX000 before Run returns them; connection errors, a
// missing timeline (ErrTimelineNoCreate) and cancellation are not. The
// caller closes the connection afterwards. When ctx ends the session, Run
// returns context.Cause(ctx).
func (s *Session) Run(ctx context.Context) error {
	stopFirst := context.AfterFunc(ctx, s.Stream.Interrupt)
	first, err := s.recv()
	stopFirst()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return s.finish(ctx, err)
	}
	g, ok := first.msg.(walproto.ProposerGreeting)
	if !ok {
		return s.finish(ctx, fmt.Errorf("unexpected message %T instead of greeting", first.msg))
	}
	core, err := s.Open(ctx, &g)
	if err != nil {
		return s.finish(ctx, err)
	}

	grp, gctx := errgroup.WithContext(ctx)
	stop := context.AfterFunc(gctx, s.Stream.Interrupt)
	defer stop()
	in := make(chan inbound, MsgQueueSize)
	s.drained = make(chan struct{}, 1)
	replies := make(chan walproto.AcceptorMessage, ReplyQueueSize)
	grp.Go(func() error { return s.readLoop(gctx, first, in) })
	grp.Go(func() error {
		defer close(replies)
		return s.acceptLoop(gctx, ctx, core, in, replies)
	})
	grp.Go(func() error { return s.writeLoop(gctx, replies) })
	err = grp.Wait()
	for m := range in { // the reader has closed it
		s.Metrics.queued(m, -1)
		s.count(-int64(m.size))
	}
	return s.finish(ctx, err)
}

// finish reports err to the client when it can and should.
func (s *Session) finish(ctx context.Context, err error) error {
	log := s.logger()
	var ne netError
	switch {
	case err == nil:
		log.Info("WAL push stream ended")
		return nil
	case ctx.Err() != nil:
		log.Info("WAL push stream cancelled", "err", err)
		return context.Cause(ctx)
	case errors.Is(err, ErrTimelineNoCreate), errors.As(err, &ne):
		log.Info("WAL push stream closed", "err", err)
	default:
		log.Warn("WAL push stream failed", "err", err)
		if serr := s.Stream.SendError(err.Error()); serr != nil {
			log.Info("sending ErrorResponse failed", "err", serr)
		}
	}
	return err
}

// recv reads and parses one message. A parsed AppendRequest aliases the
// payload while it waits in the queue, so a payload the stream may reuse is
// copied first; an OwnedStream's payload is parsed in place.
func (s *Session) recv() (inbound, error) {
	var b []byte
	var err error
	owned, isOwned := s.Stream.(OwnedStream)
	if isOwned {
		b, err = owned.RecvOwned()
	} else {
		b, err = s.Stream.Recv()
	}
	if errors.Is(err, io.EOF) {
		return inbound{}, io.EOF
	}
	if err != nil {
		return inbound{}, netError{err}
	}
	var own []byte
	if isOwned {
		own = b
	} else {
		b = bytes.Clone(b)
	}
	m, err := walproto.ParseProposerMessage(s.ProtoVersion, b)
	return inbound{msg: m, size: len(b), owned: own}, err
}

// readLoop is the network reader: it queues first and then every message
// that arrives, until EOF or an error.
func (s *Session) readLoop(ctx context.Context, first inbound, in chan<- inbound) error {
	defer close(in)
	m := first
	for {
		if err := s.enqueue(ctx, in, m); err != nil {
			return err
		}
		s.Metrics.queued(m, +1)
		var err error
		m, err = s.recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// enqueue blocks while the WalAcceptor is behind, logging once if that
// takes longer than the slow-enqueue threshold.
//
// m's bytes are counted before it is offered and taken back if it was not
// sent: counting after the send would let the WalAcceptor's dequeued run
// first, and the count would dip below zero for a moment.
func (s *Session) enqueue(ctx context.Context, in chan<- inbound, m inbound) error {
	size := int64(m.size)
	if s.room(m) {
		s.count(size)
		select {
		case in <- m:
			return nil
		default:
			s.count(-size)
		}
	}
	start := time.Now()
	slow := time.NewTimer(orDefault(s.slowEnqueue, SlowEnqueueThreshold))
	defer slow.Stop()
	slowC := slow.C // nil once the warning is out
	warned := false
	for {
		// Without room by bytes only the drain signal may let it in.
		var send chan<- inbound
		if s.room(m) {
			send = in
			s.count(size)
		}
		select {
		case send <- m:
			if warned {
				s.logger().Warn("slow WalAcceptor enqueue completed", "seconds", time.Since(start).Seconds())
			}
			return nil
		case <-s.drained:
		case <-slowC:
			slowC = nil
		case <-ctx.Done():
		}
		if send != nil {
			s.count(-size)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if slowC == nil && !warned {
			warned = true
			s.logger().Warn("slow WalAcceptor enqueue blocked", "seconds", time.Since(start).Seconds(),
				"queued_bytes", s.queuedBytes.Load())
		}
	}
}

// room reports whether m fits the byte budget of the inbound queue; an
// empty queue always takes one message.
func (s *Session) room(m inbound) bool {
	q := s.queuedBytes.Load()
	return q == 0 || q+int64(m.size) <= s.maxQueuedBytes()
}

func (s *Session) maxQueuedBytes() int64 {
	if s.maxQueued > 0 {
		return s.maxQueued
	}
	return MaxQueuedBytes
}

// count adds d bytes to the queued total of the session and of the
// timeline.
func (s *Session) count(d int64) {
	s.queuedBytes.Add(d)
	if s.Backlog != nil {
		s.Backlog.Add(d)
	}
}

// dequeued gives back m's share of the byte budget and wakes a reader
// waiting for room.
func (s *Session) dequeued(m inbound) {
	s.count(-int64(m.size))
	select {
	case s.drained <- struct{}{}:
	default:
	}
}

// writeLoop is the network writer. Besides the queued replies it sends, on
// pageserver feedback, a copy of the last AppendResponse with the feedback
// attached; before the first AppendResponse the proposer is not in its
// active state yet and feedback is dropped.
func (s *Session) writeLoop(ctx context.Context, replies <-chan walproto.AcceptorMessage) error {
	var (
		last    *walproto.AppendResponse
		buf     []byte
		pending walproto.AcceptorMessage
	)
	for {
		select {
		case m, ok := <-replies:
			if !ok {
				return nil
			}
			if ar, isAppend := m.(walproto.AppendResponse); isAppend {
				last = &ar
			}
			pending = m
		case fb := <-s.Feedback:
			if last == nil {
				continue
			}
			ar := *last
			ar.PageserverFeedback = &fb
			pending = ar
		case <-ctx.Done():
			return ctx.Err()
		}
		buf = walproto.AppendAcceptorMessage(buf[:0], s.ProtoVersion, pending)
		if err := s.Stream.Send(buf); err != nil {
			return netError{err}
		}
	}
}

func (s *Session) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
