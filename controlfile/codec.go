package controlfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/internal/crc32c"
	"github.com/walkeeper/walkeeper/pgwal"
)

// Envelope constants (control_file.rs).
const (
	Magic          uint32 = 0xCAFECEEF
	Version        uint32 = 10 // current format
	VersionNoMConf uint32 = 9  // written when MConf.Generation == 0
	headerSize            = 8  // magic + version
	checksumSize          = 4
)

// Errors returned by Decode and Load; test with errors.Is.
var (
	ErrChecksum           = errors.New("safekeeper control file checksum mismatch")
	ErrBadMagic           = errors.New("bad control file magic")
	ErrUnsupportedVersion = errors.New("unsupported safekeeper control file version")
	ErrCorrupt            = errors.New("malformed safekeeper control file")
)

// maxCreationSecs bounds creation_ts on decode so that every accepted value
// survives a time.Time round trip (year ~36800).
const maxCreationSecs = 1 << 40

// Encode returns the whole file image: envelope, body and CRC32C. The body
// is version 9 when s.MConf.Generation is 0 (dropping MConf and CreationTS,
// as Neon does) and version 10 otherwise.
func Encode(s *State) []byte {
	return AppendState(make([]byte, 0, encodedSizeHint(s)), s)
}

// AppendState appends the file image of s to dst (see Encode).
func AppendState(dst []byte, s *State) []byte {
	start := len(dst)
	dst = appendU32(dst, Magic)
	if s.MConf.Generation == InvalidGeneration {
		dst = appendU32(dst, VersionNoMConf)
		dst = appendBodyV9(dst, s)
	} else {
		dst = appendU32(dst, Version)
		dst = appendBodyV10(dst, s)
	}
	return appendU32(dst, crc32c.Checksum(dst[start:]))
}

func encodedSizeHint(s *State) int {
	n := 400 + 24*len(s.Acceptor.TermHistory)
	for _, m := range s.MConf.Members {
		n += 18 + len(m.Host)
	}
	for _, m := range s.MConf.NewMembers {
		n += 18 + len(m.Host)
	}
	for _, p := range s.PartialBackup {
		n += 44 + len(p.Name)
	}
	return n
}

// appendBodyV10 writes state::TimelinePersistentState.
func appendBodyV10(b []byte, s *State) []byte {
	b = appendHex16(b, s.TenantID)
	b = appendHex16(b, s.TimelineID)
	b = appendU32(b, s.MConf.Generation)
	b = appendMembers(b, s.MConf.Members)
	if s.MConf.HasNewMembers {
		b = append(b, 1)
		b = appendMembers(b, s.MConf.NewMembers)
	} else {
		b = append(b, 0)
	}
	b = appendCommon(b, s)
	b = appendTail(b, s)
	secs, nanos := creationParts(s.CreationTS)
	b = appendU64(b, secs)
	return appendU32(b, nanos)
}

// appendBodyV9 writes control_file_upgrade::TimelinePersistentStateV9: no
// mconf, an always empty `peers` list, no creation_ts.
func appendBodyV9(b []byte, s *State) []byte {
	b = appendHex16(b, s.TenantID)
	b = appendHex16(b, s.TimelineID)
	b = appendCommon(b, s)
	b = appendU64(b, 0) // peers: PersistedPeers, always empty
	return appendTail(b, s)
}

// appendCommon writes acceptor_state through remote_consistent_lsn, which
// versions 9 and 10 share.
func appendCommon(b []byte, s *State) []byte {
	b = appendU64(b, s.Acceptor.Term)
	b = appendU64(b, uint64(len(s.Acceptor.TermHistory)))
	for _, e := range s.Acceptor.TermHistory {
		b = appendU64(b, e.Term)
		b = appendU64(b, uint64(e.LSN))
	}
	b = appendU32(b, s.Server.PGVersion)
	b = appendU64(b, s.Server.SystemID)
	b = appendU32(b, s.Server.WalSegSize)
	b = appendHex16(b, s.ProposerUUID)
	for _, l := range [...]pgwal.LSN{s.TimelineStartLSN, s.LocalStartLSN, s.CommitLSN,
		s.BackupLSN, s.PeerHorizonLSN, s.RemoteConsistentLSN} {
		b = appendU64(b, uint64(l))
	}
	return b
}

