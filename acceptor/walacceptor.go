package acceptor

import (
	"context"
	"fmt"
	"time"

	"github.com/walkeeper/walkeeper/walproto"
)

// acceptLoop is the WalAcceptor (§3.10): it owns all consensus and disk
// work of the connection and processes messages strictly in order. Appends
// are written without fsync and mark the session dirty; a dirty session is
// flushed and acknowledged (FlushWAL) as soon as the inbound queue is
// empty, and every flush interval while it is not, so a burst of appends
// costs one fsync and one AppendResponse. On disconnect a dirty session is
// flushed once more unless life (the timeline or server context) ended.
func (s *Session) acceptLoop(ctx, life context.Context, core *Core, in <-chan inbound, replies chan<- walproto.AcceptorMessage) error {
	interval := orDefault(s.flushInterval, FlushInterval)
	// A time.Ticker's first tick comes after one period, and a slow
	// receiver gets delayed ticks, never a burst.
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	metrics := time.NewTicker(MetricsInterval)
	defer metrics.Stop()
	dirty := false

loop:
	for ctx.Err() == nil {
		var (
			reply walproto.AcceptorMessage
			ok    bool
			err   error
		)
		if dirty && len(in) == 0 {
			dirty = false
			ticker.Reset(interval)
			reply, err = core.FlushWAL()
			ok = true
		} else {
			select {
			case m, open := <-in:
				if !open {
					break loop
				}
				s.Metrics.queued(m, -1)
				s.dequeued(m)
				_, isAppend := m.msg.(walproto.AppendRequest)
				if isAppend {
					dirty = true
				}
				reply, ok, err = process(core, m.msg)
				if isAppend {
					s.recycle(m)
				}
				if _, elected := m.msg.(walproto.ProposerElected); elected && err == nil && s.OnElected != nil {
					s.OnElected()
				}
			case <-ticker.C:
				if !dirty {
					continue
				}
				dirty = false
				reply, err = core.FlushWAL()
				ok = true
			case <-metrics.C:
				s.Metrics.sampleDepth(len(in))
				continue
			case <-ctx.Done():
				break loop
			}
		}
		if err != nil {
			return procError{err}
		}
		if !ok {
			continue
		}
		select {
		case replies <- reply:
		case <-ctx.Done():
			break loop
		}
	}

	// Flush what the client sent before it went away (neon#9259); the
	// reply has no one to go to.
	if dirty && life.Err() == nil {
		if _, err := core.FlushWAL(); err != nil {
			return procError{err}
		}
	}
	return nil
}

// process applies one proposer message to the core. Appends take the
// no-flush path; flushing is the loop's business.
func process(core *Core, m walproto.ProposerMessage) (walproto.AcceptorMessage, bool, error) {
	switch m := m.(type) {
	case walproto.ProposerGreeting:
		r, err := core.Greeting(&m)
		return r, err == nil, err
	case walproto.VoteRequest:
		r, err := core.Vote(&m)
		return r, err == nil, err
	case walproto.ProposerElected:
		return nil, false, core.Elected(&m)
	case walproto.AppendRequest:
		r, ok, err := core.Append(&m, false)
		return r, ok, err
	}
	return nil, false, fmt.Errorf("unexpected message %T", m)
}

// recycle hands an AppendRequest's payload back to the stream once the
// request is processed: walstore has written the WAL (or the request was
// refused) and keeps no reference to it.
func (s *Session) recycle(m inbound) {
	if r, ok := s.Stream.(Recycler); ok && m.owned != nil {
		r.Recycle(m.owned)
	}
}
