package acceptor

import "github.com/walkeeper/walkeeper/pgwal"

// Status is a consistent snapshot of a timeline's consensus positions, for
// TIMELINE_STATUS, IDENTIFY_SYSTEM, the HTTP API, the broker and metrics.
type Status struct {
	Generation  uint32
	Term        uint64
	LastLogTerm uint64
	// FlushLSN is the WAL store's durable record-aligned end, the value
	// status commands report (not the consensus max with
	// timeline_start_lsn, see walproposer-protocol.md §10).
	FlushLSN pgwal.LSN
	// WriteLSN is the raw end of written WAL, possibly mid-record.
	WriteLSN pgwal.LSN
	// CommitLSN is the in-memory commit_lsn; PersistedCommitLSN the one in
	// the control file, which AppendResponse reports.
	CommitLSN, PersistedCommitLSN pgwal.LSN
	PeerHorizonLSN                pgwal.LSN
	BackupLSN                     pgwal.LSN
	RemoteConsistentLSN           pgwal.LSN
	TimelineStartLSN              pgwal.LSN
	LocalStartLSN                 pgwal.LSN
	// TermStartLSN is where the last accepted proposer's term starts.
	TermStartLSN pgwal.LSN
}

// Status returns a snapshot taken under the timeline lock.
func (c *Core) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.ctl.State()
	return Status{
		Generation:          st.MConf.Generation,
		Term:                st.Acceptor.Term,
		LastLogTerm:         st.Acceptor.TermHistory.LastLogTerm(c.flushLSN(&st)),
		FlushLSN:            c.wal.FlushRecordLSN(),
		WriteLSN:            c.wal.WriteLSN(),
		CommitLSN:           st.CommitLSN,
		PersistedCommitLSN:  c.ctl.Persisted().CommitLSN,
		PeerHorizonLSN:      st.PeerHorizonLSN,
		BackupLSN:           st.BackupLSN,
		RemoteConsistentLSN: st.RemoteConsistentLSN,
		TimelineStartLSN:    st.TimelineStartLSN,
		LocalStartLSN:       st.LocalStartLSN,
		TermStartLSN:        c.termStartLSN,
	}
}

// Do runs fn holding the timeline lock. Everyone else who touches the WAL
// or control store of this timeline (the timeline manager's periodic
// control-file save, WAL removal, HTTP term bumps and membership switches)
// must do it inside Do or under the same Config.Lock, because neither store
// is safe for concurrent use.
func (c *Core) Do(fn func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fn()
}
