// Package watch holds a single value that many goroutines observe and one
// writer replaces, like tokio::sync::watch. Setting never blocks on readers:
// each Set publishes a new immutable snapshot and closes the channel the
// previous snapshot handed out, so every waiter wakes without polling.
//
// It owns nothing but the value; it must not know what the value means.
package watch

import (
	"context"
	"sync/atomic"
)

// snapshot is one published value with the channel that is closed when a
// newer value replaces it.
type snapshot[T any] struct {
	v       T
	changed chan struct{}
}

// Value is a watched value. The zero Value is not usable; use New.
// All methods are safe for concurrent use.
type Value[T any] struct {
	cur atomic.Pointer[snapshot[T]]
}

// New returns a Value holding v.
func New[T any](v T) *Value[T] {
	w := &Value[T]{}
	w.cur.Store(&snapshot[T]{v: v, changed: make(chan struct{})})
	return w
}

// Set publishes v and wakes every goroutine waiting on the previous value.
// It never blocks. Concurrent Sets are safe, but the order in which they
// win is unspecified; a value with a single writer (or writers serialised
// by their own lock) is the intended use.
func (w *Value[T]) Set(v T) {
	old := w.cur.Swap(&snapshot[T]{v: v, changed: make(chan struct{})})
	close(old.changed)
}

// Get returns the current value.
func (w *Value[T]) Get() T { return w.cur.Load().v }

// Load returns the current value and a channel that is closed as soon as a
// newer value is published. Use it to wait in a select alongside timers.
func (w *Value[T]) Load() (T, <-chan struct{}) {
	s := w.cur.Load()
	return s.v, s.changed
}

// Wait returns the first value, starting with the current one, for which
// ok returns true, or ctx's error. Values published and replaced while the
// waiter was not looking are never seen; ok must not assume it sees every
// value.
func (w *Value[T]) Wait(ctx context.Context, ok func(T) bool) (T, error) {
	for {
		v, changed := w.Load()
		if ok(v) {
			return v, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
}
