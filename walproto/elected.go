package walproto

import "github.com/walkeeper/walkeeper/pgwal"

// ProposerElected tells a safekeeper the elected proposer's term history and
// where streaming starts (walproposer.h ProposerElected). No reply follows.
type ProposerElected struct {
	Generation       uint32 // v3 only
	Term             uint64
	StartStreamingAt pgwal.LSN
	TermHistory      TermHistory
	// TimelineStartLSN is v2 only: a trailing field the safekeeper requires
	// but ignores (the walproposer sends the first history entry's LSN).
	TimelineStartLSN pgwal.LSN
}

func (ProposerElected) proposerMessage() {}

// Tag returns 'e'.
func (ProposerElected) Tag() byte { return TagProposerElected }

// AppendProposerElected appends m.
func AppendProposerElected(dst []byte, version uint32, m ProposerElected) []byte {
	mustVersion(version)
	w := newWriter(dst, version)
	w.tag(TagProposerElected)
	if version == Version3 {
		w.u32(m.Generation)
	}
	w.u64(m.Term)
	w.u64(uint64(m.StartStreamingAt))
	appendTermHistory(&w, m.TermHistory)
	if version == Version2 {
		w.u64(uint64(m.TimelineStartLSN))
	}
	return w.b
}

func parseProposerElected(r *reader, version uint32) ProposerElected {
	var m ProposerElected
	if version == Version3 {
		m.Generation = r.u32("generation")
	}
	m.Term = r.u64("term")
	m.StartStreamingAt = pgwal.LSN(r.u64("start_streaming_at"))
	m.TermHistory = parseTermHistory(r)
	if version == Version2 {
		m.TimelineStartLSN = pgwal.LSN(r.u64("timeline_start_lsn"))
	}
	return m
}