// appendTail writes partial_backup and eviction_state.
func appendTail(b []byte, s *State) []byte {
	b = appendU64(b, uint64(len(s.PartialBackup)))
	for _, p := range s.PartialBackup {
		b = appendU32(b, uint32(p.Status))
		b = appendString(b, p.Name)
		b = appendU64(b, uint64(p.CommitLSN))
		b = appendU64(b, uint64(p.FlushLSN))
		b = appendU64(b, p.Term)
	}
	if s.Eviction.Offloaded {
		b = appendU32(b, 1)
		return appendU64(b, uint64(s.Eviction.FlushLSN))
	}
	return appendU32(b, 0)
}

func appendMembers(b []byte, m MemberSet) []byte {
	b = appendU64(b, uint64(len(m)))
	for _, x := range m {
		b = appendU64(b, uint64(x.ID))
		b = appendString(b, x.Host)
		b = appendU16(b, x.PgPort)
	}
	return b
}

func creationParts(t time.Time) (secs uint64, nanos uint32) {
	if t.IsZero() || t.Before(time.Unix(0, 0)) {
		return 0, 0
	}
	return uint64(t.Unix()), uint32(t.Nanosecond())
}

// Decode parses a whole file image, version 9 or 10, checking the CRC
// first, then magic and version; the body must be consumed exactly. The
// result does not alias b. Version 9 yields an empty MConf and CreationTS at
// the Unix epoch.
func Decode(b []byte) (*State, error) {
	if len(b) < checksumSize {
		return nil, fmt.Errorf("%w: file of %d bytes", ErrCorrupt, len(b))
	}
	data := b[:len(b)-checksumSize]
	want := binary.LittleEndian.Uint32(b[len(data):])
	if got := crc32c.Checksum(data); got != want {
		return nil, fmt.Errorf("%w: expected %d got %d", ErrChecksum, want, got)
	}
	if len(data) < headerSize {
		return nil, fmt.Errorf("%w: file of %d bytes", ErrCorrupt, len(b))
	}
	if m := binary.LittleEndian.Uint32(data); m != Magic {
		return nil, fmt.Errorf("%w: %X, expected %X", ErrBadMagic, m, Magic)
	}
	return ParseBody(binary.LittleEndian.Uint32(data[4:]), data[headerSize:])
}

