package acceptor

// Temporary stand-ins for the message types of package walproto and the
// control-file state of package controlfile, which are being written in
// parallel. They carry the field names those packages announce so that the
// switch is a matter of deleting this file and fixing imports.

import (
	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/pgwal"
)

// TermLsn is one term-history entry: term Term starts writing WAL at LSN.
type TermLsn struct {
	Term uint64
	LSN  pgwal.LSN
}

// Member is one safekeeper of a membership configuration.
type Member struct {
	ID     ids.NodeID
	Host   string
	PGPort uint16
}

// Configuration is a membership configuration (mconf).
type Configuration struct {
	Generation uint32
	Members    []Member
	NewMembers []Member
}

// AcceptorState is the persistent acceptor part of the control file.
type AcceptorState struct {
	Term        uint64
	TermHistory []TermLsn
}

// ServerInfo is what the greeting tells about the compute.
type ServerInfo struct {
	PGVersion  uint32
	SystemID   uint64
	WalSegSize uint32
}

// State is the timeline's control-file state.
type State struct {
	TenantID            ids.ID
	TimelineID          ids.ID
	MConf               Configuration
	Acceptor            AcceptorState
	Server              ServerInfo
	TimelineStartLSN    pgwal.LSN
	LocalStartLSN       pgwal.LSN
	CommitLSN           pgwal.LSN
	BackupLSN           pgwal.LSN
	PeerHorizonLSN      pgwal.LSN
	RemoteConsistentLSN pgwal.LSN
}

// ProposerGreeting is the proposer's first message.
type ProposerGreeting struct {
	TenantID   ids.ID
	TimelineID ids.ID
	MConf      Configuration
	PGVersion  uint32
	SystemID   uint64
	WalSegSize uint32
}

// AcceptorGreeting answers ProposerGreeting.
type AcceptorGreeting struct {
	NodeID ids.NodeID
	MConf  Configuration
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
	TermHistory []TermLsn
}

// ProposerElected announces the winner of Term.
type ProposerElected struct {
	Generation       uint32
	Term             uint64
	StartStreamingAt pgwal.LSN
	TermHistory      []TermLsn
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
