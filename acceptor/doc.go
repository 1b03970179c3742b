// Package acceptor serves START_WAL_PUSH: it turns the walproposer's
// consensus messages into term checks, WAL writes and control-file updates,
// and answers with flushed and committed LSNs. Each connection is split into
// a network reader, a WalAcceptor that owns disk work, and a network writer,
// joined by bounded channels.
//
// Core is the consensus state machine of one timeline
// (walproposer-protocol.md §3.3–§3.8): Greeting, Vote, Elected, Append and
// FlushWAL, serialized by one mutex per timeline. It reaches disk only
// through two small seams, WAL (satisfied by walstore.Store) and Control
// (satisfied by controlfile.Store), which tests replace with in-memory fakes.
//
// Session runs the per-connection pipeline of §3.10 over a Stream, the
// CopyData channel the pgwire handler provides, using walproto's codecs.
//
// The package does not own sockets, libpq framing, authentication or the
// timeline registry (pgwire and the server do), nor file formats (walstore,
// controlfile).
package acceptor
