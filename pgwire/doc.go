// Package pgwire is walkeeper's front door: the backend side of the
// PostgreSQL frontend/backend protocol. It owns the startup handshake,
// authentication, simple-query routing and error reporting, and hands
// START_WAL_PUSH and START_REPLICATION connections, switched to CopyBoth, to
// the packages that serve them. It never touches WAL or timeline state.
package pgwire
