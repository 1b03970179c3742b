package timeline

import (
	"github.com/walkeeper/walkeeper/internal/watch"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/replication"
)

// endWatches are the two values walsenders wait on (replication.md §2.2):
// the in-memory commit_lsn (Commit mode) and {last_log_term, flush_lsn}
// (Flush mode). They are the only state shared between the acceptor and
// the senders; publishing never waits for a reader.
type endWatches struct {
	commit *watch.Value[pgwal.LSN]
	flush  *watch.Value[replication.TermLSN]

	// Last published values, guarded by the timeline lock, so an Unlock
	// that changed nothing publishes nothing.
	pubCommit pgwal.LSN
	pubFlush  replication.TermLSN
}

func newEndWatches() endWatches {
	return endWatches{
		commit: watch.New[pgwal.LSN](0),
		flush:  watch.New(replication.TermLSN{}),
	}
}

// publishLocked publishes commit_lsn and {last_log_term, flush_lsn} if
// they changed. It runs in Unlock, before the lock is released, so every
// change made under the lock is visible to senders as soon as it is
// complete; it allocates nothing unless a value changed.
func (tl *Timeline) publishLocked() {
	if tl.wal == nil {
		return
	}
	w := &tl.watches
	// last_log_term is taken at the consensus flush_lsn (never below
	// timeline_start_lsn), but a (term=…) stream ends at the raw storage
	// flush position (walproposer-protocol §10), so it never serves
	// synthetic bytes as if they were flushed WAL.
	flush := tl.wal.FlushRecordLSN()
	consensus := max(flush, tl.control.TimelineStartLSN())
	tf := replication.TermLSN{Term: tl.control.LastLogTerm(consensus), LSN: flush}
	if tf != w.pubFlush {
		w.pubFlush = tf
		w.flush.Set(tf)
	}
	if c := tl.control.CommitLSN(); c != w.pubCommit {
		w.pubCommit = c
		w.commit.Set(c)
	}
}

// CommitLSNWatch is the in-memory commit_lsn, for Commit-mode senders. It
// never exceeds flush_lsn and never decreases.
func (tl *Timeline) CommitLSNWatch() *watch.Value[pgwal.LSN] { return tl.watches.commit }

// TermFlushLSNWatch is {last_log_term, flush_lsn}, for Flush-mode senders.
func (tl *Timeline) TermFlushLSNWatch() *watch.Value[replication.TermLSN] { return tl.watches.flush }
