package httpapi

import (
	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/replication"
)

// JSON shapes of Neon's safekeeper_api models (libs/safekeeper_api). LSNs
// marshal as "X/Y" and ids as hex through their MarshalText.

// termSwitchEntry is TermSwitchApiEntry.
type termSwitchEntry struct {
	Term uint64    `json:"term"`
	LSN  pgwal.LSN `json:"lsn"`
}

// acceptorStateStatus is AcceptorStateStatus; epoch is last_log_term.
type acceptorStateStatus struct {
	Term        uint64            `json:"term"`
	Epoch       uint64            `json:"epoch"`
	TermHistory []termSwitchEntry `json:"term_history"`
}

// serverInfo is ServerInfo.
type serverInfo struct {
	PGVersion  uint32 `json:"pg_version"`
	SystemID   uint64 `json:"system_id"`
	WalSegSize uint32 `json:"wal_seg_size"`
}

// peerInfo is PeerInfo; peers come from the broker, which walkeeper does
// not have yet, so the list is always empty.
type peerInfo struct {
	SkID          ids.NodeID `json:"sk_id"`
	Term          uint64     `json:"term"`
	LastLogTerm   uint64     `json:"last_log_term"`
	FlushLSN      pgwal.LSN  `json:"flush_lsn"`
	CommitLSN     pgwal.LSN  `json:"commit_lsn"`
	LocalStartLSN pgwal.LSN  `json:"local_start_lsn"`
	PGConnstr     string     `json:"pg_connstr"`
	HTTPConnstr   string     `json:"http_connstr"`
	HTTPSConnstr  *string    `json:"https_connstr"`
}

// walReceiverState is WalReceiverState; conn_id null means a recovery
// connection made by this node.
type walReceiverState struct {
	ConnID *uint64 `json:"conn_id"`
	Status string  `json:"status"`
}

// timelineStatus is TimelineStatus: in-memory values, possibly ahead of
// the control file.
type timelineStatus struct {
	TenantID            ids.ID                    `json:"tenant_id"`
	TimelineID          ids.ID                    `json:"timeline_id"`
	MConf               controlfile.Configuration `json:"mconf"`
	AcceptorState       acceptorStateStatus       `json:"acceptor_state"`
	PGInfo              serverInfo                `json:"pg_info"`
	FlushLSN            pgwal.LSN                 `json:"flush_lsn"`
	TimelineStartLSN    pgwal.LSN                 `json:"timeline_start_lsn"`
	LocalStartLSN       pgwal.LSN                 `json:"local_start_lsn"`
	CommitLSN           pgwal.LSN                 `json:"commit_lsn"`
	BackupLSN           pgwal.LSN                 `json:"backup_lsn"`
	PeerHorizonLSN      pgwal.LSN                 `json:"peer_horizon_lsn"`
	RemoteConsistentLSN pgwal.LSN                 `json:"remote_consistent_lsn"`
	Peers               []peerInfo                `json:"peers"`
	Walsenders          []replication.SenderState `json:"walsenders"`
	Walreceivers        []walReceiverState        `json:"walreceivers"`
}

// timelineCreateRequest is TimelineCreateRequest.
type timelineCreateRequest struct {
	TenantID   ids.ID                    `json:"tenant_id"`
	TimelineID ids.ID                    `json:"timeline_id"`
	MConf      controlfile.Configuration `json:"mconf"`
	PGVersion  uint32                    `json:"pg_version"`
	SystemID   *uint64                   `json:"system_id"`
	WalSegSize *uint32                   `json:"wal_seg_size"`
	StartLSN   pgwal.LSN                 `json:"start_lsn"`
	CommitLSN  *pgwal.LSN                `json:"commit_lsn"`
}

// createRequired are the fields serde requires in a create request.
var createRequired = []string{"tenant_id", "timeline_id", "mconf", "pg_version", "start_lsn"}

// ttidJSON is TenantTimelineId.
type ttidJSON struct {
	TenantID   ids.ID `json:"tenant_id"`
	TimelineID ids.ID `json:"timeline_id"`
}

// deleteResult is TimelineDeleteResult.
type deleteResult struct {
	DirExisted bool `json:"dir_existed"`
}

// termBumpRequest and termBumpResponse are TimelineTermBump{Request,Response}.
type termBumpRequest struct {
	Term *uint64 `json:"term"`
}

type termBumpResponse struct {
	PreviousTerm uint64 `json:"previous_term"`
	CurrentTerm  uint64 `json:"current_term"`
}

// membershipResponse is TimelineMembershipSwitchResponse.
type membershipResponse struct {
	PreviousConf controlfile.Configuration `json:"previous_conf"`
	CurrentConf  controlfile.Configuration `json:"current_conf"`
	LastLogTerm  uint64                    `json:"last_log_term"`
	FlushLSN     pgwal.LSN                 `json:"flush_lsn"`
}

// digestResponse is TimelineDigest.
type digestResponse struct {
	SHA256 string `json:"sha256"`
}

// utilization is SafekeeperUtilization.
type utilization struct {
	TimelineCount int `json:"timeline_count"`
}
