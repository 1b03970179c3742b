package walproposer

import (
	"errors"
	"fmt"
	"slices"

	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
)

// ErrEmptyHistory: a common point was asked for against an empty proposer
// history, which the protocol forbids.
var ErrEmptyHistory = errors.New("walproposer: empty proposer term history")

// ErrHistoryConflict: the same term starts at different LSNs in two
// histories, which means corrupted state somewhere.
var ErrHistoryConflict = errors.New("walproposer: term histories disagree")

// Quorum is the number of walkeepers that make a majority of n.
func Quorum(n int) int { return n/2 + 1 }

// lastLogTerm is the term of the last entry of h, 0 if h is empty.
func lastLogTerm(h walproto.TermHistory) uint64 {
	if len(h) == 0 {
		return 0
	}
	return h[len(h)-1].Term
}

// Donor picks the voter the new term continues from: the highest
// last_log_term, ties broken by the highest flush_lsn (walproposer.c
// DetermineEpochStartLsn). It returns the index into votes.
func Donor(votes []walproto.VoteResponse) int {
	best := -1
	for i, v := range votes {
		if best < 0 {
			best = i
			continue
		}
		b := votes[best]
		lt, bt := lastLogTerm(v.TermHistory), lastLogTerm(b.TermHistory)
		if lt > bt || (lt == bt && v.FlushLSN > b.FlushLSN) {
			best = i
		}
	}
	return best
}

// CommonPoint is where a walkeeper that voted with skHistory (already cut
// at its flush position) and skFlush must start receiving WAL of a term
// whose history is prop: the end of the longest common prefix of the two
// histories (walproposer-protocol.md §3.5 step 4, which the walkeeper
// checks against start_streaming_at).
func CommonPoint(prop, skHistory walproto.TermHistory, skFlush pgwal.LSN) (pgwal.LSN, error) {
	if len(prop) == 0 {
		return 0, ErrEmptyHistory
	}
	k := -1
	for i := 0; i < len(prop) && i < len(skHistory); i++ {
		if prop[i].Term != skHistory[i].Term {
			break
		}
		if prop[i].LSN != skHistory[i].LSN {
			return 0, fmt.Errorf("%w: term %d starts at %s and at %s", ErrHistoryConflict,
				prop[i].Term, prop[i].LSN, skHistory[i].LSN)
		}
		k = i
	}
	switch {
	case k < 0:
		return prop[0].LSN, nil
	case k == len(prop)-1:
		return skFlush, nil
	}
	end := skFlush
	if k+1 < len(skHistory) {
		end = skHistory[k+1].LSN
	}
	return min(prop[k+1].LSN, end), nil
}

// QuorumCommit is the highest LSN a quorum of the n walkeepers has flushed
// in this term: flushes below termStart do not count, as Raft commits no
// entries of previous terms by counting (walproposer.c
// GetAcknowledgedByQuorumWALPosition). Missing walkeepers count as 0.
func QuorumCommit(flushes []pgwal.LSN, n int, termStart pgwal.LSN) pgwal.LSN {
	if n <= 0 {
		return 0
	}
	acks := make([]pgwal.LSN, n)
	for i, f := range flushes {
		if i < n && f >= termStart {
			acks[i] = f
		}
	}
	slices.Sort(acks)
	return acks[n-Quorum(n)]
}

// TruncateLSN is the proposer's truncate_lsn: the lowest flush over all
// configured walkeepers, capped by the commit (walproposer.c
// HandleSafekeeperResponse). Callers keep it monotone.
func TruncateLSN(flushes []pgwal.LSN, commit pgwal.LSN) pgwal.LSN {
	t := commit
	for _, f := range flushes {
		t = min(t, f)
	}
	return t
}
