package walproto

import (
	"fmt"
	"unicode/utf8"

	"github.com/walkeeper/walkeeper/ids"
)

// Member is one safekeeper of a membership configuration (Neon's
// SafekeeperId; walproposer.h SafekeeperId).
type Member struct {
	ID     ids.NodeID
	Host   string
	PgPort uint16
}

// MembershipConfiguration is Neon's membership::Configuration
// (walproposer.h MembershipConfiguration). It is on the wire only in v3.
//
// NewMembers is the second set of a joint configuration. Nil and empty both
// mean "not joint" and both encode as a zero count; parsing a zero count
// gives nil.
type MembershipConfiguration struct {
	Generation uint32
	Members    []Member
	NewMembers []Member
}

// IsJoint reports whether the configuration is joint (has new members).
func (c MembershipConfiguration) IsJoint() bool { return len(c.NewMembers) > 0 }

// minMemberSize is node_id + empty host cstring + port.
const minMemberSize = 8 + 1 + 2

// MaxMembers bounds each member set of a parsed configuration. Neon's
// walproposer handles at most 32 safekeepers (MAX_SAFEKEEPERS); without a
// bound, a 1 MiB greeting could carry about 95 000 members, whose
// duplicate check takes seconds of CPU and whose configuration, once
// persisted, every later message would copy.
const MaxMembers = 256

func appendMembers(w *writer, ms []Member) {
	w.u32(uint32(len(ms)))
	for _, m := range ms {
		w.u64(uint64(m.ID))
		w.cstring(m.Host)
		w.u16(m.PgPort)
	}
}

// appendMembershipConfiguration writes the v3 (big-endian) encoding. Hosts
// must not contain NUL bytes.
func appendMembershipConfiguration(w *writer, c MembershipConfiguration) {
	w.u32(c.Generation)
	appendMembers(w, c.Members)
	appendMembers(w, c.NewMembers)
}

func parseMembers(r *reader, set string) []Member {
	n := r.u32(set + " count")
	if r.err != nil || n == 0 {
		return nil
	}
	if uint64(n) > uint64(len(r.b)/minMemberSize) {
		r.fail(fmt.Errorf("%w: %s: %s count %d does not fit in %d bytes",
			ErrShortMessage, r.msg, set, n, len(r.b)))
		return nil
	}
	if n > MaxMembers {
		r.fail(fmt.Errorf("%w: %s: %s count %d is more than %d", ErrMalformed, r.msg, set, n, MaxMembers))
		return nil
	}
	ms := make([]Member, n)
	for i := range ms {
		ms[i].ID = ids.NodeID(r.u64(set + " node_id"))
		host := r.cstring(set + " host")
		ms[i].Host = string(host)
		ms[i].PgPort = r.u16(set + " port")
	}
	return ms
}

// parseMembershipConfiguration reads the v3 encoding. With validate (the
// safekeeper side) it applies the reference safekeeper's rules: a valid
// generation needs members, node ids are unique within a set, hosts are
// UTF-8. The walproposer checks none of these.
func parseMembershipConfiguration(r *reader, validate bool) MembershipConfiguration {
	var c MembershipConfiguration
	c.Generation = r.u32("generation")
	c.Members = parseMembers(r, "members")
	c.NewMembers = parseMembers(r, "new_members")
	if validate && r.err == nil {
		if err := c.validate(); err != nil {
			r.fail(fmt.Errorf("%s: %w", r.msg, err))
		}
	}
	return c
}

func (c MembershipConfiguration) validate() error {
	if c.Generation != 0 && len(c.Members) == 0 {
		return fmt.Errorf("%w: empty members_len with generation %d", ErrMalformed, c.Generation)
	}
	for _, set := range [][]Member{c.Members, c.NewMembers} {
		for i, m := range set {
			if !utf8.ValidString(m.Host) {
				return fmt.Errorf("%w: invalid utf8 in member host", ErrMalformed)
			}
			for _, o := range set[:i] {
				if o.ID == m.ID {
					return fmt.Errorf("%w: duplicate member node_id %d", ErrMalformed, m.ID)
				}
			}
		}
	}
	return nil
}

// Contains reports whether id is in Members or NewMembers (the safekeeper
// refuses to switch into a configuration that does not contain it).
func (c MembershipConfiguration) Contains(id ids.NodeID) bool {
	for _, set := range [][]Member{c.Members, c.NewMembers} {
		for _, m := range set {
			if m.ID == id {
				return true
			}
		}
	}
	return false
}
