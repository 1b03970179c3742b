package controlfile

import "github.com/walkeeper/walkeeper/pgwal"

// Non-copying accessors for the few fields read on every unlock of the
// timeline (to publish the walsender watches). State() clones the term
// history and membership; these do not allocate. The same locking rule
// as for every other Store method applies.

// CommitLSN returns the in-memory commit_lsn.
func (st *Store) CommitLSN() pgwal.LSN { return st.overlay.CommitLSN }

// Term returns the acceptor's current term.
func (st *Store) Term() uint64 { return st.persisted.Acceptor.Term }

// LastLogTerm returns the term of the last history entry at or below flush.
func (st *Store) LastLogTerm(flush pgwal.LSN) uint64 {
	return st.persisted.Acceptor.TermHistory.LastLogTerm(flush)
}

// TimelineStartLSN returns timeline_start_lsn.
func (st *Store) TimelineStartLSN() pgwal.LSN { return st.persisted.TimelineStartLSN }

// LocalStartLSN returns local_start_lsn.
func (st *Store) LocalStartLSN() pgwal.LSN { return st.persisted.LocalStartLSN }
