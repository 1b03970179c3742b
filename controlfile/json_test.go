package controlfile

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Expected JSON written by hand after Neon's serde output for the same
// state (serde_json::to_string of TimelinePersistentState).
const layoutJSON = `{"tenant_id":"0123456789abcdef0123456789abcdef",` +
	`"timeline_id":"fedcba9876543210fedcba9876543210",` +
	`"mconf":{"generation":3,"members":[{"id":1,"host":"sk-1","pg_port":5454},{"id":2,"host":"sk-2.local","pg_port":6400}],` +
	`"new_members":[{"id":3,"host":"h3","pg_port":1}]},` +
	`"acceptor_state":{"term":7,"term_history":[{"term":1,"lsn":"0/1000028"},{"term":7,"lsn":"2/100"}]},` +
	`"server":{"pg_version":170005,"system_id":8603657889541918976,"wal_seg_size":16777216},` +
	`"proposer_uuid":"00112233445566778899aabbccddeeff",` +
	`"timeline_start_lsn":"0/1000028","local_start_lsn":"0/1000030","commit_lsn":"3/8",` +
	`"backup_lsn":"0/1000000","peer_horizon_lsn":"2/0","remote_consistent_lsn":"0/1800000",` +
	`"partial_backup":{"segments":[` +
	`{"status":"Uploaded","name":"seg_a","commit_lsn":"0/10","flush_lsn":"0/20","term":7},` +
	`{"status":"Deleting","name":"","commit_lsn":"0/30","flush_lsn":"0/40","term":5}]},` +
	`"eviction_state":{"Offloaded":"3/10"},` +
	`"creation_ts":{"secs_since_epoch":1700000000,"nanos_since_epoch":123456789}}`

const minimalJSON = `{"tenant_id":"0123456789abcdef0123456789abcdef",` +
	`"timeline_id":"fedcba9876543210fedcba9876543210",` +
	`"mconf":{"generation":0,"members":[],"new_members":null},` +
	`"acceptor_state":{"term":0,"term_history":[]},` +
	`"server":{"pg_version":150000,"system_id":0,"wal_seg_size":16777216},` +
	`"proposer_uuid":"00000000000000000000000000000000",` +
	`"timeline_start_lsn":"0/0","local_start_lsn":"0/0","commit_lsn":"0/0",` +
	`"backup_lsn":"0/0","peer_horizon_lsn":"0/0","remote_consistent_lsn":"0/0",` +
	`"partial_backup":{"segments":[]},"eviction_state":"Present",` +
	`"creation_ts":{"secs_since_epoch":0,"nanos_since_epoch":0}}`

func minimalState() *State {
	var s State
	s.TenantID.UnmarshalText([]byte(tenantHex))
	s.TimelineID.UnmarshalText([]byte(timelineHex))
	s.Server = ServerInfo{PGVersion: 150000, WalSegSize: 16 << 20}
	return &s
}

func TestDump(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		state *State
		want  string
	}{
		{"v10 all fields", layoutState(), layoutJSON},
		{"v9 minimal", minimalState(), minimalJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := Persist(dir, tc.state, true); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := Dump(&out, filepath.Join(dir, FileName)); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Fatalf("dump\ngot  %s\nwant %s", out.String(), tc.want)
			}
			var back State
			if err := json.Unmarshal(out.Bytes(), &back); err != nil {
				t.Fatal(err)
			}
			want := tc.state.Clone()
			if want.CreationTS.IsZero() {
				want.CreationTS = back.CreationTS // the zero time is written as the epoch
			}
			compareFields(t, &back, &want)
		})
	}
	if err := Dump(&bytes.Buffer{}, filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("dump of a missing file succeeded")
	}
	bad := filepath.Join(t.TempDir(), FileName)
	os.WriteFile(bad, []byte("garbage!garbage!"), 0o644)
	if err := Dump(&bytes.Buffer{}, bad); err == nil {
		t.Fatal("dump of garbage succeeded")
	}
}

func TestJSONPieces(t *testing.T) {
	t.Parallel()
	var c Configuration
	if err := json.Unmarshal([]byte(`{"generation":2,"members":[{"id":5,"host":"h<&>","pg_port":1}],"new_members":[]}`), &c); err != nil {
		t.Fatal(err)
	}
	if c.Generation != 2 || !c.HasNewMembers || len(c.NewMembers) != 0 || c.Members[0].ID != 5 {
		t.Fatalf("%+v", c)
	}
	b, _ := c.MarshalJSON() // json.Marshal would add HTML escapes; serde does not
	if string(b) != `{"generation":2,"members":[{"id":5,"host":"h<&>","pg_port":1}],"new_members":[]}` {
		t.Fatalf("%s", b)
	}
	var e EvictionState
	for in, want := range map[string]EvictionState{`"Present"`: {}, `{"Offloaded":"1/2"}`: {true, 0x1_0000_0002}} {
		if err := json.Unmarshal([]byte(in), &e); err != nil || e != want {
			t.Fatalf("%s: %+v %v", in, e, err)
		}
	}
	for _, in := range []string{`"Gone"`, `{"Other":"1/2"}`, `7`} {
		if err := json.Unmarshal([]byte(in), &e); err == nil {
			t.Fatalf("%s accepted", in)
		}
	}
	var u UploadStatus
	if err := u.UnmarshalText([]byte("Nope")); err == nil {
		t.Fatal("bad status accepted")
	}
	if _, err := UploadStatus(7).MarshalText(); err == nil || UploadStatus(7).String() == "" {
		t.Fatal("bad status marshalled")
	}
}
