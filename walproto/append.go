package walproto

import (
	"fmt"

	"github.com/walkeeper/walkeeper/pgwal"
)

// AppendRequest carries WAL from BeginLSN to EndLSN, or nothing when they are
// equal (a heartbeat) (walproposer.h AppendRequestHeader followed by WAL; v2
// sends AppendRequestHeaderV2, 72 bytes).
type AppendRequest struct {
	Generation  uint32 // v3 only
	Term        uint64
	BeginLSN    pgwal.LSN
	EndLSN      pgwal.LSN
	CommitLSN   pgwal.LSN // quorum-acknowledged LSN known to the proposer; 0 = unknown
	TruncateLSN pgwal.LSN // the proposer's peer horizon
	// TermStartLSN is v2 only (epochStartLsn); the walproposer sends 0 and the
	// safekeeper ignores it.
	TermStartLSN pgwal.LSN
	// WAL holds EndLSN-BeginLSN bytes. The encoder writes the fields as they
	// are, so a caller may build inconsistent requests on purpose.
	WAL []byte
}

// Header sizes including the tag.
const (
	appendRequestHeaderV3Size = 1 + 4 + 5*8
	appendRequestHeaderV2Size = 72
)

func (AppendRequest) proposerMessage() {}

// Tag returns 'a'.
func (AppendRequest) Tag() byte { return TagAppend }

// AppendAppendRequest appends the header and m.WAL.
func AppendAppendRequest(dst []byte, version uint32, m AppendRequest) []byte {
	mustVersion(version)
	w := newWriter(dst, version)
	w.tag(TagAppend)
	if version == Version3 {
		w.u32(m.Generation)
		w.u64(m.Term)
		w.u64(uint64(m.BeginLSN))
		w.u64(uint64(m.EndLSN))
		w.u64(uint64(m.CommitLSN))
		w.u64(uint64(m.TruncateLSN))
	} else {
		w.u64(m.Term)
		w.u64(uint64(m.TermStartLSN))
		w.u64(uint64(m.BeginLSN))
		w.u64(uint64(m.EndLSN))
		w.u64(uint64(m.CommitLSN))
		w.u64(uint64(m.TruncateLSN))
		var proposerID [16]byte // unused, zeros
		w.bytes(proposerID[:])
	}
	w.bytes(m.WAL)
	return w.b
}

// ParseAppendRequest parses an AppendRequest, tag included, as the safekeeper
// does: end_lsn >= begin_lsn (ErrAppendRange), at most MaxWALPerAppend WAL
// bytes (ErrAppendTooLarge), enough bytes for the WAL (ErrShortMessage);
// trailing bytes after the WAL are ignored. A wrong tag is ErrUnknownTag.
//
// The returned WAL aliases b (capacity clipped to its length): copy it before
// b is reused, e.g. by the next pgproto3 Receive. It does not allocate.
func ParseAppendRequest(version uint32, b []byte) (AppendRequest, error) {
	if err := CheckVersion(version); err != nil {
		return AppendRequest{}, err
	}
	r := newReader(b, version, "AppendRequest")
	if t := r.tag(); r.err == nil && t != TagAppend {
		return AppendRequest{}, fmt.Errorf("%w %q, want AppendRequest", ErrUnknownTag, t)
	}
	m := parseAppendRequest(&r, version)
	if r.err != nil {
		return AppendRequest{}, r.err
	}
	return m, nil
}

func parseAppendRequest(r *reader, version uint32) AppendRequest {
	var m AppendRequest
	if version == Version3 {
		m.Generation = r.u32("generation")
		m.Term = r.u64("term")
	} else {
		m.Term = r.u64("term")
		m.TermStartLSN = pgwal.LSN(r.u64("term_start_lsn"))
	}
	m.BeginLSN = pgwal.LSN(r.u64("begin_lsn"))
	m.EndLSN = pgwal.LSN(r.u64("end_lsn"))
	m.CommitLSN = pgwal.LSN(r.u64("commit_lsn"))
	m.TruncateLSN = pgwal.LSN(r.u64("truncate_lsn"))
	if version == Version2 {
		r.take(16, "proposer_id")
	}
	if r.err != nil {
		return m
	}
	if m.EndLSN < m.BeginLSN {
		r.fail(fmt.Errorf("%w: begin %s, end %s", ErrAppendRange, m.BeginLSN, m.EndLSN))
		return m
	}
	if n := uint64(m.EndLSN - m.BeginLSN); n > MaxWALPerAppend {
		r.fail(fmt.Errorf("%w: %d bytes", ErrAppendTooLarge, n))
		return m
	}
	m.WAL = r.take(int(m.EndLSN-m.BeginLSN), "WAL")
	return m
}

// AppendResponse reports a safekeeper's progress (walproposer.h
// AppendResponse).
type AppendResponse struct {
	Generation uint32 // v3 only
	Term       uint64
	FlushLSN   pgwal.LSN
	CommitLSN  pgwal.LSN // the persisted commit_lsn
	HotStandby HotStandbyFeedback
	// PageserverFeedback is sent after the fixed part when non-nil; the
	// walproposer decides it is present by whether any bytes remain.
	PageserverFeedback *PageserverFeedback
}

// Fixed part sizes including the tag (v2: APPENDRESPONSE_FIXEDPART_SIZE).
const (
	appendResponseV3Size = 1 + 4 + 3*8 + hotStandbyFeedbackSize
	appendResponseV2Size = 8 + 3*8 + hotStandbyFeedbackSize
)

func (AppendResponse) acceptorMessage() {}

// Tag returns 'a'.
func (AppendResponse) Tag() byte { return TagAppend }

// AppendAppendResponse appends m. It does not allocate when dst has room.
func AppendAppendResponse(dst []byte, version uint32, m AppendResponse) []byte {
	mustVersion(version)
	w := newWriter(dst, version)
	w.tag(TagAppend)
	if version == Version3 {
		w.u32(m.Generation)
	}
	w.u64(m.Term)
	w.u64(uint64(m.FlushLSN))
	w.u64(uint64(m.CommitLSN))
	appendHotStandbyFeedback(&w, m.HotStandby)
	if m.PageserverFeedback != nil {
		w.b = AppendPageserverFeedback(w.b, *m.PageserverFeedback)
	}
	return w.b
}

func parseAppendResponse(r *reader, version uint32) AppendResponse {
	var m AppendResponse
	if version == Version3 {
		m.Generation = r.u32("generation")
	}
	m.Term = r.u64("term")
	m.FlushLSN = pgwal.LSN(r.u64("flush_lsn"))
	m.CommitLSN = pgwal.LSN(r.u64("commit_lsn"))
	m.HotStandby = parseHotStandbyFeedback(r)
	if r.err == nil && len(r.b) > 0 {
		r.le = false // the feedback block is big-endian even in v2
		f := parsePageserverFeedback(r)
		m.PageserverFeedback = &f
	}
	return m
}
