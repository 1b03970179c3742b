package acceptor

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
)

// Config wires a Core to its node identity and storage.
type Config struct {
	// NodeID is this safekeeper's id, sent in AcceptorGreeting and checked
	// against membership configurations.
	NodeID ids.NodeID
	// WAL is the timeline's WAL store.
	WAL WAL
	// Control is the timeline's control-file store. Its state must name the
	// tenant and timeline.
	Control Control
	// HotStandby returns the hot-standby feedback aggregated over replicas
	// streaming from this node; it fills every AppendResponse. Nil means none.
	HotStandby func() walproto.HotStandbyFeedback
	// Logger receives rule decisions (votes, truncations); nil discards.
	Logger *slog.Logger
	// Lock is the timeline's state lock (a *timeline.Timeline is a
	// sync.Locker), shared with everyone else who touches the two stores.
	// Nil gives the Core a mutex of its own.
	Lock sync.Locker
}

// Core is the consensus state machine of one timeline: the safekeeper side
// of walproposer-protocol.md §3.3–§3.8 (the reference's SafeKeeper).
//
// Concurrency: every method takes the timeline's one lock (Config.Lock)
// for its whole duration, disk writes and fsyncs included, so messages of
// all connections of the timeline are processed one at a time (§7). A stale
// connection of the same compute is rejected by the term and continuity
// checks, not by locking. Anyone else touching the WAL or control store
// must hold the same lock (or use Do); no method may be called with it held.
type Core struct {
	mu     sync.Locker
	nodeID ids.NodeID
	wal    WAL
	ctl    Control
	hs     func() walproto.HotStandbyFeedback
	log    *slog.Logger

	// termStartLSN is where the term of the last processed ProposerElected
	// starts (the proposer's propTermStartLsn). Not persisted. Like the
	// reference it lives with the timeline, not with the connection.
	termStartLSN pgwal.LSN
}

// NewCore returns the consensus core of the timeline held by cfg.Control.
func NewCore(cfg Config) (*Core, error) {
	if cfg.WAL == nil || cfg.Control == nil {
		return nil, errors.New("acceptor: NewCore needs a WAL and a Control store")
	}
	st := cfg.Control.State()
	if st.TenantID.IsZero() || st.TimelineID.IsZero() {
		return nil, fmt.Errorf("acceptor: control state has empty tenant_id (%s) or timeline_id (%s)",
			st.TenantID, st.TimelineID)
	}
	c := &Core{mu: cfg.Lock, nodeID: cfg.NodeID, wal: cfg.WAL, ctl: cfg.Control, hs: cfg.HotStandby, log: cfg.Logger}
	if c.mu == nil {
		c.mu = new(sync.Mutex)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("tenant_id", st.TenantID.String(), "timeline_id", st.TimelineID.String())
	return c, nil
}

// flushLSN is the consensus flush_lsn(): the durable record-aligned end of
// WAL, but never below timeline_start_lsn so that commit_lsn ≤ flush_lsn
// holds before any WAL exists (§3.8). Only consensus messages use it; the
// status commands report the raw WAL store value.
func (c *Core) flushLSN(st *controlfile.State) pgwal.LSN {
	return max(c.wal.FlushRecordLSN(), st.TimelineStartLSN)
}

// FlushLSN returns the consensus flush_lsn() (see flushLSN).
func (c *Core) FlushLSN() pgwal.LSN {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.ctl.State()
	return c.flushLSN(&st)
}

// Term returns the acceptor's current term.
func (c *Core) Term() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ctl.State().Acceptor.Term
}

// CommitLSN returns the in-memory commit_lsn, the value IDENTIFY_SYSTEM,
// TIMELINE_STATUS and walsenders use.
func (c *Core) CommitLSN() pgwal.LSN {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ctl.State().CommitLSN
}

// LastLogTerm returns the term of the last history entry at or below the
// consensus flush_lsn, 0 if none.
func (c *Core) LastLogTerm() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.ctl.State()
	return st.Acceptor.TermHistory.LastLogTerm(c.flushLSN(&st))
}

// TermStartLSN returns where the term of the last accepted ProposerElected
// starts; 0 before one.
func (c *Core) TermStartLSN() pgwal.LSN {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.termStartLSN
}

// ruleError is an error whose text follows the reference safekeeper and
// which matches one sentinel with errors.Is.
type ruleError struct {
	kind error
	msg  string
}

func (e *ruleError) Error() string { return e.msg }
func (e *ruleError) Unwrap() error { return e.kind }

func ruleErrorf(kind error, format string, args ...any) error {
	return &ruleError{kind: kind, msg: fmt.Sprintf(format, args...)}
}
