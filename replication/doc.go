// Package replication serves START_REPLICATION: raw physical streaming for
// pg_receivewal, PostgreSQL standbys and walproposer recovery, and
// interpreted streaming for pageservers. Senders only read WAL and watch
// LSNs; they never slow the acceptor.
package replication
