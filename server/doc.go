// Package server assembles a walkeeper process from a Config: the data
// directory (pid-file lock, node id file), logging, the libpq listeners
// served by pgwire, the HTTP listener, and graceful shutdown. It owns no
// protocol and no storage; cmd/walkeeper only turns flags into a Config.
package server
