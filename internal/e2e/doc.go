// Package e2e holds shared helpers for end-to-end tests and benchmarks of
// the WAL push path over real TCP: a capture of real PostgreSQL 15 WAL with
// its record boundaries (from pg_waldump), a proposer driver that streams it
// in walproposer-like chunks, and a harness that builds and runs real
// walkeeper processes (start, SIGKILL, restart). It owns no production
// code and must not be imported by it.
package e2e
