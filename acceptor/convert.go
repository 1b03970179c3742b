package acceptor

import (
	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/walproto"
)

// The wire (walproto) and the control file (controlfile) each mirror their
// own Neon struct; these convert between the two.

func historyFromWire(h walproto.TermHistory) controlfile.TermHistory {
	if h == nil {
		return nil
	}
	out := make(controlfile.TermHistory, len(h))
	for i, e := range h {
		out[i] = controlfile.TermLsn{Term: e.Term, LSN: e.LSN}
	}
	return out
}

func historyToWire(h controlfile.TermHistory) walproto.TermHistory {
	if h == nil {
		return nil
	}
	out := make(walproto.TermHistory, len(h))
	for i, e := range h {
		out[i] = walproto.TermLsn{Term: e.Term, LSN: e.LSN}
	}
	return out
}

func membersFromWire(ms []walproto.Member) controlfile.MemberSet {
	if ms == nil {
		return nil
	}
	out := make(controlfile.MemberSet, len(ms))
	for i, m := range ms {
		out[i] = controlfile.Member{ID: m.ID, Host: m.Host, PgPort: m.PgPort}
	}
	return out
}

func membersToWire(ms controlfile.MemberSet) []walproto.Member {
	if ms == nil {
		return nil
	}
	out := make([]walproto.Member, len(ms))
	for i, m := range ms {
		out[i] = walproto.Member{ID: m.ID, Host: m.Host, PgPort: m.PgPort}
	}
	return out
}

// confFromWire maps a wire configuration; on the wire an empty new-member
// set means "not joint".
func confFromWire(c *walproto.MembershipConfiguration) controlfile.Configuration {
	return controlfile.Configuration{
		Generation:    c.Generation,
		Members:       membersFromWire(c.Members),
		NewMembers:    membersFromWire(c.NewMembers),
		HasNewMembers: len(c.NewMembers) > 0,
	}
}

// confToWire maps a stored configuration; a joint configuration with an
// empty new set is written as "not joint", as Neon's encoder does.
func confToWire(c *controlfile.Configuration) walproto.MembershipConfiguration {
	w := walproto.MembershipConfiguration{Generation: c.Generation, Members: membersToWire(c.Members)}
	if c.HasNewMembers {
		w.NewMembers = membersToWire(c.NewMembers)
	}
	return w
}
