package acceptor

import (
	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walstore"
)

// WAL is the part of the WAL store (walstore.Store) the consensus core
// uses. Positions follow storage-and-operations.md §1.4.
type WAL interface {
	// Write writes b at start without fsync. A write that completes a
	// segment makes it durable and advances the flush positions.
	Write(start pgwal.LSN, b []byte) error
	// Flush makes every written byte durable.
	Flush() error
	// Truncate discards WAL at and above end; all positions become end.
	Truncate(end pgwal.LSN) error
	// InitializeFirstSegment prepares the segment holding start so that
	// pg_waldump can read it before any streamed WAL arrives.
	InitializeFirstSegment(start pgwal.LSN) error
	// WriteLSN is the raw end of written bytes, possibly mid-record.
	WriteLSN() pgwal.LSN
	// WriteRecordLSN is the end of the last complete written record.
	WriteRecordLSN() pgwal.LSN
	// FlushRecordLSN is the end of the last complete durable record.
	FlushRecordLSN() pgwal.LSN
	// SetServerInfo tells the store the database identity a greeting
	// recorded (system id; PG_VERSION_NUM unless 0), for the synthetic
	// page headers it writes and serves.
	SetServerInfo(systemID uint64, pgVersion uint32)
}

// Control is the part of the control-file store (controlfile.Store) the
// consensus core uses. The store keeps a persisted copy and an in-memory
// overlay of lazily persisted fields (commit_lsn, peer_horizon_lsn, …).
type Control interface {
	// State is the persisted copy with the in-memory overlay applied.
	State() controlfile.State
	// Persisted is the state as last written to disk.
	Persisted() controlfile.State
	// Update applies fn to a copy of State() and, if the result differs
	// from what is on disk, writes it durably before returning.
	Update(fn func(*controlfile.State)) error
	// SetCommitLSN and SetPeerHorizonLSN change the overlay only.
	SetCommitLSN(pgwal.LSN)
	SetPeerHorizonLSN(pgwal.LSN)
	// Flush persists the overlay if it differs from what is on disk.
	Flush() error
}

// The production stores fit the seams.
var (
	_ WAL     = (*walstore.Store)(nil)
	_ Control = (*controlfile.Store)(nil)
)
