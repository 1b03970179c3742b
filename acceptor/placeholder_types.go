package acceptor

// Temporary stand-ins for the message types of package walproto, which is
// being written in parallel. They carry the field names that package
// announces so that the switch is a matter of deleting this file.

import (
	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/pgwal"
)

// ProposerGreeting is the proposer's first message.
type ProposerGreeting struct {
	TenantID   ids.ID
	TimelineID ids.ID
	MConf      controlfile.Configuration
	PGVersion  uint32
	SystemID   uint64
	WalSegSize uint32
}

// AcceptorGreeting answers ProposerGreeting.
type AcceptorGreeting struct {
	NodeID ids.NodeID
	MConf  controlfile.Configuration
	Term   uint64
}

// VoteRequest asks for a vote in Term.
type VoteRequest struct {
	Generation uint32
	Term       uint64
}

// VoteResponse answers VoteRequest.
type VoteResponse struct {
	Generation  uint32
	Term        uint64
	VoteGiven   bool
	FlushLSN    pgwal.LSN
	TruncateLSN pgwal.LSN
	TermHistory controlfile.TermHistory
}

// ProposerElected announces the winner of Term.
type ProposerElected struct {
	Generation       uint32
	Term             uint64
	StartStreamingAt pgwal.LSN
	TermHistory      controlfile.TermHistory
}

// AppendRequest carries WAL bytes [BeginLSN, EndLSN).
type AppendRequest struct {
	Generation  uint32
	Term        uint64
	BeginLSN    pgwal.LSN
	EndLSN      pgwal.LSN
	CommitLSN   pgwal.LSN
	TruncateLSN pgwal.LSN
	WAL         []byte
}

// HotStandbyFeedback is the aggregated replica feedback.
type HotStandbyFeedback struct {
	TS          int64
	Xmin        uint64
	CatalogXmin uint64
}

// PageserverFeedback is the pageserver's progress report.
type PageserverFeedback struct {
	CurrentTimelineSize uint64
	LastReceivedLSN     pgwal.LSN
	DiskConsistentLSN   pgwal.LSN
	RemoteConsistentLSN pgwal.LSN
	ReplyTime           int64
}

// AppendResponse reports flushed and committed LSNs.
type AppendResponse struct {
	Generation         uint32
	Term               uint64
	FlushLSN           pgwal.LSN
	CommitLSN          pgwal.LSN
	HSFeedback         HotStandbyFeedback
	PageserverFeedback *PageserverFeedback
}
