package acceptor

import "github.com/walkeeper/walkeeper/controlfile"

// The wire (walproto) and the control file (controlfile) each mirror their
// own Neon struct; these convert between the two.

func historyFromWire(h TermHistory) controlfile.TermHistory {
	if h == nil {
		return nil
	}
	out := make(controlfile.TermHistory, len(h))
	for i, e := range h {
		out[i] = controlfile.TermLsn{Term: e.Term, LSN: e.LSN}
	}
	return out
}

func historyToWire(h controlfile.TermHistory) TermHistory {
	if h == nil {
		return nil
	}
	out := make(TermHistory, len(h))
	for i, e := range h {
		out[i] = TermLsn{Term: e.Term, LSN: e.LSN}
	}
	return out
}

func membersFromWire(ms []Member) controlfile.MemberSet {
	if ms == nil {
		return nil
	}
	out := make(controlfile.MemberSet, len(ms))
	for i, m := range ms {
		out[i] = controlfile.Member{ID: m.ID, Host: m.Host, PgPort: m.PgPort}
	}
	return out
}

func membersToWire(ms controlfile.MemberSet) []Member {
	if ms == nil {
		return nil
	}
	out := make([]Member, len(ms))
	for i, m := range ms {
		out[i] = Member{ID: m.ID, Host: m.Host, PgPort: m.PgPort}
	}
	return out
}

// confFromWire maps a wire configuration; on the wire an empty new-member
// set means "not joint".
func confFromWire(c *MembershipConfiguration) controlfile.Configuration {
	return controlfile.Configuration{
		Generation:    c.Generation,
		Members:       membersFromWire(c.Members),
		NewMembers:    membersFromWire(c.NewMembers),
		HasNewMembers: len(c.NewMembers) > 0,
	}
}

// confToWire maps a stored configuration; a joint configuration with an
// empty new set is written as "not joint", as Neon's encoder does.
func confToWire(c *controlfile.Configuration) MembershipConfiguration {
	w := MembershipConfiguration{Generation: c.Generation, Members: membersToWire(c.Members)}
	if c.HasNewMembers {
		w.NewMembers = membersToWire(c.NewMembers)
	}
	return w
}
