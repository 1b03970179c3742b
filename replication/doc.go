// Package replication serves START_REPLICATION: raw physical streaming for
// pg_receivewal, PostgreSQL standbys and walproposer recovery (this
// package's Serve), and interpreted streaming for pageservers
// (ServeInterpreted, replication.md §6).
// Senders only read WAL and watch LSNs; they never slow the acceptor.
//
// It owns: parsing of START_REPLICATION (and the answer to
// TIMELINE_HISTORY), the codecs of the physical stream's CopyData
// messages, the send loop with its end-of-WAL rules, and the per-timeline
// walsender registry (WalSenders) that collects replica feedback.
//
// It must not touch: sockets or libpq framing (pgwire hands it a Stream),
// WAL files (walstore hands it a WALReader), or acceptor state (the
// timeline hands it watches and callbacks). Only internal/watch values are
// shared with the acceptor, and publishing one never waits for a reader.
//
// Wiring, per START_REPLICATION on a timeline:
//
//	cmd, err := replication.ParseStartReplication(query)   // error → ErrorResponse + ReadyForQuery
//	err = replication.Serve(ctx, replication.Config{
//		Command:    cmd,
//		Info:       replication.SenderInfo{Kind: replication.KindVanilla, TTID: ttid, Addr: peer, ConnID: id, AppName: appname},
//		Senders:    tli.WalSenders,            // one NewWalSenders per timeline
//		CommitLSN:  tli.CommitLSNWatch,        // *watch.Value[pgwal.LSN], in-memory commit_lsn ≤ flush_lsn
//		Computes:   tli.NumWALReceivers,       // walproposer + peer-recovery receivers
//		Flush:      tli.TermFlushLSNWatch,     // *watch.Value[replication.TermLSN]{last_log_term, flush_lsn}
//		WithTerm:   tli.WithTermReadLocked,    // read lock + acceptor term check (TermError{Acquire: true})
//		OpenReader: tli.OpenWALReader,         // walstore reader at start; errors go out as XX000
//		WALReaders: metrics.WALReaders,
//		Logger:     log,
//	}, copyBoth)                               // never ReadyForQuery afterwards
//
// ctx is the timeline's cancellation (shutdown ends the stream silently).
//
// Zero copy: when the Stream is a FileStream (pgwire over a socket) and the
// reader a WALFileReader (walstore), a Commit-mode raw stream sends each
// XLogData's WAL straight from the segment file with sendfile; message
// bounds and bytes are those of the copying path, which Flush mode,
// interpreted streams, synthetic bytes and Config.ZeroCopy (off, or auto
// for loopback clients) keep using.
//
// Interpreted streams (protocol=interpreted) call ServeInterpreted with the
// same Config (Info.Kind = KindInterpreted, Info.Shard set) and an
// InterpretedConfig: the shard, the negotiated encoding, the timeline's
// interpreted.Config, and optionally a ReaderHub (--wal-reader-fanout). In
// Commit mode a reader task (interpreted.Batcher over the WALReader) decodes
// and interprets, and the stream's sender encodes, compresses and sends
// '0' batches through a queue of 2, with a keepalive after each idle second
// and the §5.2 stop rule; with a hub, sharded streams of one timeline share
// one reader task (§6.12). Flush-mode interpreted streams decode inline in
// the vanilla sender loop. Slot registration, the reply reader and the
// terminal messages are the vanilla ones.
package replication
