package walproto

import (
	"encoding/binary"
	"errors"
	"testing"
)

// v3 builds a big-endian message from pieces: byte, uint16, uint32, uint64,
// string (written raw) and []byte.
func v3(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch p := p.(type) {
		case byte:
			b = append(b, p)
		case uint16:
			b = binary.BigEndian.AppendUint16(b, p)
		case uint32:
			b = binary.BigEndian.AppendUint32(b, p)
		case uint64:
			b = binary.BigEndian.AppendUint64(b, p)
		case int:
			b = binary.BigEndian.AppendUint64(b, uint64(p))
		case string:
			b = append(b, p...)
		case []byte:
			b = append(b, p...)
		default:
			panic(p)
		}
	}
	return b
}

func greetingV3(mconf ...any) []byte {
	parts := []any{byte('g'), tvTenant.String() + "\x00", tvTimeline.String() + "\x00"}
	parts = append(parts, mconf...)
	parts = append(parts, uint32(tvPgVersion), uint64(tvSystemID), uint32(tvWalSegSize))
	return v3(parts...)
}

// members encodes a member set of n distinct members (v3).
func members(n int) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(n))
	for i := range n {
		b = v3(b, uint64(i+1), "h\x00", uint16(5432))
	}
	return b
}

func appendV3(begin, end uint64, wal int) []byte {
	return v3(byte('a'), uint32(1), uint64(6), begin, end, uint64(0), uint64(0), make([]byte, wal))
}

func TestParseProposerMessageErrors(t *testing.T) {
	t.Parallel()
	zero := uint32(0)
	tests := []struct {
		name    string
		version uint32
		msg     []byte
		want    error
	}{
		{"empty v3", Version3, nil, ErrShortMessage},
		{"empty v2", Version2, nil, ErrShortMessage},
		{"v2 tag cut", Version2, []byte{'g', 0, 0, 0}, ErrShortMessage},
		{"unknown tag v3", Version3, []byte{'x'}, ErrUnknownTag},
		{"acceptor tag is unknown", Version3, v3(byte('r')), ErrUnknownTag},
		{"unknown tag v2", Version2, v3(uint64(0x78) << 56), ErrUnknownTag},
		{"version 1", 1, unhex(tv2GreetingV3), ErrUnsupportedVersion},
		{"tenant not hex", Version3, v3(byte('g'), "zz\x00"), ErrMalformed},
		{"tenant unterminated", Version3, v3(byte('g'), tvTenant.String()), ErrShortMessage},
		{"tenant 30 chars", Version3, v3(byte('g'), tvTenant.String()[:30]+"\x00", tvTimeline.String()+"\x00"), ErrMalformed},
		{"generation without members", Version3, greetingV3(uint32(1), zero, zero), ErrMalformed},
		{"duplicate member", Version3, greetingV3(uint32(1), uint32(2),
			uint64(7), "a\x00", uint16(1), uint64(7), "b\x00", uint16(2), zero), ErrMalformed},
		{"duplicate new member", Version3, greetingV3(uint32(1), uint32(1), uint64(7), "a\x00", uint16(1),
			uint32(2), uint64(8), "a\x00", uint16(1), uint64(8), "b\x00", uint16(2)), ErrMalformed},
		{"member host not utf8", Version3, greetingV3(uint32(1), uint32(1), uint64(7), "\xff\x00", uint16(1), zero), ErrMalformed},
		{"huge member count", Version3, greetingV3(uint32(1), uint32(0xffffffff)), ErrShortMessage},
		{"too many members", Version3, greetingV3(uint32(1), members(MaxMembers+1), zero), ErrMalformed},
		{"too many new members", Version3, greetingV3(uint32(1), members(1), members(MaxMembers+1)), ErrMalformed},
		{"huge history", Version3, v3(byte('e'), uint32(1), uint64(6), uint64(0), uint32(0x10000000)), ErrShortMessage},
		{"elected v2 without timeline_start_lsn", Version2, unhex(derivedElectedV2)[:60], ErrShortMessage},
		{"vote v2 without term", Version2, unhex(derivedVoteRequestV2)[:15], ErrShortMessage},
		{"greeting v3 pg_version 13", Version3, func() []byte {
			b := unhex(tv2GreetingV3)
			binary.BigEndian.PutUint32(b[0x4f:], 130010)
			return b
		}(), ErrMalformed},
		{"greeting v2 79 bytes", Version2, unhex(tv1GreetingV2)[:79], ErrShortMessage},
		{"append end before begin", Version3, appendV3(16, 8, 0), ErrAppendRange},
		{"append too large", Version3, appendV3(0, MaxWALPerAppend+1, MaxWALPerAppend+1), ErrAppendTooLarge},
		{"append WAL short", Version3, appendV3(0, 8, 7), ErrShortMessage},
		{"append v2 end before begin", Version2, func() []byte {
			b := unhex(tv5AppendRequestV2)
			binary.LittleEndian.PutUint64(b[32:], 0)
			return b
		}(), ErrAppendRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseProposerMessage(tt.version, tt.msg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v (msg %+v), want %v", err, m, tt.want)
			}
			if m != nil {
				t.Fatalf("message %+v with error", m)
			}
		})
	}
}