// ParseBody parses a version 9 or 10 body (without envelope and CRC).
func ParseBody(version uint32, body []byte) (*State, error) {
	r := &reader{b: body}
	s := new(State)
	switch version {
	case Version:
		parseBodyV10(r, s)
	case VersionNoMConf:
		parseBodyV9(r, s)
	default:
		return nil, fmt.Errorf("%w %d", ErrUnsupportedVersion, version)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("body", "%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return nil, fmt.Errorf("version %d: %w", version, r.err)
	}
	return s, nil
}

func parseBodyV10(r *reader, s *State) {
	s.TenantID = ids.ID(r.hex16("tenant_id"))
	s.TimelineID = ids.ID(r.hex16("timeline_id"))
	s.MConf.Generation = r.u32("mconf.generation")
	s.MConf.Members = parseMembers(r, "mconf.members")
	if r.option("mconf.new_members") {
		s.MConf.HasNewMembers = true
		s.MConf.NewMembers = parseMembers(r, "mconf.new_members")
	}
	parseCommon(r, s)
	parseTail(r, s)
	secs := r.u64("creation_ts.secs")
	nanos := r.u32("creation_ts.nanos")
	// serde would carry nanos ≥ 1e9 into the seconds, but Neon never
	// writes such a value, so it is taken as corruption.
	if r.err == nil && (secs > maxCreationSecs || nanos >= 1e9) {
		r.fail("creation_ts", "out of range: %d s %d ns", secs, nanos)
	}
	s.CreationTS = time.Unix(int64(secs), int64(nanos)).UTC()
}

// peerInfoSize is one historic `peers` element: node id, backup_lsn, term,
// flush_lsn, commit_lsn.
const peerInfoSize = 5 * 8

func parseBodyV9(r *reader, s *State) {
	s.TenantID = ids.ID(r.hex16("tenant_id"))
	s.TimelineID = ids.ID(r.hex16("timeline_id"))
	parseCommon(r, s)
	n := r.count("peers", peerInfoSize)
	r.take("peers", n*peerInfoSize) // informational only; dropped as Neon does
	parseTail(r, s)
	s.CreationTS = time.Unix(0, 0).UTC()
}

func parseCommon(r *reader, s *State) {
	s.Acceptor.Term = r.u64("acceptor_state.term")
	if n := r.count("acceptor_state.term_history", 16); n > 0 {
		s.Acceptor.TermHistory = make(TermHistory, n)
		for i := range s.Acceptor.TermHistory {
			e := &s.Acceptor.TermHistory[i]
			e.Term = r.u64("term_history.term")
			e.LSN = pgwal.LSN(r.u64("term_history.lsn"))
		}
	}
	s.Server.PGVersion = r.u32("server.pg_version")
	s.Server.SystemID = r.u64("server.system_id")
	s.Server.WalSegSize = r.u32("server.wal_seg_size")
	s.ProposerUUID = r.hex16("proposer_uuid")
	s.TimelineStartLSN = pgwal.LSN(r.u64("timeline_start_lsn"))
	s.LocalStartLSN = pgwal.LSN(r.u64("local_start_lsn"))
	s.CommitLSN = pgwal.LSN(r.u64("commit_lsn"))
	s.BackupLSN = pgwal.LSN(r.u64("backup_lsn"))
	s.PeerHorizonLSN = pgwal.LSN(r.u64("peer_horizon_lsn"))
	s.RemoteConsistentLSN = pgwal.LSN(r.u64("remote_consistent_lsn"))
}

// partialSegmentMinSize is status + name length + three u64.
const partialSegmentMinSize = 4 + 8 + 3*8

func parseTail(r *reader, s *State) {
	if n := r.count("partial_backup.segments", partialSegmentMinSize); n > 0 {
		s.PartialBackup = make([]PartialSegment, n)
		for i := range s.PartialBackup {
			p := &s.PartialBackup[i]
			p.Status = UploadStatus(r.u32("partial_backup.status"))
			if r.err == nil && p.Status > UploadDeleting {
				r.fail("partial_backup.status", "variant %d", p.Status)
			}
			p.Name = r.str("partial_backup.name")
			p.CommitLSN = pgwal.LSN(r.u64("partial_backup.commit_lsn"))
			p.FlushLSN = pgwal.LSN(r.u64("partial_backup.flush_lsn"))
			p.Term = r.u64("partial_backup.term")
		}
	}
	switch v := r.u32("eviction_state"); v {
	case 0:
	case 1:
		s.Eviction = EvictionState{Offloaded: true, FlushLSN: pgwal.LSN(r.u64("eviction_state.flush_lsn"))}
	default:
		r.fail("eviction_state", "variant %d", v)
	}
}

// memberMinSize is id + host length + pg_port.
const memberMinSize = 8 + 8 + 2

func parseMembers(r *reader, field string) MemberSet {
	n := r.count(field, memberMinSize)
	if n == 0 {
		return nil
	}
	m := make(MemberSet, n)
	for i := range m {
		m[i].ID = ids.NodeID(r.u64("member.id"))
		m[i].Host = r.str("member.host")
		m[i].PgPort = r.u16("member.pg_port")
	}
	return m
}
