package controlfile

import (
	"bytes"
	"encoding/hex"
	"hash/crc32"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/ids"
)

// The expected files below are built by hand, field by field, from the
// layout in spec §2.1–§2.3 (checked against Neon's state.rs,
// control_file.rs, control_file_upgrade.rs and safekeeper_api), without
// using the package's encoder.

type hb struct{ b []byte }

func (h *hb) raw(p ...byte) *hb { h.b = append(h.b, p...); return h }
func (h *hb) u16(v uint16) *hb  { return h.raw(byte(v), byte(v>>8)) }
func (h *hb) u32(v uint32) *hb  { return h.raw(byte(v), byte(v>>8), byte(v>>16), byte(v>>24)) }
func (h *hb) u64(v uint64) *hb  { return h.u32(uint32(v)).u32(uint32(v >> 32)) }

// str is a bincode String: u64 LE length, then the bytes.
func (h *hb) str(s string) *hb { return h.u64(uint64(len(s))).raw([]byte(s)...) }

// crc appends the CRC32C of everything so far, LE.
func (h *hb) crc() []byte {
	return binary32(crc32.Checksum(h.b, crc32.MakeTable(crc32.Castagnoli)), h.b)
}

func binary32(v uint32, b []byte) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}

const (
	tenantHex   = "0123456789abcdef0123456789abcdef"
	timelineHex = "fedcba9876543210fedcba9876543210"
	uuidHex     = "00112233445566778899aabbccddeeff"
)

// layoutState has every field set to a distinct value.
func layoutState() *State {
	var uuid [16]byte
	hex.Decode(uuid[:], []byte(uuidHex))
	return &State{
		TenantID:   ids.MustParse(tenantHex),
		TimelineID: ids.MustParse(timelineHex),
		MConf: Configuration{
			Generation:    3,
			Members:       MemberSet{{ID: 1, Host: "sk-1", PgPort: 5454}, {ID: 2, Host: "sk-2.local", PgPort: 6400}},
			NewMembers:    MemberSet{{ID: 3, Host: "h3", PgPort: 1}},
			HasNewMembers: true,
		},
		Acceptor: AcceptorState{Term: 7, TermHistory: TermHistory{
			{Term: 1, LSN: 0x1000028}, {Term: 7, LSN: 0x2_0000_0100}}},
		Server:              ServerInfo{PGVersion: 170005, SystemID: 0x7766554433221100, WalSegSize: 16 << 20},
		ProposerUUID:        uuid,
		TimelineStartLSN:    0x1000028,
		LocalStartLSN:       0x1000030,
		CommitLSN:           0x3_0000_0008,
		BackupLSN:           0x1000000,
		PeerHorizonLSN:      0x2_0000_0000,
		RemoteConsistentLSN: 0x1800000,
		PartialBackup: []PartialSegment{
			{Status: UploadUploaded, Name: "seg_a", CommitLSN: 0x10, FlushLSN: 0x20, Term: 7},
			{Status: UploadDeleting, Name: "", CommitLSN: 0x30, FlushLSN: 0x40, Term: 5},
		},
		Eviction:   EvictionState{Offloaded: true, FlushLSN: 0x3_0000_0010},
		CreationTS: time.Unix(1700000000, 123456789).UTC(),
	}
}

// commonFields appends acceptor_state .. remote_consistent_lsn of
// layoutState, shared by v9 and v10.
func commonFields(h *hb) {
	h.u64(7)                                              // acceptor_state.term
	h.u64(2)                                              // term_history: 2 entries
	h.u64(1).u64(0x1000028)                               //   {term 1, lsn 0/1000028}
	h.u64(7).u64(0x2_0000_0100)                           //   {term 7, lsn 2/100}
	h.u32(170005)                                         // server.pg_version
	h.raw(0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77) // server.system_id, LE
	h.raw(0x00, 0x00, 0x00, 0x01)                         // server.wal_seg_size 16 MiB
	h.str(uuidHex)                                        // proposer_uuid as hex String
	h.u64(0x1000028)                                      // timeline_start_lsn
	h.u64(0x1000030)                                      // local_start_lsn
	h.u64(0x3_0000_0008)                                  // commit_lsn
	h.u64(0x1000000)                                      // backup_lsn
	h.u64(0x2_0000_0000)                                  // peer_horizon_lsn
	h.u64(0x1800000)                                      // remote_consistent_lsn
}

