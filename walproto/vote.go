package walproto

import "github.com/walkeeper/walkeeper/pgwal"

// VoteRequest asks a safekeeper to vote for Term (walproposer.h VoteRequest;
// v2 sends VoteRequestV2, 32 bytes with a zero proposer id).
type VoteRequest struct {
	Generation uint32 // v3 only; v2 implies 0
	Term       uint64
}

func (VoteRequest) proposerMessage() {}

// Tag returns 'v'.
func (VoteRequest) Tag() byte { return TagVote }

// AppendVoteRequest appends m (v3: 13 bytes, v2: 32 bytes).
func AppendVoteRequest(dst []byte, version uint32, m VoteRequest) []byte {
	mustVersion(version)
	w := newWriter(dst, version)
	w.tag(TagVote)
	if version == Version3 {
		w.u32(m.Generation)
		w.u64(m.Term)
		return w.b
	}
	w.u64(m.Term)
	var proposerID [16]byte // unused, zeros
	w.bytes(proposerID[:])
	return w.b
}

func parseVoteRequest(r *reader, version uint32) VoteRequest {
	if version == Version3 {
		return VoteRequest{Generation: r.u32("generation"), Term: r.u64("term")}
	}
	// The safekeeper's VoteRequestV2 has only the term: the zero proposer_id
	// the walproposer appends is trailing bytes to it.
	return VoteRequest{Term: r.u64("term")}
}

// VoteResponse is the safekeeper's verdict (walproposer.h VoteResponse).
type VoteResponse struct {
	Generation  uint32 // v3 only
	Term        uint64 // the safekeeper's term after processing
	VoteGiven   bool
	FlushLSN    pgwal.LSN
	TruncateLSN pgwal.LSN
	TermHistory TermHistory
}

func (VoteResponse) acceptorMessage() {}

// Tag returns 'v'.
func (VoteResponse) Tag() byte { return TagVote }

// AppendVoteResponse appends m. v3 sends vote_given as u8; v2 sends it as u64
// and appends a timeline_start_lsn of 0, as the reference does.
func AppendVoteResponse(dst []byte, version uint32, m VoteResponse) []byte {
	mustVersion(version)
	w := newWriter(dst, version)
	w.tag(TagVote)
	given := uint64(0)
	if m.VoteGiven {
		given = 1
	}
	if version == Version3 {
		w.u32(m.Generation)
		w.u64(m.Term)
		w.u8(uint8(given))
	} else {
		w.u64(m.Term)
		w.u64(given)
	}
	w.u64(uint64(m.FlushLSN))
	w.u64(uint64(m.TruncateLSN))
	appendTermHistory(&w, m.TermHistory)
	if version == Version2 {
		w.u64(0) // timeline_start_lsn, removed
	}
	return w.b
}

func parseVoteResponse(r *reader, version uint32) VoteResponse {
	var m VoteResponse
	if version == Version3 {
		m.Generation = r.u32("generation")
		m.Term = r.u64("term")
		m.VoteGiven = r.u8("vote_given") != 0
	} else {
		m.Term = r.u64("term")
		m.VoteGiven = r.u64("vote_given") != 0
	}
	m.FlushLSN = pgwal.LSN(r.u64("flush_lsn"))
	m.TruncateLSN = pgwal.LSN(r.u64("truncate_lsn"))
	m.TermHistory = parseTermHistory(r)
	if version == Version2 {
		r.u64("timeline_start_lsn")
	}
	return m
}
