// Package walstore keeps a timeline's WAL durable on local disk as
// PostgreSQL segment files and reads it back by LSN. It owns the segment
// files and their fsync order; it knows nothing about terms, networks or
// the control file (acceptor and controlfile do), and it decodes WAL only
// through pgwal to find record boundaries.
//
// Layout (one timeline directory): completed segments are named with 24
// upper-case hex digits exactly as PostgreSQL's XLogFileName; the one
// segment being written carries ".partial" and is renamed when its last
// byte is written and fdatasynced. New segments are prepared off the write
// path as "waltmp" (fallocate, or ftruncate where fallocate is
// unsupported; never zero-filled by writing) and renamed into place when
// the writer reaches them. Order is always data → fdatasync → rename →
// fsync the directory.
//
// Positions follow Neon (storage-and-operations §1.4): WriteLSN and the
// raw flush position may be mid-record; WriteRecordLSN and FlushLSN
// (flush_record_lsn) are record-aligned ends found by decoding what was
// written. Write many, Flush once: one fdatasync per group commit. An
// fsync error poisons the Store.
//
// On Open, WAL is decoded from the persisted commit_lsn to its end. A
// decode failure is a torn tail (cut off at the last whole record) unless
// a valid record follows it with no all-zero 512-byte sector in between;
// then Open fails with ErrCorrupt and the LSN.
//
// A Store is written from one goroutine (the acceptor); its position
// getters and Readers may be used from any goroutine.
package walstore
