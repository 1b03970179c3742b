package acceptor

// Temporary stand-ins for the message types of package walproto, which is
// being written in parallel. They mirror that package's names and shapes so
// that the switch is a matter of deleting this file and qualifying names.

import (
	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/pgwal"
)

type Member struct {
	ID     ids.NodeID
	Host   string
	PgPort uint16
}

type MembershipConfiguration struct {
	Generation uint32
	Members    []Member
	NewMembers []Member
}

type TermLsn struct {
	Term uint64
	LSN  pgwal.LSN
}

type TermHistory []TermLsn

type ProposerGreeting struct {
	TenantID   ids.TenantID
	TimelineID ids.TimelineID
	MConf      MembershipConfiguration
	PgVersion  uint32
	SystemID   uint64
	WalSegSize uint32
}

type AcceptorGreeting struct {
	NodeID ids.NodeID
	MConf  MembershipConfiguration
	Term   uint64
}

type VoteRequest struct {
	Generation uint32
	Term       uint64
}

type VoteResponse struct {
	Generation  uint32
	Term        uint64
	VoteGiven   bool
	FlushLSN    pgwal.LSN
	TruncateLSN pgwal.LSN
	TermHistory TermHistory
}

type ProposerElected struct {
	Generation       uint32
	Term             uint64
	StartStreamingAt pgwal.LSN
	TermHistory      TermHistory
}

type AppendRequest struct {
	Generation  uint32
	Term        uint64
	BeginLSN    pgwal.LSN
	EndLSN      pgwal.LSN
	CommitLSN   pgwal.LSN
	TruncateLSN pgwal.LSN
	WAL         []byte
}

type HotStandbyFeedback struct {
	TS          int64
	Xmin        uint64
	CatalogXmin uint64
}

type PageserverFeedback struct {
	CurrentTimelineSize uint64
	LastReceivedLSN     pgwal.LSN
	DiskConsistentLSN   pgwal.LSN
	RemoteConsistentLSN pgwal.LSN
	ReplyTime           int64
}

type AppendResponse struct {
	Generation         uint32
	Term               uint64
	FlushLSN           pgwal.LSN
	CommitLSN          pgwal.LSN
	HotStandby         HotStandbyFeedback
	PageserverFeedback *PageserverFeedback
}
