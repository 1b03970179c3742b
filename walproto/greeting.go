package walproto

import (
	"fmt"

	"github.com/walkeeper/walkeeper/ids"
)

// ProposerGreeting is the walproposer's first message (walproposer.h
// ProposerGreeting; v2 sends ProposerGreetingV2 as a raw 80-byte C struct).
type ProposerGreeting struct {
	TenantID   ids.TenantID
	TimelineID ids.TimelineID
	MConf      MembershipConfiguration // v3 only; v2 implies generation 0, no members
	PgVersion  uint32                  // full PG_VERSION_NUM, e.g. 170004
	SystemID   uint64                  // 0 from --sync-safekeepers
	WalSegSize uint32

	// v2 only. ProtocolVersion is the version the v2 struct carries (the
	// walproposer writes 2; the safekeeper does not look at it).
	// ProposerID is ignored by the safekeeper and sent as zeros by the
	// walproposer; TLI is the PostgreSQL timeline (1), also ignored.
	ProtocolVersion uint32
	ProposerID      [16]byte
	TLI             uint32
}

// proposerGreetingV2Size is sizeof(ProposerGreetingV2).
const proposerGreetingV2Size = 80

func (ProposerGreeting) proposerMessage() {}

// Tag returns 'g'.
func (ProposerGreeting) Tag() byte { return TagGreeting }

// AppendProposerGreeting appends m in the given version. In v3 the ids are
// sent as lower-case hex cstrings; in v2 MConf is dropped.
func AppendProposerGreeting(dst []byte, version uint32, m ProposerGreeting) []byte {
	mustVersion(version)
	w := newWriter(dst, version)
	w.tag(TagGreeting)
	if version == Version3 {
		w.hexID(m.TenantID)
		w.hexID(m.TimelineID)
		appendMembershipConfiguration(&w, m.MConf)
		w.u32(m.PgVersion)
		w.u64(m.SystemID)
		w.u32(m.WalSegSize)
		return w.b
	}
	w.u32(m.ProtocolVersion)
	w.u32(m.PgVersion)
	w.bytes(m.ProposerID[:])
	w.u64(m.SystemID)
	w.bytes(m.TimelineID[:])
	w.bytes(m.TenantID[:])
	w.u32(m.TLI)
	w.u32(m.WalSegSize)
	return w.b
}

// parseProposerGreeting parses the body after the tag.
func parseProposerGreeting(r *reader, version uint32) ProposerGreeting {
	var m ProposerGreeting
	if version == Version3 {
		m.TenantID = parseHexID(r, "tenant_id")
		m.TimelineID = parseHexID(r, "timeline_id")
		m.MConf = parseMembershipConfiguration(r, true)
		m.PgVersion = r.u32("pg_version")
		m.SystemID = r.u64("system_id")
		m.WalSegSize = r.u32("wal_seg_size")
		if r.err == nil && m.PgVersion != 0 && (m.PgVersion < 140000 || m.PgVersion >= 180000) {
			// The reference panics here (from_full_pg_version); refuse instead.
			r.fail(fmt.Errorf("%w: %s: pg_version %d outside PostgreSQL 14-17", ErrMalformed, r.msg, m.PgVersion))
		}
		return m
	}
	m.ProtocolVersion = r.u32("protocol_version")
	m.PgVersion = r.u32("pg_version")
	copy(m.ProposerID[:], r.take(16, "proposer_id"))
	m.SystemID = r.u64("system_id")
	copy(m.TimelineID[:], r.take(16, "timeline_id"))
	copy(m.TenantID[:], r.take(16, "tenant_id"))
	m.TLI = r.u32("timeline")
	m.WalSegSize = r.u32("wal_seg_size")
	return m
}

// parseHexID reads a cstring holding 32 hex characters.
func parseHexID(r *reader, field string) ids.ID {
	s := r.cstring(field)
	if r.err != nil {
		return ids.ID{}
	}
	var id ids.ID
	if err := id.UnmarshalText(s); err != nil {
		r.fail(fmt.Errorf("%w: %s: %s: %w", ErrMalformed, r.msg, field, err))
	}
	return id
}

// AcceptorGreeting is the safekeeper's answer to a ProposerGreeting
// (walproposer.h AcceptorGreeting).
type AcceptorGreeting struct {
	NodeID ids.NodeID
	MConf  MembershipConfiguration // v3 only
	Term   uint64                  // the safekeeper's current term
}

func (AcceptorGreeting) acceptorMessage() {}

// Tag returns 'g'.
func (AcceptorGreeting) Tag() byte { return TagGreeting }

// AppendAcceptorGreeting appends m: v3 is tag, node_id, mconf, term; v2 is
// tag, term, node_id (24 bytes, no mconf).
func AppendAcceptorGreeting(dst []byte, version uint32, m AcceptorGreeting) []byte {
	mustVersion(version)
	w := newWriter(dst, version)
	w.tag(TagGreeting)
	if version == Version3 {
		w.u64(uint64(m.NodeID))
		appendMembershipConfiguration(&w, m.MConf)
		w.u64(m.Term)
		return w.b
	}
	w.u64(m.Term)
	w.u64(uint64(m.NodeID))
	return w.b
}

func parseAcceptorGreeting(r *reader, version uint32) AcceptorGreeting {
	var m AcceptorGreeting
	if version == Version3 {
		m.NodeID = ids.NodeID(r.u64("node_id"))
		m.MConf = parseMembershipConfiguration(r, false)
		m.Term = r.u64("term")
		return m
	}
	m.Term = r.u64("term")
	m.NodeID = ids.NodeID(r.u64("node_id"))
	return m
}
