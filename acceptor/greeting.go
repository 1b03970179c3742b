package acceptor

import (
	"fmt"
	"strings"

	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/walproto"
)

// Greeting processes a ProposerGreeting (§3.3): it checks that the proposer
// talks about this timeline with a compatible server, adopts a new system
// id and a higher membership configuration, and returns the reply. The
// term does not change.
func (c *Core) Greeting(m *walproto.ProposerGreeting) (walproto.AcceptorGreeting, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.ctl.State()

	if err := checkServerVersion(m.PgVersion, st.Server.PGVersion); err != nil {
		return walproto.AcceptorGreeting{}, err
	}
	if m.TenantID != st.TenantID {
		return walproto.AcceptorGreeting{}, ruleErrorf(ErrWrongTimeline,
			"invalid tenant ID, got %s, expected %s", m.TenantID, st.TenantID)
	}
	if m.TimelineID != st.TimelineID {
		return walproto.AcceptorGreeting{}, ruleErrorf(ErrWrongTimeline,
			"invalid timeline ID, got %s, expected %s", m.TimelineID, st.TimelineID)
	}
	if m.WalSegSize != st.Server.WalSegSize {
		return walproto.AcceptorGreeting{}, ruleErrorf(ErrWalSegSize,
			"invalid wal_seg_size, got %d, expected %d", m.WalSegSize, st.Server.WalSegSize)
	}

	// sync-safekeepers does not know the system id and sends 0.
	if m.SystemID != 0 && m.SystemID != st.Server.SystemID {
		if st.Server.SystemID != 0 {
			c.log.Warn("unexpected system ID arrived", "got", m.SystemID, "expected", st.Server.SystemID)
		}
		err := c.ctl.Update(func(s *controlfile.State) {
			s.Server.SystemID = m.SystemID
			if m.PgVersion != 0 {
				s.Server.PGVersion = m.PgVersion
			}
		})
		if err != nil {
			return walproto.AcceptorGreeting{}, fmt.Errorf("persist system id: %w", err)
		}
		c.wal.SetServerInfo(m.SystemID, m.PgVersion)
	}

	if m.MConf.Generation > st.MConf.Generation {
		to := confFromWire(&m.MConf)
		if !to.Contains(c.nodeID) {
			return walproto.AcceptorGreeting{}, ruleErrorf(ErrNotMember,
				"refused to switch into %s, node %d is not a member of it", formatConf(&to), c.nodeID)
		}
		if err := c.ctl.Update(func(s *controlfile.State) { s.MConf = to }); err != nil {
			return walproto.AcceptorGreeting{}, fmt.Errorf("persist membership switch: %w", err)
		}
		c.log.Info("switched membership configuration", "to", formatConf(&to), "from", formatConf(&st.MConf))
	}

	st = c.ctl.State()
	return walproto.AcceptorGreeting{NodeID: c.nodeID, MConf: confToWire(&st.MConf), Term: st.Acceptor.Term}, nil
}

// checkServerVersion compares PostgreSQL major versions. Like the reference
// it maps both values to PG14–17 before looking at the "stored version is
// unknown (0)" exemption, so a value outside PG14–17 on either side, 0
// included, is refused; the exemption never applies.
func checkServerVersion(got, stored uint32) error {
	gotMajor, ok := pgMajor(got)
	if !ok {
		return ruleErrorf(ErrServerVersion, "InvalidPgVersion(%d)", got)
	}
	storedMajor, ok := pgMajor(stored)
	if !ok {
		return ruleErrorf(ErrServerVersion, "InvalidPgVersion(%d)", stored)
	}
	if gotMajor != storedMajor && stored != 0 {
		return ruleErrorf(ErrServerVersion, "incompatible server version %d, expected %d", got, stored)
	}
	return nil
}

// pgMajor maps a PG_VERSION_NUM to its major version if it is 14–17.
func pgMajor(v uint32) (uint32, bool) {
	m := v / 10000
	return m, m >= 14 && m <= 17
}

// formatConf prints a configuration the way the reference does in errors:
// "gen=2, members=([id=1, ep=sk-1:5454]), new_members=none".
func formatConf(c *controlfile.Configuration) string {
	set := func(ms controlfile.MemberSet) string {
		parts := make([]string, len(ms))
		for i, m := range ms {
			parts[i] = fmt.Sprintf("[id=%d, ep=%s:%d]", m.ID, m.Host, m.PgPort)
		}
		return "(" + strings.Join(parts, ", ") + ")"
	}
	newMembers := "none"
	if c.HasNewMembers {
		newMembers = set(c.NewMembers)
	}
	return fmt.Sprintf("gen=%d, members=%s, new_members=%s", c.Generation, set(c.Members), newMembers)
}
