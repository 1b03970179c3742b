// Package backlog counts the work queued for a timeline's WalAcceptors,
// so that the timeline's replication senders can let ingest go first.
//
// The acceptor adds a message's size when it queues the message and
// subtracts it when the WalAcceptor takes it; a sender that finds the count
// above zero waits (bounded by its own deadline) until it drains. Adding is
// an atomic add; only the step to zero takes a lock, and only while someone
// waits does it close a channel.
package backlog

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Counter is the queued work of one timeline. The zero Counter is ready to
// use; all methods are safe for concurrent use.
type Counter struct {
	n atomic.Int64

	mu      sync.Mutex
	drained chan struct{} // made by the first waiter, closed when n reaches zero
}

// Add changes the count by d. Callers add before they queue and subtract
// after they dequeue, so the count never falls below zero.
func (c *Counter) Add(d int64) {
	if c.n.Add(d) != 0 || d >= 0 {
		return
	}
	c.mu.Lock()
	// Another Add may have raised the count again since; then whoever
	// brings it back to zero wakes the waiters.
	if c.drained != nil && c.n.Load() == 0 {
		close(c.drained)
		c.drained = nil
	}
	c.mu.Unlock()
}

// Load returns the current count.
func (c *Counter) Load() int64 { return c.n.Load() }

// WaitDrained waits until the count is zero, for at most max. It reports
// whether the count was zero; false means max passed or ctx ended first.
func (c *Counter) WaitDrained(ctx context.Context, max time.Duration) bool {
	c.mu.Lock()
	if c.n.Load() <= 0 {
		c.mu.Unlock()
		return true
	}
	if c.drained == nil {
		c.drained = make(chan struct{})
	}
	ch := c.drained
	c.mu.Unlock()
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}
