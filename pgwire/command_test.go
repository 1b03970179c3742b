package pgwire

import (
	"errors"
	"testing"

	"github.com/walkeeper/walkeeper/pgwal"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		q      string
		want   Command
		err    string
		unsupp bool
	}{
		{q: "set datestyle to ISO", want: Command{Kind: CmdSetDatestyle}},
		{q: "SET DateStyle TO 'ISO'", want: Command{Kind: CmdSetDatestyle}},
		{q: "set datestyle=ISO", unsupp: true, err: "unsupported command set datestyle=ISO"},
		{q: "IDENTIFY_SYSTEM", want: Command{Kind: CmdIdentifySystem}},
		{q: "IDENTIFY_SYSTEMxyz", want: Command{Kind: CmdIdentifySystem}},
		{q: "identify_system", unsupp: true, err: "unsupported command identify_system"},
		{q: "TIMELINE_STATUS", want: Command{Kind: CmdTimelineStatus}},
		{q: "JSON_CTRL", unsupp: true, err: "unsupported command JSON_CTRL"},
		{q: "", unsupp: true, err: "unsupported command "},
		{q: "START_WAL_PUSH", want: Command{Kind: CmdStartWALPush, WALPush: WALPushOptions{ProtoVersion: 2, AllowTimelineCreation: true}}},
		{q: "START_WAL_PUSH (proto_version '3', allow_timeline_creation 'false', unknown 'hoho')",
			want: Command{Kind: CmdStartWALPush, WALPush: WALPushOptions{ProtoVersion: 3}}},
		{q: "START_WAL_PUSH (proto_version '3', allow_timeline_creation 'true')",
			want: Command{Kind: CmdStartWALPush, WALPush: WALPushOptions{ProtoVersion: 3, AllowTimelineCreation: true}}},
		{q: "START_WAL_PUSH(proto_version '3')", want: Command{Kind: CmdStartWALPush, WALPush: WALPushOptions{ProtoVersion: 2, AllowTimelineCreation: true}}},
		{q: "START_WAL_PUSH (proto_version)", err: "failed to parse value in kv proto_version in command START_WAL_PUSH (proto_version)"},
		{q: "START_WAL_PUSH (proto_version 'x')", err: `failed to parse proto_version value 'x' in command START_WAL_PUSH (proto_version 'x'): strconv.ParseUint: parsing "x": invalid syntax`},
		{q: "START_WAL_PUSH (allow_timeline_creation 'True')", err: "failed to parse allow_timeline_creation value 'True' in command START_WAL_PUSH (allow_timeline_creation 'True'): provided string was not `true` or `false`"},
		{q: "START_WAL_PUSH ( , )", err: "failed to parse key in kv   in command START_WAL_PUSH ( , )"},
		{q: "START_REPLICATION PHYSICAL 0/1000150 (term='6')",
			want: Command{Kind: CmdStartReplication, Replication: ReplicationOptions{StartLSN: 0x1000150, Term: 6, HasTerm: true}}},
		{q: "START_REPLICATION SLOT s1 PHYSICAL 1/A", want: Command{Kind: CmdStartReplication, Replication: ReplicationOptions{StartLSN: 1<<32 | 0xA}}},
		{q: "START_REPLICATION 0/0", want: Command{Kind: CmdStartReplication}},
		{q: "START_REPLICATION PHYSICAL", err: "failed to parse START_REPLICATION command START_REPLICATION PHYSICAL"},
		{q: "START_REPLICATION 100000000/0", err: `parse start LSN from START_REPLICATION command: invalid LSN: "100000000/0"`},
		{q: "START_REPLICATION 0/1 (term='99999999999999999999')", err: `invalid term: strconv.ParseUint: parsing "99999999999999999999": value out of range`},
		{q: "SHOW wal_segment_size", want: Command{Kind: CmdShow, Show: ShowWalSegmentSize}},
		{q: "  SHOW  \"WAL_Segment_Size\" ; ", want: Command{Kind: CmdShow, Show: ShowWalSegmentSize}},
		{q: "SHOW\tdata_directory_mode", want: Command{Kind: CmdShow, Show: ShowDataDirectoryMode}},
		{q: "show wal_segment_size", unsupp: true, err: "unsupported command show wal_segment_size"},
		{q: "SHOW server_version", unsupp: true, err: "unsupported command SHOW server_version"},
		{q: "TIMELINE_HISTORY 2", want: Command{Kind: CmdTimelineHistory}},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			got, err := ParseCommand(tt.q)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				if errors.Is(err, ErrUnsupportedCommand) != tt.unsupp {
					t.Fatalf("ErrUnsupportedCommand: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Query = tt.q
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestFormatGUC(t *testing.T) {
	for n, want := range map[uint64]string{pgwal.DefaultSegmentSize: "16MB", 1 << 20: "1MB", 1 << 30: "1GB", 8192: "8kB", 1000: "1000B", 1 << 40: "1TB"} {
		if got := FormatBytesGUC(n); got != want {
			t.Errorf("FormatBytesGUC(%d) = %q, want %q", n, got, want)
		}
	}
	if got := FormatFileMode(0o750); got != "0750" {
		t.Errorf("FormatFileMode = %q", got)
	}
}