func TestParseAppendRequest(t *testing.T) {
	t.Parallel()
	// Exactly MaxWALPerAppend bytes is fine; a heartbeat carries none.
	b := appendV3(0, MaxWALPerAppend, MaxWALPerAppend)
	m, err := ParseAppendRequest(Version3, b)
	if err != nil || len(m.WAL) != MaxWALPerAppend || cap(m.WAL) != MaxWALPerAppend {
		t.Fatalf("max append: len %d cap %d, %v", len(m.WAL), cap(m.WAL), err)
	}
	if &m.WAL[0] != &b[appendRequestHeaderV3Size] {
		t.Error("WAL does not alias the input")
	}
	m, err = ParseAppendRequest(Version3, appendV3(8, 8, 0))
	if err != nil || len(m.WAL) != 0 {
		t.Fatalf("heartbeat: %+v, %v", m, err)
	}
	if _, err := ParseAppendRequest(Version3, unhex(tv4VoteRequestV3)); !errors.Is(err, ErrUnknownTag) {
		t.Errorf("vote as append: %v", err)
	}
	if _, err := ParseAppendRequest(Version3, nil); !errors.Is(err, ErrShortMessage) {
		t.Errorf("empty: %v", err)
	}
}

func TestParseAcceptorMessageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		version uint32
		msg     []byte
		want    error
	}{
		{"empty", Version3, nil, ErrShortMessage},
		{"proposer tag", Version3, unhex(tv4ElectedV3), ErrUnknownTag},
		{"greeting trailing byte", Version3, append(unhex(tv3AcceptorGreetingV3), 0), ErrTrailingBytes},
		{"greeting v2 trailing byte", Version2, append(unhex(derivedAcceptorGreetingV2), 0), ErrTrailingBytes},
		{"vote v2 without timeline_start_lsn", Version2, unhex(tv4VoteResponseV2)[:60], ErrShortMessage},
		{"feedback cut", Version3, unhex(tv5AppendResponseV3Feedback)[:100], ErrShortMessage},
		{"feedback trailing", Version3, append(unhex(tv5AppendResponseV3Feedback), 0), ErrTrailingBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseAcceptorMessage(tt.version, tt.msg)
			if !errors.Is(err, tt.want) || m != nil {
				t.Fatalf("= %+v, %v; want %v", m, err, tt.want)
			}
		})
	}
}

func feedbackBlock(kvs ...any) []byte {
	b := []byte{byte(len(kvs) / 3)}
	for i := 0; i < len(kvs); i += 3 {
		b = append(b, kvs[i].(string)...)
		b = append(b, 0)
		b = binary.BigEndian.AppendUint32(b, kvs[i+1].(uint32))
		b = append(b, kvs[i+2].([]byte)...)
	}
	return b
}

