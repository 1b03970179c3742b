package controlfile

import (
	"slices"
	"time"

	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/pgwal"
)

// Member is one safekeeper of a membership configuration
// (safekeeper_api::membership::SafekeeperId).
type Member struct {
	ID     ids.NodeID
	Host   string
	PgPort uint16 // port computes connect to (tenant-only pg port if configured)
}

// MemberSet is a list of members (safekeeper_api::membership::MemberSet).
type MemberSet []Member

// Contains reports whether id is in the set.
func (m MemberSet) Contains(id ids.NodeID) bool {
	for _, x := range m {
		if x.ID == id {
			return true
		}
	}
	return false
}

// Configuration is a membership configuration
// (safekeeper_api::membership::Configuration).
//
// Neon's new_members is an Option<MemberSet>; here it is NewMembers plus
// HasNewMembers (true = Some, a joint configuration, possibly with an empty
// set). When HasNewMembers is false NewMembers is ignored by Encode and
// Equal, and Decode leaves it nil.
type Configuration struct {
	Generation    uint32 // 0 = invalid ("no generations yet"), 1 = initial
	Members       MemberSet
	NewMembers    MemberSet
	HasNewMembers bool
}

// InvalidGeneration is Neon's INVALID_GENERATION; a state with it is
// written as control file version 9.
const InvalidGeneration uint32 = 0

// Contains reports whether id is a member of the current or the new set.
func (c *Configuration) Contains(id ids.NodeID) bool {
	return c.Members.Contains(id) || (c.HasNewMembers && c.NewMembers.Contains(id))
}

// Equal compares two configurations; nil and empty sets are equal.
func (c *Configuration) Equal(o *Configuration) bool {
	if c.Generation != o.Generation || c.HasNewMembers != o.HasNewMembers {
		return false
	}
	if !slices.Equal(c.Members, o.Members) {
		return false
	}
	return !c.HasNewMembers || slices.Equal(c.NewMembers, o.NewMembers)
}

// Clone returns a deep copy.
func (c Configuration) Clone() Configuration {
	c.Members = slices.Clone(c.Members)
	c.NewMembers = slices.Clone(c.NewMembers)
	if !c.HasNewMembers {
		c.NewMembers = nil
	}
	return c
}

// TermLsn is one term switch point: from LSN on, WAL was written in Term
// (safekeeper::TermLsn).
type TermLsn struct {
	Term uint64
	LSN  pgwal.LSN
}

// TermHistory is the list of term switches, ascending in term and LSN
// (safekeeper::TermHistory).
type TermHistory []TermLsn

// UpTo returns the entries whose switch LSN is ≤ flush, in a new slice
// (TermHistory::up_to).
func (h TermHistory) UpTo(flush pgwal.LSN) TermHistory {
	n := 0
	for n < len(h) && h[n].LSN <= flush {
		n++
	}
	return slices.Clone(h[:n])
}

// LastLogTerm is the term of the last entry that starts at or before flush,
// or 0 if there is none (AcceptorState::get_last_log_term).
func (h TermHistory) LastLogTerm(flush pgwal.LSN) uint64 {
	var t uint64
	for _, e := range h {
		if e.LSN > flush {
			break
		}
		t = e.Term
	}
	return t
}

// AcceptorState is the persistent consensus state (safekeeper::AcceptorState).
type AcceptorState struct {
	Term        uint64 // highest term voted for or accepted
	TermHistory TermHistory
}

// LastLogTerm is TermHistory.LastLogTerm.
func (a *AcceptorState) LastLogTerm(flush pgwal.LSN) uint64 {
	return a.TermHistory.LastLogTerm(flush)
}

// ServerInfo describes the Postgres cluster (safekeeper_api::ServerInfo).
type ServerInfo struct {
	PGVersion  uint32 // full version id MMmmbb, 0 = unknown
	SystemID   uint64
	WalSegSize uint32 // 0 = uninitialized
}

// UploadStatus is the state of a partial segment in remote storage
// (wal_backup_partial::UploadStatus); the value is the bincode variant index.
type UploadStatus uint32

// Upload statuses in Neon's variant order.
const (
	UploadInProgress UploadStatus = 0
	UploadUploaded   UploadStatus = 1
	UploadDeleting   UploadStatus = 2
)

var uploadStatusNames = [...]string{"InProgress", "Uploaded", "Deleting"}

// String is Neon's variant name.
func (u UploadStatus) String() string {
	if int(u) < len(uploadStatusNames) {
		return uploadStatusNames[u]
	}
	return "UploadStatus(?)"
}

// PartialSegment is a partial WAL segment object that may exist in remote
// storage (wal_backup_partial::PartialRemoteSegment).
type PartialSegment struct {
	Status    UploadStatus
	Name      string
	CommitLSN pgwal.LSN
	FlushLSN  pgwal.LSN
	Term      uint64
}

// EvictionState says whether the timeline's WAL is on local disk
// (state::EvictionState). The zero value is Present.
type EvictionState struct {
	Offloaded bool
	FlushLSN  pgwal.LSN // flush_lsn of the offloaded segment, when Offloaded
}

// State is the persistent state of one timeline
// (state::TimelinePersistentState), in file order.
type State struct {
	TenantID   ids.TenantID
	TimelineID ids.TimelineID
	MConf      Configuration
	Acceptor   AcceptorState
	Server     ServerInfo
	// ProposerUUID is for monitoring only; Neon no longer sets it.
	ProposerUUID [16]byte
	// TimelineStartLSN is where the timeline's WAL begins; LocalStartLSN
	// where this safekeeper's WAL begins.
	TimelineStartLSN, LocalStartLSN pgwal.LSN
	CommitLSN                       pgwal.LSN
	BackupLSN                       pgwal.LSN
	PeerHorizonLSN                  pgwal.LSN
	RemoteConsistentLSN             pgwal.LSN
	PartialBackup                   []PartialSegment
	Eviction                        EvictionState
	// CreationTS is stored with nanosecond precision as seconds since the
	// Unix epoch; times before the epoch are stored as the epoch. Version 9
	// files have none: they load as the epoch.
	CreationTS time.Time
}

// Clone returns a deep copy.
func (s *State) Clone() State {
	c := *s
	c.MConf = s.MConf.Clone()
	c.Acceptor.TermHistory = slices.Clone(s.Acceptor.TermHistory)
	c.PartialBackup = slices.Clone(s.PartialBackup)
	return c
}

// Equal compares every field; nil and empty lists are equal, and times are
// compared as instants.
func (s *State) Equal(o *State) bool {
	return s.TenantID == o.TenantID && s.TimelineID == o.TimelineID &&
		s.MConf.Equal(&o.MConf) &&
		s.Acceptor.Term == o.Acceptor.Term &&
		slices.Equal(s.Acceptor.TermHistory, o.Acceptor.TermHistory) &&
		s.Server == o.Server && s.ProposerUUID == o.ProposerUUID &&
		s.TimelineStartLSN == o.TimelineStartLSN && s.LocalStartLSN == o.LocalStartLSN &&
		s.CommitLSN == o.CommitLSN && s.BackupLSN == o.BackupLSN &&
		s.PeerHorizonLSN == o.PeerHorizonLSN && s.RemoteConsistentLSN == o.RemoteConsistentLSN &&
		slices.Equal(s.PartialBackup, o.PartialBackup) &&
		s.Eviction == o.Eviction && s.CreationTS.Equal(o.CreationTS)
}
