// Package walstore keeps a timeline's WAL durable on local disk as
// PostgreSQL segment files and reads it back by LSN. It owns the segment
// files and their fsync order; it knows nothing about terms or networks.
//
// Layout (one timeline directory): completed segments are named with 24
// upper-case hex digits exactly as PostgreSQL's XLogFileName; the segment
// being written carries ".partial" and is renamed when its last byte is
// written and fdatasynced. New segments are prepared off the write path as
// "waltmp" (fallocate, or ftruncate where fallocate is unsupported) and
// renamed into place when the writer reaches them. Order is always data →
// fdatasync → rename → fsync the directory.
//
// A Store is written from one goroutine (the acceptor); its position getters
// and Readers may be used from any goroutine. The control file, the WAL
// format and consensus rules live elsewhere (controlfile, pgwal, acceptor).
package walstore
