package acceptor

import (
	"fmt"

	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
)

// Append processes an AppendRequest (§3.6). In the pipeline requireFlush
// is false: the WAL is written without fsync and a response is returned
// (ok true) only if the durable record-aligned end advanced anyway, as when
// a segment was completed, or as a term-only refusal to a stale proposer.
// With requireFlush the WAL is fsynced and a response always returned.
func (c *Core) Append(m *walproto.AppendRequest, requireFlush bool) (resp walproto.AppendResponse, ok bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := checkAppendShape(m); err != nil {
		return walproto.AppendResponse{}, false, err
	}
	st := c.ctl.State()
	if m.Generation != st.MConf.Generation {
		return walproto.AppendResponse{}, false, ruleErrorf(ErrGenerationMismatch,
			"refusing append request due to generation mismatch: request %d, sk %d",
			m.Generation, st.MConf.Generation)
	}
	if st.Acceptor.Term < m.Term {
		return walproto.AppendResponse{}, false, ErrAppendBeforeElected
	}
	if st.Acceptor.Term > m.Term {
		// Term-only refusal: an elected proposer can never raise its term,
		// so seeing a higher one makes it restart the election.
		return walproto.AppendResponse{Generation: st.MConf.Generation, Term: st.Acceptor.Term, HotStandby: c.hotStandby()}, true, nil
	}

	if err := checkContinuity(c.wal.WriteLSN(), m.BeginLSN); err != nil {
		return walproto.AppendResponse{}, false, err
	}
	// commit_lsn is a quorum's flush_lsn, a record end; any other value,
	// once persisted, would be where recovery starts decoding.
	if !m.CommitLSN.CanBeRecordBoundary(uint64(st.Server.WalSegSize)) {
		return walproto.AppendResponse{}, false, ruleErrorf(ErrNotRecordBoundary,
			"append request commit_lsn %s is not a record boundary", m.CommitLSN)
	}

	before := c.flushLSN(&st)
	if len(m.WAL) > 0 {
		if err := c.wal.Write(m.BeginLSN, m.WAL); err != nil {
			return walproto.AppendResponse{}, false, fmt.Errorf("write WAL at %s: %w", m.BeginLSN, err)
		}
	}
	if requireFlush {
		if err := c.wal.Flush(); err != nil {
			return walproto.AppendResponse{}, false, fmt.Errorf("flush WAL: %w", err)
		}
	}
	if m.CommitLSN != 0 {
		if err := c.updateCommitLSN(m.CommitLSN); err != nil {
			return walproto.AppendResponse{}, false, err
		}
	}
	// The proposer's value can lag ours (a restarted safekeeper reports its
	// persisted value), so only ever raise it.
	if m.TruncateLSN > st.PeerHorizonLSN {
		c.ctl.SetPeerHorizonLSN(m.TruncateLSN)
	}

	st = c.ctl.State()
	if !requireFlush && c.flushLSN(&st) == before {
		return walproto.AppendResponse{}, false, nil
	}
	return c.appendResponse(&st), true, nil
}

// FlushWAL makes all written WAL durable and returns an AppendResponse
// with the current positions (§3.7 a). The pipeline calls it when its
// inbound queue drains, every second while dirty, and on disconnect.
func (c *Core) FlushWAL() (walproto.AppendResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.wal.Flush(); err != nil {
		return walproto.AppendResponse{}, fmt.Errorf("flush WAL: %w", err)
	}
	st := c.ctl.State()
	return c.appendResponse(&st), nil
}

// RecordPeerCommit adopts a commit_lsn learned from a peer safekeeper (via
// the broker) if the peer's last_log_term equals ours, so that the WAL the
// commit refers to is the same.
func (c *Core) RecordPeerCommit(commitLSN pgwal.LSN, peerLastLogTerm uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if commitLSN == 0 {
		return nil
	}
	st := c.ctl.State()
	if peerLastLogTerm != st.Acceptor.TermHistory.LastLogTerm(c.flushLSN(&st)) {
		return nil
	}
	return c.updateCommitLSN(commitLSN)
}

// updateCommitLSN raises the in-memory commit_lsn towards candidate, never
// above the local durable end, and persists it at once when it first
// reaches the current term's start: sync-safekeepers waits for exactly
// that persisted value. Otherwise persisting is left to the control store's
// periodic flush, off the WAL hot path.
func (c *Core) updateCommitLSN(candidate pgwal.LSN) error {
	st := c.ctl.State()
	commit := min(max(candidate, st.CommitLSN), c.flushLSN(&st))
	if commit < st.CommitLSN {
		return fmt.Errorf("commit_lsn monotonicity violated: old=%s new=%s", st.CommitLSN, commit)
	}
	c.ctl.SetCommitLSN(commit)
	if commit >= c.termStartLSN && c.ctl.Persisted().CommitLSN < c.termStartLSN {
		if err := c.ctl.Flush(); err != nil {
			return fmt.Errorf("persist commit_lsn %s reaching term start: %w", commit, err)
		}
	}
	return nil
}

// appendResponse builds an AppendResponse from the current state. It
// reports the persisted commit_lsn: the proposer (sync-safekeepers above
// all) must only count what survives a restart.
func (c *Core) appendResponse(st *controlfile.State) walproto.AppendResponse {
	return walproto.AppendResponse{
		Generation: st.MConf.Generation,
		Term:       st.Acceptor.Term,
		FlushLSN:   c.flushLSN(st),
		CommitLSN:  c.ctl.Persisted().CommitLSN,
		HotStandby: c.hotStandby(),
	}
}

func (c *Core) hotStandby() walproto.HotStandbyFeedback {
	if c.hs == nil {
		return walproto.HotStandbyFeedback{}
	}
	return c.hs()
}

// checkContinuity enforces strictly sequential writes against the raw
// write_lsn w (§3.6 step 4); moving the position is what ProposerElected's
// truncation is for. A rewrite is expected when a reconnected proposer races
// packets of its old connection. w == 0 means nothing was written yet.
func checkContinuity(w, begin pgwal.LSN) error {
	if w > begin {
		return ruleErrorf(ErrRewrite, "append request rewrites WAL written before, write_lsn=%s, msg lsn=%s", w, begin)
	}
	if w < begin && w != 0 {
		return ruleErrorf(ErrGap, "append request creates gap in written WAL, write_lsn=%s, msg lsn=%s", w, begin)
	}
	return nil
}

// checkAppendShape repeats the parser's checks (§2.2) so that the core is
// safe for callers that build requests themselves.
func checkAppendShape(m *walproto.AppendRequest) error {
	if m.EndLSN < m.BeginLSN {
		return ruleErrorf(ErrBadAppend, "append request end_lsn %s is below begin_lsn %s", m.EndLSN, m.BeginLSN)
	}
	n := uint64(m.EndLSN - m.BeginLSN)
	if n > pgwal.MaxSendSize {
		return ruleErrorf(ErrBadAppend, "append request of %d bytes exceeds %d", n, pgwal.MaxSendSize)
	}
	if uint64(len(m.WAL)) != n {
		return ruleErrorf(ErrBadAppend, "append request carries %d WAL bytes for %s..%s", len(m.WAL), m.BeginLSN, m.EndLSN)
	}
	return nil
}
