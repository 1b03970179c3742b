package acceptor

import (
	"fmt"

	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/walproto"
)

// Vote processes a VoteRequest (§3.4). It first makes all written WAL
// durable, so that a new proposer starts at this node's durable end. The
// vote is granted iff the acceptor's term is strictly lower than the
// requested one; the new term is persisted durably before Vote returns, so
// the response can never overtake it. A refused vote is a normal response.
func (c *Core) Vote(m *walproto.VoteRequest) (walproto.VoteResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.ctl.State()
	if m.Generation != st.MConf.Generation {
		return walproto.VoteResponse{}, ruleErrorf(ErrGenerationMismatch,
			"refusing VoteRequest { generation: SafekeeperGeneration(%d), term: %d } due to generation mismatch: sk generation %d",
			m.Generation, m.Term, st.MConf.Generation)
	}
	if err := c.wal.Flush(); err != nil {
		return walproto.VoteResponse{}, fmt.Errorf("flush WAL before vote: %w", err)
	}
	flush := c.flushLSN(&st)
	resp := walproto.VoteResponse{
		Generation:  st.MConf.Generation,
		Term:        st.Acceptor.Term,
		FlushLSN:    flush,
		TruncateLSN: st.PeerHorizonLSN,
		TermHistory: historyToWire(st.Acceptor.TermHistory.UpTo(flush)),
	}
	if st.Acceptor.Term < m.Term {
		if err := c.ctl.Update(func(s *controlfile.State) { s.Acceptor.Term = m.Term }); err != nil {
			return walproto.VoteResponse{}, fmt.Errorf("persist vote for term %d: %w", m.Term, err)
		}
		resp.Term = m.Term
		resp.VoteGiven = true
	}
	c.log.Info("processed VoteRequest", "term", m.Term, "vote_given", resp.VoteGiven,
		"sk_term", resp.Term, "flush_lsn", resp.FlushLSN)
	return resp, nil
}
