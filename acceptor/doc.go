// Package acceptor serves START_WAL_PUSH: it turns the walproposer's
// consensus messages into term checks, WAL writes and control-file updates,
// and answers with flushed and committed LSNs. Each connection is split into
// a network reader, a WalAcceptor that owns disk work, and a network writer,
// joined by bounded channels.
package acceptor
