package timeline

import (
	"errors"
	"fmt"

	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/replication"
	"github.com/walkeeper/walkeeper/walstore"
)

// BeforeStartError is returned by OpenWALReader for a start before the
// first segment of the timeline. Its text is Neon's; errors.Is matches
// walstore.ErrBeforeStart.
type BeforeStartError struct{ Start, TimelineStart pgwal.LSN }

func (e *BeforeStartError) Error() string {
	return fmt.Sprintf("Requested streaming from %s, which is before the start of the timeline %s, "+
		"and also doesn't start at the first segment of that timeline", e.Start, e.TimelineStart)
}

// Is makes errors.Is(err, walstore.ErrBeforeStart) true.
func (e *BeforeStartError) Is(target error) bool { return target == walstore.ErrBeforeStart }

// newWalSenders makes the timeline's walsender registry and routes its
// aggregates back into the timeline: hot-standby feedback into every
// AppendResponse, remote_consistent_lsn into the control file overlay.
func (tl *Timeline) newWalSenders(cfg Config) {
	tl.senders = replication.NewWalSenders(replication.RegistryOptions{
		ReceivedPSFeedbacks:   cfg.ReceivedPSFeedbacks,
		OnRemoteConsistentLSN: tl.advanceRemoteConsistentLSN,
	})
	tl.SetHotStandbyFeedback(tl.senders.HotStandbyFeedback)
}

// WalSenders is the registry of the timeline's walsenders.
func (tl *Timeline) WalSenders() *replication.WalSenders { return tl.senders }

// advanceRemoteConsistentLSN keeps inmem.remote_consistent_lsn at the
// maximum any pageserver reported (replication.md §5.1 step 3).
func (tl *Timeline) advanceRemoteConsistentLSN(l pgwal.LSN) {
	tl.Lock()
	defer tl.Unlock()
	if o := tl.control.Overlay(); l > o.RemoteConsistentLSN {
		tl.control.SetRemoteConsistentLSN(l)
	}
}

// WithTermReadLocked runs read under the timeline's read lock if the
// acceptor's current term is term (replication.md §3.5): a new term cannot
// truncate WAL during the read. Otherwise it returns a TermError.
func (tl *Timeline) WithTermReadLocked(term uint64, read func() error) error {
	tl.mu.RLock()
	defer tl.mu.RUnlock()
	if cur := tl.control.Term(); cur != term {
		return &replication.TermError{Requested: term, Current: cur, Acquire: true}
	}
	return read()
}

// OpenWALReader opens a reader of the timeline's WAL for a stream starting
// at start (replication.md §3.6). The caller must have entered the
// timeline, so the WAL store stays open while the reader is used.
func (tl *Timeline) OpenWALReader(start pgwal.LSN) (replication.WALReader, error) {
	tl.mu.RLock()
	ts, ls := tl.control.TimelineStartLSN(), tl.control.LocalStartLSN()
	segSize := uint64(tl.control.Persisted().Server.WalSegSize)
	wal := tl.wal
	tl.mu.RUnlock()
	switch {
	case wal == nil:
		return nil, fmt.Errorf("%w: %s", walstore.ErrClosed, tl.TTID)
	case segSize == 0 || ls == 0:
		return nil, errors.New("WAL reader state uninitialized: the timeline has no WAL yet")
	}
	if first := ts - pgwal.LSN(ts.SegmentOffset(segSize)); start < first {
		return nil, &BeforeStartError{Start: start, TimelineStart: ts}
	}
	return wal.NewReader(ts, ls), nil
}