// tailFields appends partial_backup and eviction_state of layoutState.
func tailFields(h *hb) {
	h.u64(2)                                         // partial_backup.segments: 2
	h.u32(1).str("seg_a").u64(0x10).u64(0x20).u64(7) //   Uploaded
	h.u32(2).str("").u64(0x30).u64(0x40).u64(5)      //   Deleting, empty name
	h.u32(1).u64(0x3_0000_0010)                      // eviction_state Offloaded(3/10)
}

func handV10() []byte {
	h := &hb{}
	h.raw(0xEF, 0xCE, 0xFE, 0xCA)                            // magic 0xCAFECEEF LE
	h.raw(10, 0, 0, 0)                                       // version 10
	h.raw(32, 0, 0, 0, 0, 0, 0, 0).raw([]byte(tenantHex)...) // tenant_id: u64 len 32 + hex
	h.str(timelineHex)                                       // timeline_id
	h.u32(3)                                                 // mconf.generation
	h.u64(2)                                                 // mconf.members: 2
	h.u64(1).str("sk-1").u16(5454)                           //   {id, host, pg_port}
	h.u64(2).str("sk-2.local").u16(6400)
	h.raw(1)                         // new_members: Some
	h.u64(1).u64(3).str("h3").u16(1) //   1 member
	commonFields(h)
	tailFields(h)
	h.u64(1700000000) // creation_ts secs since epoch
	h.u32(123456789)  // creation_ts nanos
	return h.crc()
}

func handV9() []byte {
	h := &hb{}
	h.raw(0xEF, 0xCE, 0xFE, 0xCA) // magic
	h.raw(9, 0, 0, 0)             // version 9
	h.str(tenantHex)              // tenant_id
	h.str(timelineHex)            // timeline_id
	commonFields(h)               // no mconf in v9
	h.u64(0)                      // peers: always written empty
	tailFields(h)                 // no creation_ts in v9
	return h.crc()
}

func TestLayoutHandBuilt(t *testing.T) {
	t.Parallel()
	v10 := layoutState()
	v9 := layoutState()
	v9.MConf = Configuration{}
	v9.CreationTS = time.Unix(0, 0).UTC()
	for _, tc := range []struct {
		name  string
		state *State
		want  []byte
	}{
		{"v10", v10, handV10()},
		{"v9", v9, handV9()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := Persist(dir, tc.state, true); err != nil {
				t.Fatal(err)
			}
			got, err := readControl(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("file differs from hand-built bytes\ngot  %x\nwant %x", got, tc.want)
			}
			back, err := Decode(tc.want)
			if err != nil {
				t.Fatal(err)
			}
			compareFields(t, back, tc.state)
		})
	}
}

