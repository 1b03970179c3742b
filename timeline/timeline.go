package timeline

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/walkeeper/walkeeper/acceptor"
	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/internal/backlog"
	"github.com/walkeeper/walkeeper/replication"
	"github.com/walkeeper/walkeeper/walproto"
	"github.com/walkeeper/walkeeper/walstore"
)

// Timeline is one loaded timeline. Its control file (and, once wired, its WAL
// store) may only be touched while holding its lock; cancellation and the
// gate tell everything running on it when to stop and let deletion wait for
// them.
type Timeline struct {
	TTID ids.TTID
	Dir  string
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc

	gateMu     sync.Mutex
	gateClosed bool
	users      sync.WaitGroup

	// mu is the state lock. Walsenders in Flush mode hold it shared while
	// they read WAL (WithTermReadLocked); everything else takes it
	// exclusively through Lock.
	mu      sync.RWMutex
	control *controlfile.Store
	wal     *walstore.Store
	core    *acceptor.Core
	watches endWatches // published on Unlock

	senders   *replication.WalSenders
	receivers receivers // active START_WAL_PUSH sessions
	// ingest counts the bytes queued for the WalAcceptors of the
	// timeline's START_WAL_PUSH sessions; senders yield to it.
	ingest backlog.Counter

	hsMu sync.Mutex
	hs   func() walproto.HotStandbyFeedback

	// written, writeNanos and flushNanos count since load (WALCounters).
	written, writeNanos, flushNanos atomic.Uint64
}

func newTimeline(ttid ids.TTID, dir string, control *controlfile.Store, log *slog.Logger) *Timeline {
	ctx, cancel := context.WithCancel(context.Background())
	return &Timeline{
		TTID:    ttid,
		Dir:     dir,
		log:     log.With("ttid", ttid.String()),
		ctx:     ctx,
		cancel:  cancel,
		control: control,
		watches: newEndWatches(),
	}
}

// IngestBacklog is the work queued for this timeline's WalAcceptors:
// acceptor sessions count into it, replication senders yield to it
// (replication.Config.IngestBacklog).
func (tl *Timeline) IngestBacklog() *backlog.Counter { return &tl.ingest }

// Context is cancelled when the timeline is deleted or the server shuts
// down. Connections working on the timeline select on it.
func (tl *Timeline) Context() context.Context { return tl.ctx }

// Cancelled reports whether the timeline is being deleted or shut down.
func (tl *Timeline) Cancelled() bool { return tl.ctx.Err() != nil }

// Enter registers a user of the timeline (a connection, a background task).
// Deletion cancels the timeline and then waits until every user has called
// the returned release. Enter fails once the timeline is cancelled.
func (tl *Timeline) Enter() (release func(), err error) {
	tl.gateMu.Lock()
	defer tl.gateMu.Unlock()
	if tl.gateClosed || tl.Cancelled() {
		return nil, fmt.Errorf("%w: %s", ErrCancelled, tl.TTID)
	}
	tl.users.Add(1)
	var once sync.Once
	return func() { once.Do(tl.users.Done) }, nil
}

// Lock takes the timeline's state lock, which serializes every change of its
// control file and WAL.
func (tl *Timeline) Lock() { tl.mu.Lock() }

// Unlock publishes commit_lsn and {last_log_term, flush_lsn} to the
// walsender watches if they changed, then releases the state lock.
func (tl *Timeline) Unlock() {
	tl.publishLocked()
	tl.mu.Unlock()
}

// Control returns the control file store. Callers must hold the lock.
func (tl *Timeline) Control() *controlfile.Store { return tl.control }

// State returns a copy of the current control state (persisted plus
// overlay), taking the lock.
func (tl *Timeline) State() controlfile.State {
	tl.Lock()
	defer tl.Unlock()
	return tl.control.State()
}

// shutdown cancels the timeline, closes the gate, waits for its users and
// closes its files. It is safe to call more than once.
func (tl *Timeline) shutdown() {
	tl.gateMu.Lock()
	tl.gateClosed = true
	tl.cancel()
	tl.gateMu.Unlock()
	tl.users.Wait()
	if err := tl.closeResident(); err != nil {
		tl.log.Error("closing timeline", "err", err)
	}
}

// shutdownWait is shutdown bounded by ctx.
func (tl *Timeline) shutdownWait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { tl.shutdown(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for users of timeline %s to stop: %w", tl.TTID, ctx.Err())
	}
}
