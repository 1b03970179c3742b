package controlfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/pgwal"
)

// JSON forms follow Neon's serde output (serde_json of
// TimelinePersistentState): LSNs "X/Y", tenant, timeline and proposer ids as
// hex strings, node ids and versions as numbers, enums by variant name,
// eviction_state "Present" or {"Offloaded":"X/Y"}, creation_ts as
// {"secs_since_epoch","nanos_since_epoch"}. Field order is Neon's.

type jsonMember struct {
	ID     ids.NodeID `json:"id"`
	Host   string     `json:"host"`
	PgPort uint16     `json:"pg_port"`
}

type jsonConfiguration struct {
	Generation uint32        `json:"generation"`
	Members    []jsonMember  `json:"members"`
	NewMembers *[]jsonMember `json:"new_members"`
}

func membersToJSON(m MemberSet) []jsonMember {
	out := make([]jsonMember, len(m)) // never nil: serde writes []
	for i, x := range m {
		out[i] = jsonMember(x)
	}
	return out
}

func membersFromJSON(j []jsonMember) MemberSet {
	if len(j) == 0 {
		return nil
	}
	out := make(MemberSet, len(j))
	for i, x := range j {
		out[i] = Member(x)
	}
	return out
}

// MarshalJSON writes {"generation","members","new_members"} as Neon's HTTP
// API and control file dump do.
func (c Configuration) MarshalJSON() ([]byte, error) {
	j := jsonConfiguration{Generation: c.Generation, Members: membersToJSON(c.Members)}
	if c.HasNewMembers {
		nm := membersToJSON(c.NewMembers)
		j.NewMembers = &nm
	}
	return marshalNoEscape(j)
}

// marshalNoEscape is json.Marshal without HTML escaping, as serde_json.
func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// UnmarshalJSON reads the form MarshalJSON writes.
func (c *Configuration) UnmarshalJSON(b []byte) error {
	var j jsonConfiguration
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*c = Configuration{Generation: j.Generation, Members: membersFromJSON(j.Members)}
	if j.NewMembers != nil {
		c.HasNewMembers = true
		c.NewMembers = membersFromJSON(*j.NewMembers)
	}
	return nil
}

// MarshalText writes the variant name.
func (u UploadStatus) MarshalText() ([]byte, error) {
	if int(u) >= len(uploadStatusNames) {
		return nil, fmt.Errorf("unknown upload status %d", uint32(u))
	}
	return []byte(uploadStatusNames[u]), nil
}

// UnmarshalText reads a variant name.
func (u *UploadStatus) UnmarshalText(b []byte) error {
	for i, n := range uploadStatusNames {
		if n == string(b) {
			*u = UploadStatus(i)
			return nil
		}
	}
	return fmt.Errorf("unknown upload status %q", b)
}

// MarshalJSON writes "Present" or {"Offloaded":"X/Y"}.
func (e EvictionState) MarshalJSON() ([]byte, error) {
	if !e.Offloaded {
		return []byte(`"Present"`), nil
	}
	return json.Marshal(map[string]pgwal.LSN{"Offloaded": e.FlushLSN})
}

// UnmarshalJSON reads the form MarshalJSON writes.
func (e *EvictionState) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		if s != "Present" {
			return fmt.Errorf("unknown eviction state %q", s)
		}
		*e = EvictionState{}
		return nil
	}
	var m struct {
		Offloaded *pgwal.LSN
	}
	if err := json.Unmarshal(b, &m); err != nil || m.Offloaded == nil {
		return fmt.Errorf("unknown eviction state %s", b)
	}
	*e = EvictionState{Offloaded: true, FlushLSN: *m.Offloaded}
	return nil
}

type jsonTermLsn struct {
	Term uint64    `json:"term"`
	LSN  pgwal.LSN `json:"lsn"`
}

type jsonPartialSegment struct {
	Status    UploadStatus `json:"status"`
	Name      string       `json:"name"`
	CommitLSN pgwal.LSN    `json:"commit_lsn"`
	FlushLSN  pgwal.LSN    `json:"flush_lsn"`
	Term      uint64       `json:"term"`
}

type jsonSystemTime struct {
	Secs  uint64 `json:"secs_since_epoch"`
	Nanos uint32 `json:"nanos_since_epoch"`
}

