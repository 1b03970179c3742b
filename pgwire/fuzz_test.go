package pgwire

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// FuzzParseStartupPacket: no panic, and a parsed StartupMessage re-encodes
// to a packet that parses to the same parameters.
func FuzzParseStartupPacket(f *testing.F) {
	f.Add([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f})
	f.Add(append([]byte{0, 0, 0, 16, 0, 3, 0, 0}, "user\x00u\x00\x00"...))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		msg, err := ParseStartupPacket(pkt)
		if err != nil {
			return
		}
		sm, ok := msg.(*pgproto3.StartupMessage)
		if !ok {
			return
		}
		enc, err := sm.Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseStartupPacket(enc)
		if err != nil {
			t.Fatalf("re-encoded packet does not parse: %v", err)
		}
		if len(again.(*pgproto3.StartupMessage).Parameters) != len(sm.Parameters) {
			t.Fatal("parameters changed in round trip")
		}
	})
}

// FuzzParseStartupParams: no panic; errors wrap ErrStartupOptions; shard
// parameters are present exactly for the interpreted protocol.
func FuzzParseStartupParams(f *testing.F) {
	f.Add("-c timeline_id="+timelineHex+" tenant_id="+tenantHex, "")
	f.Add(`-c protocol={"type":"interpreted","args":{"format":"protobuf","compression":{"zstd":{"level":1}}}} shard_count=2 shard_number=1 shard_stripe_size=2048`, "pageserver-1")
	f.Fuzz(func(t *testing.T, options, app string) {
		o, err := ParseStartupParams(map[string]string{"options": options, "application_name": app})
		if err != nil {
			if !errors.Is(err, ErrStartupOptions) {
				t.Fatalf("unwrapped error %v", err)
			}
			return
		}
		if (o.Shard != nil) != (o.Protocol.Kind == ProtocolInterpreted) {
			t.Fatalf("shard %+v with protocol %+v", o.Shard, o.Protocol)
		}
		for _, tok := range SplitOptions(options) {
			if tok == "" || !strings.Contains(options, tok) {
				t.Fatalf("bad token %q", tok)
			}
		}
	})
}

// FuzzParseCommand: no panic; an unsupported command's error names the
// query; datestyle and the prefixes route as documented.
func FuzzParseCommand(f *testing.F) {
	for _, q := range []string{
		"START_WAL_PUSH (proto_version '3', allow_timeline_creation 'false')",
		"START_REPLICATION SLOT x PHYSICAL 0/1000150 (term='6')",
		"IDENTIFY_SYSTEM", "TIMELINE_STATUS", "SHOW wal_segment_size", "set datestyle to ISO", "JSON_CTRL",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		c, err := ParseCommand(q)
		if errors.Is(err, ErrUnsupportedCommand) {
			if err.Error() != "unsupported command "+q {
				t.Fatalf("error text %q", err)
			}
			return
		}
		if err != nil {
			if !strings.HasPrefix(q, "START_") {
				t.Fatalf("parse error %v for non-START query", err)
			}
			return
		}
		switch c.Kind {
		case CmdStartWALPush:
			if !strings.HasPrefix(q, "START_WAL_PUSH") {
				t.Fatal("misrouted START_WAL_PUSH")
			}
		case CmdStartReplication:
			if !strings.HasPrefix(q, "START_REPLICATION") {
				t.Fatal("misrouted START_REPLICATION")
			}
		case CmdShow:
			if c.Show != ShowWalSegmentSize && c.Show != ShowDataDirectoryMode {
				t.Fatalf("SHOW %q", c.Show)
			}
		}
	})
}
