package walproto

import (
	"fmt"

	"github.com/walkeeper/walkeeper/pgwal"
)

// TermLsn says that Term started writing WAL at LSN (walproposer.h
// TermSwitchEntry).
type TermLsn struct {
	Term uint64
	LSN  pgwal.LSN
}

// TermHistory lists term switches by increasing term and non-decreasing LSN
// (walproposer.h TermHistory). Encoded as u32 count then (u64 term, u64 lsn)
// pairs, big-endian in v3 and little-endian in v2.
type TermHistory []TermLsn

const termLsnSize = 16

func appendTermHistory(w *writer, h TermHistory) {
	w.u32(uint32(len(h)))
	for _, e := range h {
		w.u64(e.Term)
		w.u64(uint64(e.LSN))
	}
}

func parseTermHistory(r *reader) TermHistory {
	n := r.u32("term history count")
	if r.err != nil || n == 0 {
		return nil
	}
	if uint64(n) > uint64(len(r.b)/termLsnSize) {
		r.fail(fmt.Errorf("%w: %s: term history of %d entries does not fit in %d bytes",
			ErrShortMessage, r.msg, n, len(r.b)))
		return nil
	}
	h := make(TermHistory, n)
	for i := range h {
		h[i].Term = r.u64("term history term")
		h[i].LSN = pgwal.LSN(r.u64("term history lsn"))
	}
	return h
}

// UpTo returns the entries whose LSN is at most lsn (a new slice), which is
// what a VoteResponse carries for a flush position of lsn.
func (h TermHistory) UpTo(lsn pgwal.LSN) TermHistory {
	var out TermHistory
	for _, e := range h {
		if e.LSN > lsn {
			break
		}
		out = append(out, e)
	}
	return out
}