type jsonState struct {
	TenantID   ids.ID        `json:"tenant_id"`
	TimelineID ids.ID        `json:"timeline_id"`
	MConf      Configuration `json:"mconf"`
	Acceptor   struct {
		Term        uint64        `json:"term"`
		TermHistory []jsonTermLsn `json:"term_history"`
	} `json:"acceptor_state"`
	Server struct {
		PGVersion  uint32 `json:"pg_version"`
		SystemID   uint64 `json:"system_id"`
		WalSegSize uint32 `json:"wal_seg_size"`
	} `json:"server"`
	ProposerUUID        ids.ID    `json:"proposer_uuid"`
	TimelineStartLSN    pgwal.LSN `json:"timeline_start_lsn"`
	LocalStartLSN       pgwal.LSN `json:"local_start_lsn"`
	CommitLSN           pgwal.LSN `json:"commit_lsn"`
	BackupLSN           pgwal.LSN `json:"backup_lsn"`
	PeerHorizonLSN      pgwal.LSN `json:"peer_horizon_lsn"`
	RemoteConsistentLSN pgwal.LSN `json:"remote_consistent_lsn"`
	PartialBackup       struct {
		Segments []jsonPartialSegment `json:"segments"`
	} `json:"partial_backup"`
	Eviction   EvictionState  `json:"eviction_state"`
	CreationTS jsonSystemTime `json:"creation_ts"`
}

// MarshalJSON writes Neon's JSON form of the control file.
func (s State) MarshalJSON() ([]byte, error) {
	j := jsonState{TenantID: s.TenantID, TimelineID: s.TimelineID, MConf: s.MConf,
		ProposerUUID: s.ProposerUUID, TimelineStartLSN: s.TimelineStartLSN, LocalStartLSN: s.LocalStartLSN,
		CommitLSN: s.CommitLSN, BackupLSN: s.BackupLSN, PeerHorizonLSN: s.PeerHorizonLSN,
		RemoteConsistentLSN: s.RemoteConsistentLSN, Eviction: s.Eviction}
	j.Acceptor.Term = s.Acceptor.Term
	j.Acceptor.TermHistory = make([]jsonTermLsn, len(s.Acceptor.TermHistory))
	for i, e := range s.Acceptor.TermHistory {
		j.Acceptor.TermHistory[i] = jsonTermLsn(e)
	}
	j.Server.PGVersion, j.Server.SystemID, j.Server.WalSegSize = s.Server.PGVersion, s.Server.SystemID, s.Server.WalSegSize
	j.PartialBackup.Segments = make([]jsonPartialSegment, len(s.PartialBackup))
	for i, p := range s.PartialBackup {
		j.PartialBackup.Segments[i] = jsonPartialSegment(p)
	}
	j.CreationTS.Secs, j.CreationTS.Nanos = creationParts(s.CreationTS)
	return marshalNoEscape(j)
}

// UnmarshalJSON reads the form MarshalJSON writes. Missing fields are left
// zero (serde would refuse them).
func (s *State) UnmarshalJSON(b []byte) error {
	var j jsonState
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = State{TenantID: j.TenantID, TimelineID: j.TimelineID, MConf: j.MConf,
		ProposerUUID: j.ProposerUUID, TimelineStartLSN: j.TimelineStartLSN, LocalStartLSN: j.LocalStartLSN,
		CommitLSN: j.CommitLSN, BackupLSN: j.BackupLSN, PeerHorizonLSN: j.PeerHorizonLSN,
		RemoteConsistentLSN: j.RemoteConsistentLSN, Eviction: j.Eviction}
	s.Acceptor.Term = j.Acceptor.Term
	for _, e := range j.Acceptor.TermHistory {
		s.Acceptor.TermHistory = append(s.Acceptor.TermHistory, TermLsn(e))
	}
	s.Server = ServerInfo{j.Server.PGVersion, j.Server.SystemID, j.Server.WalSegSize}
	for _, p := range j.PartialBackup.Segments {
		s.PartialBackup = append(s.PartialBackup, PartialSegment(p))
	}
	if j.CreationTS.Secs > maxCreationSecs || j.CreationTS.Nanos >= 1e9 {
		return fmt.Errorf("creation_ts out of range")
	}
	s.CreationTS = time.Unix(int64(j.CreationTS.Secs), int64(j.CreationTS.Nanos)).UTC()
	return nil
}

// Dump prints the control file at path as JSON, exactly as Neon's
// `safekeeper --dump-control-file` does (no trailing newline).
func Dump(w io.Writer, path string) error {
	s, err := LoadFile(path)
	if err != nil {
		return err
	}
	b, err := s.MarshalJSON()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
