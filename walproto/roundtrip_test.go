package walproto

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/pgwal"
)

// gen makes random messages that survive a round trip in one version:
// fields a version does not carry are left zero.
type gen struct {
	r       *rand.Rand
	version uint32
}

func (g gen) v3(v uint32) uint32 {
	if g.version == Version3 {
		return v
	}
	return 0
}

func (g gen) lsn() pgwal.LSN { return pgwal.LSN(g.r.Uint64()) }

func (g gen) history() TermHistory {
	n := g.r.IntN(4)
	if n == 0 {
		return nil
	}
	h := make(TermHistory, n)
	for i := range h {
		h[i] = TermLsn{Term: g.r.Uint64(), LSN: g.lsn()}
	}
	return h
}

func (g gen) members(min int) []Member {
	n := min + g.r.IntN(3)
	if n == 0 {
		return nil
	}
	ms := make([]Member, n)
	for i := range ms {
		ms[i] = Member{ID: ids.NodeID(i + 1), Host: []string{"", "sk-1", "host.example"}[g.r.IntN(3)], PgPort: uint16(g.r.Uint32())}
	}
	return ms
}

func (g gen) mconf() MembershipConfiguration {
	if g.version == Version2 || g.r.IntN(3) == 0 {
		return MembershipConfiguration{}
	}
	return MembershipConfiguration{Generation: 1 + g.r.Uint32N(100), Members: g.members(1), NewMembers: g.members(0)}
}

func (g gen) id() (id ids.ID) {
	for i := range id {
		id[i] = byte(g.r.Uint32())
	}
	return id
}

func (g gen) proposer() ProposerMessage {
	switch g.r.IntN(4) {
	case 0:
		m := ProposerGreeting{TenantID: g.id(), TimelineID: g.id(), MConf: g.mconf(),
			PgVersion: 140000 + g.r.Uint32N(40000), SystemID: g.r.Uint64(), WalSegSize: g.r.Uint32()}
		if g.version == Version2 {
			m.ProtocolVersion, m.TLI, m.ProposerID = 2, g.r.Uint32(), g.id()
		}
		return m
	case 1:
		return VoteRequest{Generation: g.v3(g.r.Uint32()), Term: g.r.Uint64()}
	case 2:
		m := ProposerElected{Generation: g.v3(g.r.Uint32()), Term: g.r.Uint64(),
			StartStreamingAt: g.lsn(), TermHistory: g.history()}
		if g.version == Version2 {
			m.TimelineStartLSN = g.lsn()
		}
		return m
	default:
		n := g.r.IntN(64)
		if g.r.IntN(10) == 0 {
			n = MaxWALPerAppend
		}
		begin := pgwal.LSN(g.r.Uint64N(1 << 62))
		m := AppendRequest{Generation: g.v3(g.r.Uint32()), Term: g.r.Uint64(), BeginLSN: begin,
			EndLSN: begin + pgwal.LSN(n), CommitLSN: g.lsn(), TruncateLSN: g.lsn(), WAL: make([]byte, n)}
		for i := range m.WAL {
			m.WAL[i] = byte(g.r.Uint32())
		}
		if g.version == Version2 {
			m.TermStartLSN = g.lsn()
		}
		return m
	}
}

func (g gen) acceptor() AcceptorMessage {
	switch g.r.IntN(3) {
	case 0:
		return AcceptorGreeting{NodeID: ids.NodeID(g.r.Uint64()), MConf: g.mconf(), Term: g.r.Uint64()}
	case 1:
		return VoteResponse{Generation: g.v3(g.r.Uint32()), Term: g.r.Uint64(), VoteGiven: g.r.IntN(2) == 1,
			FlushLSN: g.lsn(), TruncateLSN: g.lsn(), TermHistory: g.history()}
	default:
		m := AppendResponse{Generation: g.v3(g.r.Uint32()), Term: g.r.Uint64(), FlushLSN: g.lsn(),
			CommitLSN: g.lsn(), HotStandby: HotStandbyFeedback{TS: int64(g.r.Uint64()), Xmin: g.r.Uint64(), CatalogXmin: g.r.Uint64()}}
		if g.r.IntN(2) == 0 {
			m.PageserverFeedback = &PageserverFeedback{CurrentTimelineSize: g.r.Uint64(), LastReceivedLSN: g.lsn(),
				DiskConsistentLSN: g.lsn(), RemoteConsistentLSN: g.lsn(), ReplyTime: int64(g.r.Uint64()),
				ShardNumber: g.r.Uint32N(3), CorruptionDetected: g.r.IntN(2) == 0}
		}
		return m
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, version := range []uint32{Version2, Version3} {
		g := gen{r: rand.New(rand.NewPCG(1, uint64(version))), version: version}
		for i := range 3000 {
			pm := g.proposer()
			b := AppendProposerMessage(nil, version, pm)
			got, err := ParseProposerMessage(version, b)
			if err != nil || !reflect.DeepEqual(got, pm) {
				t.Fatalf("v%d #%d: proposer %+v\nparsed as %+v, %v", version, i, pm, got, err)
			}
			am := g.acceptor()
			b = AppendAcceptorMessage([]byte("prefix"), version, am)[len("prefix"):]
			got2, err := ParseAcceptorMessage(version, b)
			if err != nil || !reflect.DeepEqual(got2, am) {
				t.Fatalf("v%d #%d: acceptor %+v\nparsed as %+v, %v", version, i, am, got2, err)
			}
		}
	}
}
