package acceptor

import (
	"fmt"

	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
)

// Elected processes a ProposerElected (§3.5). It raises the term if the
// message's is higher and silently ignores a message of a lower term. It
// then checks that start_streaming_at is the common point of both term
// histories and not below commit_lsn, truncates the WAL there, adopts the
// proposer's full term history and initializes the start LSNs, all durably.
// There is never a reply.
func (c *Core) Elected(m *walproto.ProposerElected) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.ctl.State()
	if m.Generation != st.MConf.Generation {
		return ruleErrorf(ErrGenerationMismatch,
			"refusing ProposerElected { generation: SafekeeperGeneration(%d), term: %d, start_streaming_at: %s, term_history: %s } due to generation mismatch: sk generation %d",
			m.Generation, m.Term, m.StartStreamingAt, formatHistory(historyFromWire(m.TermHistory)), st.MConf.Generation)
	}
	if st.Acceptor.Term < m.Term {
		// A newer proposer may raise the term without a vote.
		if err := c.ctl.Update(func(s *controlfile.State) { s.Acceptor.Term = m.Term }); err != nil {
			return fmt.Errorf("persist term %d: %w", m.Term, err)
		}
		st.Acceptor.Term = m.Term
	}
	if st.Acceptor.Term > m.Term {
		// The next AppendRequest gets a term-only refusal.
		c.log.Info("ignoring ProposerElected of an older term", "term", m.Term, "sk_term", st.Acceptor.Term)
		return nil
	}

	propTh := historyFromWire(m.TermHistory)
	if err := checkBoundaries(m, propTh, uint64(st.Server.WalSegSize)); err != nil {
		return err
	}
	if err := c.checkStartPoint(m, &st, propTh); err != nil {
		return err
	}

	// An empty store gets the segment holding the start point initialized
	// first, so that pg_waldump can read it; repeating this is harmless.
	if c.wal.FlushRecordLSN() == 0 {
		if err := c.wal.InitializeFirstSegment(m.StartStreamingAt); err != nil {
			return fmt.Errorf("initialize first segment at %s: %w", m.StartStreamingAt, err)
		}
	}
	if err := c.wal.Truncate(m.StartStreamingAt); err != nil {
		return fmt.Errorf("truncate WAL at %s: %w", m.StartStreamingAt, err)
	}
	if err := c.ctl.Update(func(s *controlfile.State) { adoptElected(s, propTh, m.StartStreamingAt) }); err != nil {
		return fmt.Errorf("persist term history: %w", err)
	}
	c.termStartLSN = propTh[len(propTh)-1].LSN
	c.log.Info("start receiving WAL", "start_streaming_at", m.StartStreamingAt,
		"term", m.Term, "term_start_lsn", c.termStartLSN)
	return nil
}

// checkBoundaries refuses a start_streaming_at or term start that no
// record can begin at. A proposer only sends record boundaries there; any
// other value would be truncated to and persisted (as timeline_start_lsn
// and commit_lsn), and after a restart the WAL could not be decoded from
// it, so the timeline would not load.
func checkBoundaries(m *walproto.ProposerElected, propTh controlfile.TermHistory, segSize uint64) error {
	if !m.StartStreamingAt.CanBeRecordBoundary(segSize) {
		return ruleErrorf(ErrNotRecordBoundary, "refusing ProposerElected: start_streaming_at %s is not a record boundary", m.StartStreamingAt)
	}
	for _, e := range propTh {
		if !e.LSN.CanBeRecordBoundary(segSize) {
			return ruleErrorf(ErrNotRecordBoundary, "refusing ProposerElected: term %d starts at %s, which is not a record boundary", e.Term, e.LSN)
		}
	}
	return nil
}

// checkStartPoint refuses a start_streaming_at that is not the common
// point of the two histories (§3.5 steps 4–5) or is below commit_lsn
// (step 6).
func (c *Core) checkStartPoint(m *walproto.ProposerElected, st *controlfile.State, propTh controlfile.TermHistory) error {
	flush := c.flushLSN(st)
	skTh := st.Acceptor.TermHistory.UpTo(flush)
	cp, err := commonPoint(propTh, skTh, flush)
	if err != nil {
		return err
	}
	if cp.LSN != m.StartStreamingAt {
		return ruleErrorf(ErrUnexpectedTruncationPoint,
			"refusing ProposerElected with unexpected truncation point: lcp=%s start_streaming_at=%s, term=%d, sk_th=%s flush_lsn=%s, wp_th=%s",
			formatTermLsn(cp), m.StartStreamingAt, st.Acceptor.Term, formatHistory(skTh), flush, formatHistory(propTh))
	}
	if m.StartStreamingAt < st.CommitLSN {
		c.log.Error("ProposerElected would truncate committed WAL",
			"start_streaming_at", m.StartStreamingAt, "commit_lsn", st.CommitLSN)
		return ruleErrorf(ErrTruncateCommitted,
			"attempt to truncate committed data: start_streaming_at=%s, commit_lsn=%s, term=%d, sk_th=%s flush_lsn=%s, wp_th=%s",
			m.StartStreamingAt, st.CommitLSN, st.Acceptor.Term, formatHistory(skTh), flush, formatHistory(propTh))
	}
	return nil
}

// adoptElected is §3.5 step 9: the proposer's full history (it may reach
// beyond our WAL) and the first-time start LSNs. The start LSNs are set
// once; commit, backup and remote-consistent LSNs are raised to at least
// timeline_start_lsn, which lets end-of-WAL recovery skip the hole at the
// start of the first segment.
func adoptElected(s *controlfile.State, history controlfile.TermHistory, start pgwal.LSN) {
	if s.TimelineStartLSN == 0 {
		s.TimelineStartLSN = history[0].LSN
	}
	if s.PeerHorizonLSN == 0 {
		s.PeerHorizonLSN = s.TimelineStartLSN
	}
	if s.LocalStartLSN == 0 {
		s.LocalStartLSN = start
	}
	s.CommitLSN = max(s.CommitLSN, s.TimelineStartLSN)
	s.BackupLSN = max(s.BackupLSN, s.TimelineStartLSN)
	s.RemoteConsistentLSN = max(s.RemoteConsistentLSN, s.TimelineStartLSN)
	s.Acceptor.TermHistory = history
}

// formatTermLsn is Neon's Debug of a TermLsn.
func formatTermLsn(e controlfile.TermLsn) string {
	return fmt.Sprintf("TermLsn { term: %d, lsn: %s }", e.Term, e.LSN)
}

// historyPrinted is how many entries formatHistory prints, as Neon's.
const historyPrinted = 20

// formatHistory is Neon's Debug of a TermHistory: the newest entries
// first, at most historyPrinted of them, after "... " when some are left
// out, so a history of thousands of entries cannot make an error message
// of megabytes.
func formatHistory(th controlfile.TermHistory) string {
	var b []byte
	if len(th) > historyPrinted {
		b = append(b, "... "...)
	}
	b = append(b, '[')
	for i := range min(len(th), historyPrinted) {
		if i > 0 {
			b = append(b, ", "...)
		}
		e := th[len(th)-1-i]
		b = fmt.Appendf(b, "(%d, %s)", e.Term, e.LSN)
	}
	return string(append(b, ']'))
}
