package walproposer

import (
	"context"
	"errors"
	"fmt"

	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
)

// errSynced ends a sync-mode term once the walkeepers hold a common end.
var errSynced = errors.New("walproposer: safekeepers synced")

// termState is one election attempt and, once elected, its term. All
// fields are guarded by Proposer.mu.
type termState struct {
	greeted   []bool
	term      uint64 // 0 until a quorum greeted
	votes     []*walproto.VoteResponse
	elected   bool
	donor     int
	termStart pgwal.LSN // propTermStartLsn
	history   walproto.TermHistory
	truncate  pgwal.LSN
	noElected bool // sync mode: already synced, send no ProposerElected

	flush    []pgwal.LSN // last flush_lsn reported in this term
	skCommit []pgwal.LSN // last persisted commit_lsn reported
	hs       []walproto.HotStandbyFeedback
	active   []bool    // streaming now
	commit   pgwal.LSN // quorum commit of this term
}

func newTermState(n int) *termState {
	return &termState{greeted: make([]bool, n), votes: make([]*walproto.VoteResponse, n),
		flush: make([]pgwal.LSN, n), skCommit: make([]pgwal.LSN, n), active: make([]bool, n),
		hs: make([]walproto.HotStandbyFeedback, n)}
}

func count[T any](xs []T, ok func(T) bool) int {
	n := 0
	for _, x := range xs {
		if ok(x) {
			n++
		}
	}
	return n
}

// newElection records a term seen and returns errNewElection; p.mu is held.
func (p *Proposer) newElection(term uint64, why string, i int) error {
	p.maxTerm = max(p.maxTerm, term)
	return fmt.Errorf("%w: safekeeper %s %s (term %d)", errNewElection, p.cfg.Safekeepers[i], why, term)
}

// onGreeting records walkeeper i's greeting and waits until a quorum has
// greeted; it returns the term to campaign for (max seen + 1).
func (p *Proposer) onGreeting(ctx context.Context, st *termState, i int, skTerm uint64) (uint64, error) {
	p.mu.Lock()
	if st.term != 0 && skTerm > st.term {
		err := p.newElection(skTerm, "greeted with a higher term", i)
		p.mu.Unlock()
		return 0, err
	}
	p.maxTerm = max(p.maxTerm, skTerm)
	st.greeted[i] = true
	if st.term == 0 && count(st.greeted, func(b bool) bool { return b }) >= Quorum(p.n) {
		p.maxTerm++
		st.term = p.maxTerm
		p.log.Info("greeting quorum", "term", st.term)
		p.broadcast()
	}
	p.mu.Unlock()
	var term uint64
	err := p.waitFor(ctx, func() bool { term = st.term; return term != 0 })
	return term, err
}

// onVote records walkeeper i's VoteResponse, elects on a quorum, and waits
// for the election.
func (p *Proposer) onVote(ctx context.Context, st *termState, i int, vr walproto.VoteResponse) error {
	p.mu.Lock()
	if !vr.VoteGiven && (vr.Term > st.term || !st.elected) {
		err := p.newElection(vr.Term, "refused the vote", i)
		p.mu.Unlock()
		return err
	}
	if st.votes[i] == nil {
		st.votes[i] = &vr
	}
	if !st.elected && count(st.votes, func(v *walproto.VoteResponse) bool { return v != nil }) >= Quorum(p.n) {
		p.elect(st)
		p.broadcast()
	}
	p.mu.Unlock()
	return p.waitFor(ctx, func() bool { return st.elected })
}

// elect picks the donor and the new term's start and history (walproposer.c
// DetermineEpochStartLsn); p.mu is held.
func (p *Proposer) elect(st *termState) {
	var voters []walproto.VoteResponse
	var idx []int
	for i, v := range st.votes {
		if v != nil {
			voters = append(voters, *v)
			idx = append(idx, i)
			st.truncate = max(st.truncate, v.TruncateLSN)
		}
	}
	d := Donor(voters)
	st.donor = idx[d]
	st.termStart = voters[d].FlushLSN
	st.history = append(walproto.TermHistory(nil), voters[d].TermHistory...)
	if st.termStart == 0 {
		// A new timeline: it starts where the primary's WAL is taken from.
		st.termStart = p.freshStart
		st.history = nil
	}
	st.history = append(st.history, walproto.TermLsn{Term: st.term, LSN: st.termStart})
	st.noElected = p.cfg.SyncSafekeepers && (st.truncate == st.termStart || st.termStart == 0)
	st.elected = true
	p.log.Info("elected", "term", st.term, "donor", p.cfg.Safekeepers[st.donor],
		"term_start_lsn", st.termStart, "truncate_lsn", st.truncate, "history", fmt.Sprint(st.history))
}

// onAppendResponse takes a flush report, recomputes the quorum commit and
// truncate_lsn, and returns errNewElection on a higher term.
func (p *Proposer) onAppendResponse(st *termState, i int, r walproto.AppendResponse) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.Term > st.term {
		return p.newElection(r.Term, "answered with a higher term", i)
	}
	if r.Term < st.term {
		return nil
	}
	changed := r.FlushLSN != st.flush[i] || r.CommitLSN != st.skCommit[i]
	st.flush[i] = max(st.flush[i], r.FlushLSN)
	st.skCommit[i] = r.CommitLSN
	if c := QuorumCommit(st.flush, p.n, st.termStart); c > st.commit {
		st.commit = c
		p.commit = max(p.commit, c)
		changed = true
	}
	st.truncate = max(st.truncate, TruncateLSN(st.flush, st.commit))
	st.hs[i] = r.HotStandby
	if hs := AggregateHotStandby(st.hs); hs != p.hs {
		p.hs = hs
		changed = true
	}
	if changed {
		p.broadcast()
	}
	return nil
}

// setActive marks walkeeper i as streaming or not.
func (p *Proposer) setActive(st *termState, i int, on bool) {
	p.mu.Lock()
	st.active[i] = on
	p.broadcast()
	p.mu.Unlock()
}

// waitSynced waits, in sync mode, until the quorum commit reached the
// term start and every streaming walkeeper persisted it (walproposer.c
// HandleSafekeeperResponse under syncSafekeepers), and returns that LSN.
func (p *Proposer) waitSynced(ctx context.Context, st *termState) (pgwal.LSN, error) {
	var lsn pgwal.LSN
	err := p.waitFor(ctx, func() bool {
		if !st.elected {
			return false
		}
		lsn = st.termStart
		if st.noElected {
			return true
		}
		n := 0
		for i, on := range st.active {
			if !on {
				continue
			}
			if st.skCommit[i] < st.termStart {
				return false
			}
			n++
		}
		return st.commit >= st.termStart && n >= Quorum(p.n)
	})
	return lsn, err
}

// AggregateHotStandby combines the walkeepers' hot standby feedback as the
// walproposer does before passing it to PostgreSQL: the lowest non-zero
// xmin and catalog_xmin, the latest timestamp.
func AggregateHotStandby(hs []walproto.HotStandbyFeedback) walproto.HotStandbyFeedback {
	var agg walproto.HotStandbyFeedback
	for _, h := range hs {
		agg.TS = max(agg.TS, h.TS)
		if h.Xmin != 0 && (agg.Xmin == 0 || h.Xmin < agg.Xmin) {
			agg.Xmin = h.Xmin
		}
		if h.CatalogXmin != 0 && (agg.CatalogXmin == 0 || h.CatalogXmin < agg.CatalogXmin) {
			agg.CatalogXmin = h.CatalogXmin
		}
	}
	return agg
}