// compareFields checks every field separately, so a failure names it.
func compareFields(t *testing.T, got, want *State) {
	t.Helper()
	check := func(name string, ok bool) {
		if !ok {
			t.Errorf("field %s differs:\ngot  %+v\nwant %+v", name, got, want)
		}
	}
	check("tenant_id", got.TenantID == want.TenantID)
	check("timeline_id", got.TimelineID == want.TimelineID)
	check("mconf", got.MConf.Equal(&want.MConf))
	check("acceptor_state.term", got.Acceptor.Term == want.Acceptor.Term)
	check("term_history", len(got.Acceptor.TermHistory) == len(want.Acceptor.TermHistory))
	for i := range min(len(got.Acceptor.TermHistory), len(want.Acceptor.TermHistory)) {
		check("term_history[i]", got.Acceptor.TermHistory[i] == want.Acceptor.TermHistory[i])
	}
	check("server", got.Server == want.Server)
	check("proposer_uuid", got.ProposerUUID == want.ProposerUUID)
	check("timeline_start_lsn", got.TimelineStartLSN == want.TimelineStartLSN)
	check("local_start_lsn", got.LocalStartLSN == want.LocalStartLSN)
	check("commit_lsn", got.CommitLSN == want.CommitLSN)
	check("backup_lsn", got.BackupLSN == want.BackupLSN)
	check("peer_horizon_lsn", got.PeerHorizonLSN == want.PeerHorizonLSN)
	check("remote_consistent_lsn", got.RemoteConsistentLSN == want.RemoteConsistentLSN)
	check("partial_backup", len(got.PartialBackup) == len(want.PartialBackup))
	for i := range min(len(got.PartialBackup), len(want.PartialBackup)) {
		check("partial_backup[i]", got.PartialBackup[i] == want.PartialBackup[i])
	}
	check("eviction_state", got.Eviction == want.Eviction)
	check("creation_ts", got.CreationTS.Equal(want.CreationTS))
	check("Equal", got.Equal(want))
}

// TestDecodeV9WithPeers reads a v9 file from an old Neon that still had
// entries in `peers` (node id, backup_lsn, term, flush_lsn, commit_lsn);
// they are skipped.
func TestDecodeV9WithPeers(t *testing.T) {
	t.Parallel()
	h := &hb{}
	h.raw(0xEF, 0xCE, 0xFE, 0xCA).u32(9).str(tenantHex).str(timelineHex)
	commonFields(h)
	h.u64(1)                                         // peers: 1
	h.u64(5).u64(0x100).u64(3).u64(0x200).u64(0x180) // {node 5, backup, term, flush, commit}
	tailFields(h)
	s, err := Decode(h.crc())
	if err != nil {
		t.Fatal(err)
	}
	want := layoutState()
	want.MConf = Configuration{}
	want.CreationTS = time.Unix(0, 0)
	compareFields(t, s, want)
}

// TestLayoutMinimal: None new_members, empty lists, Present, upper-case hex
// ids (accepted like the hex crate does).
func TestLayoutMinimal(t *testing.T) {
	t.Parallel()
	h := &hb{}
	h.raw(0xEF, 0xCE, 0xFE, 0xCA).u32(10)
	h.str("0123456789ABCDEF0123456789ABCDEF") // tenant_id, upper case
	h.str(timelineHex)
	h.u32(1) // generation 1
	h.u64(0) // no members
	h.raw(0) // new_members: None
	h.u64(0) // term 0
	h.u64(0) // empty term history
	h.u32(150000).u64(0).u32(16 << 20)
	h.str("00000000000000000000000000000000") // proposer_uuid zeros
	for range 6 {
		h.u64(0) // the six LSNs
	}
	h.u64(0) // no partial segments
	h.u32(0) // eviction_state Present
	h.u64(0).u32(0)
	want := h.crc()
	s, err := Decode(want)
	if err != nil {
		t.Fatal(err)
	}
	exp := &State{TenantID: ids.MustParse(tenantHex), TimelineID: ids.MustParse(timelineHex),
		MConf: Configuration{Generation: 1}, Server: ServerInfo{150000, 0, 16 << 20}, CreationTS: time.Unix(0, 0)}
	compareFields(t, s, exp)
	got := Encode(s)
	want = bytes.Replace(want[:len(want)-4], []byte("ABCDEF"), []byte("abcdef"), 2)
	want = (&hb{b: want}).crc()
	if !bytes.Equal(got, want) {
		t.Fatalf("re-encode\ngot  %x\nwant %x", got, want)
	}
}
