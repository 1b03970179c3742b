// Package walproposer is a walproposer outside PostgreSQL: it reads a
// vanilla PostgreSQL primary's WAL over physical replication and makes it
// durable on a quorum of walkeepers with the Neon safekeeper protocol, as
// the walproposer inside a Neon compute does (walproposer-protocol.md §3).
//
// It owns the consensus decisions the proposer package leaves to callers:
// the greeting quorum, the term (max + 1), the vote quorum, the donor (by
// last_log_term, then flush_lsn), the term history, each walkeeper's common
// point, the quorum commit (no commit from previous terms) and truncate_lsn.
// It reports the quorum commit to the primary as its flush position, so a
// primary whose synchronous_standby_names names it waits for a quorum.
//
// It must not touch walkeeper internals: it talks to walkeepers only over
// the wire (proposer.Conn for START_WAL_PUSH, START_REPLICATION with a term
// for recovery from a donor).
package walproposer