func TestParsePageserverFeedback(t *testing.T) {
	t.Parallel()
	u64 := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	tests := []struct {
		name string
		in   []byte
		want PageserverFeedback
		err  error
	}{
		{"empty block", []byte{0}, PageserverFeedback{}, nil},
		{"aliases", feedbackBlock(
			"last_received_lsn", uint32(8), u64(3),
			"disk_consistent_lsn", uint32(8), u64(2),
			"remote_consistent_lsn", uint32(8), u64(1),
			"replytime", uint32(8), u64(^uint64(0))),
			PageserverFeedback{LastReceivedLSN: 3, DiskConsistentLSN: 2, RemoteConsistentLSN: 1, ReplyTime: -1}, nil},
		{"unknown keys skipped", feedbackBlock(
			"future", uint32(3), []byte{1, 2, 3},
			"shard_number", uint32(4), []byte{0, 0, 0, 9},
			"empty", uint32(0), []byte{},
			"corruption_detected", uint32(1), []byte{7}),
			PageserverFeedback{ShardNumber: 9, CorruptionDetected: true}, nil},
		{"known key wrong length", feedbackBlock("ps_writelsn", uint32(4), []byte{0, 0, 0, 1}), PageserverFeedback{}, ErrMalformed},
		{"shard_number wrong length", feedbackBlock("shard_number", uint32(8), u64(1)), PageserverFeedback{}, ErrMalformed},
		{"unknown key too long", feedbackBlock("future", uint32(0xffffffff), []byte{1}), PageserverFeedback{}, ErrShortMessage},
		{"missing nkeys", nil, PageserverFeedback{}, ErrShortMessage},
		{"missing key", []byte{1}, PageserverFeedback{}, ErrShortMessage},
		{"value cut", feedbackBlock("ps_flushlsn", uint32(8), []byte{1, 2}), PageserverFeedback{}, ErrShortMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, n, err := ParsePageserverFeedback(tt.in)
			if !errors.Is(err, tt.err) || f != tt.want {
				t.Fatalf("= %+v, %v; want %+v, %v", f, err, tt.want, tt.err)
			}
			if err == nil && n != len(tt.in) {
				t.Fatalf("consumed %d of %d", n, len(tt.in))
			}
		})
	}
	// Optional keys are emitted after the five fixed ones.
	f := tvFeedback
	f.ShardNumber, f.CorruptionDetected = 2, true
	b := AppendPageserverFeedback(nil, f)
	if b[0] != 7 || len(b) != 1+5*(4+8)+len("current_timeline_sizeps_writelsnps_flushlsnps_applylsnps_replytime")+5+
		len("shard_number")+1+4+4+len("corruption_detected")+1+4+1 {
		t.Fatalf("7-key block: nkeys %d, %d bytes", b[0], len(b))
	}
	got, n, err := ParsePageserverFeedback(append(b, 0xAA))
	if err != nil || got != f || n != len(b) {
		t.Fatalf("round trip = %+v, %d, %v", got, n, err)
	}
}

func TestParseProposerMessageLenient(t *testing.T) {
	t.Parallel()
	// A v2 VoteRequest of tag and term only is accepted, as the safekeeper
	// reads just the term.
	m, err := ParseProposerMessage(Version2, unhex(derivedVoteRequestV2)[:16])
	if err != nil || m != (VoteRequest{Term: 6}) {
		t.Fatalf("16-byte v2 vote = %+v, %v", m, err)
	}
	// The high bytes of a v2 tag are ignored.
	b := unhex(derivedVoteRequestV2)
	b[7] = 0xff
	if m, err := ParseProposerMessage(Version2, b); err != nil || m != (VoteRequest{Term: 6}) {
		t.Fatalf("v2 tag with high bits = %+v, %v", m, err)
	}
	// pg_version 0 (unknown) and 179999 pass the v3 range check.
	for _, v := range []uint32{0, 140000, 179999} {
		b := unhex(tv2GreetingV3)
		binary.BigEndian.PutUint32(b[0x4f:], v)
		if _, err := ParseProposerMessage(Version3, b); err != nil {
			t.Errorf("pg_version %d: %v", v, err)
		}
	}
}

// TestMaxMembersAccepted: a greeting with MaxMembers members in each set
// parses; one more is refused (TestParseProposerMessageErrors).
func TestMaxMembersAccepted(t *testing.T) {
	t.Parallel()
	m, err := ParseProposerMessage(Version3, greetingV3(uint32(1), members(MaxMembers), members(MaxMembers)))
	if err != nil {
		t.Fatal(err)
	}
	g := m.(ProposerGreeting)
	if len(g.MConf.Members) != MaxMembers || len(g.MConf.NewMembers) != MaxMembers {
		t.Fatalf("%d members, %d new members", len(g.MConf.Members), len(g.MConf.NewMembers))
	}
}
