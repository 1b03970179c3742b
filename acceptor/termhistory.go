package acceptor

import (
	"fmt"

	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/pgwal"
)

// commonPoint is where the proposer's history prop and this node's history
// sk (already cut at end, the node's flush_lsn) diverge: the WAL below it is
// identical on both, the WAL above it on this node must be truncated
// (walproposer-protocol.md §3.5 step 4). Both sides compute it with the
// same algorithm, so the proposer's start_streaming_at must equal it.
func commonPoint(prop, sk controlfile.TermHistory, end pgwal.LSN) (controlfile.TermLsn, error) {
	if len(prop) == 0 {
		return controlfile.TermLsn{}, fmt.Errorf("empty walproposer term history: %w", ErrTermHistory)
	}
	if n := len(sk); n > 0 && sk[n-1].LSN > end {
		return controlfile.TermLsn{}, fmt.Errorf("%w: safekeeper term history end %v is above WAL end %s",
			ErrTermHistory, sk[n-1], end)
	}
	k := -1
	for i := 0; i < len(prop) && i < len(sk); i++ {
		if prop[i].Term != sk[i].Term {
			break
		}
		if prop[i].LSN != sk[i].LSN {
			return controlfile.TermLsn{}, fmt.Errorf("%w: same term %d has different start LSNs: prop %s, sk %s",
				ErrTermHistory, prop[i].Term, prop[i].LSN, sk[i].LSN)
		}
		k = i
	}
	switch {
	case k < 0:
		// No common term: stream from the very start of the proposer's history.
		return prop[0], nil
	case k == len(prop)-1:
		// The proposer's term k never ended; ours ends at our WAL end.
		return controlfile.TermLsn{Term: prop[k].Term, LSN: end}, nil
	default:
		skEnd := end
		if k+1 < len(sk) {
			skEnd = sk[k+1].LSN
		}
		return controlfile.TermLsn{Term: prop[k].Term, LSN: min(prop[k+1].LSN, skEnd)}, nil
	}
}
