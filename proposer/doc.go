// Package proposer is the walproposer's side of the safekeeper protocol, in
// Go: it dials a safekeeper over libpq (pgconn), switches to COPY with
// START_WAL_PUSH, and exchanges walproto messages. It exists to drive a
// safekeeper from tests and, later, from a walproposer tool.
//
// It owns the client connection only. It makes no consensus decisions (no
// quorum, no term choice, no history comparison): callers decide what to
// send. Message encoding is walproto's.
package proposer
