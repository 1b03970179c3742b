package pgwire

import (
	"errors"
	"reflect"
	"testing"

	"github.com/walkeeper/walkeeper/ids"
)

const (
	tenantHex   = "cf0480929707ee75372337efaa5ecf96"
	timelineHex = "112ded66422aa5e953e5440fa5427ac4"
)

func TestSplitOptions(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"foo", []string{"foo"}},
		{" foo  bar ", []string{"foo", "bar"}},
		// Neon's pq_proto test, raw form: escapes are kept.
		{`foo\ bar \ \\ baz\  lol`, []string{`foo\ bar`, `\ \\`, `baz\ `, "lol"}},
		{"-c\ttenant_id=a\ntimeline_id=b", []string{"-c", "tenant_id=a", "timeline_id=b"}},
		{"a\vb", []string{"a\vb"}}, // vertical tab is not ASCII whitespace in Rust
	}
	for _, tt := range tests {
		if got := SplitOptions(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitOptions(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseStartupParams(t *testing.T) {
	ttid := ids.TTID{Tenant: ids.MustParse(tenantHex), Timeline: ids.MustParse(timelineHex)}
	interp := `{"type":"interpreted","args":{"format":"protobuf","compression":{"zstd":{"level":1}}}}`
	tests := []struct {
		name   string
		params map[string]string
		want   StartupOptions
		err    bool
	}{
		{name: "none", params: map[string]string{"user": "x"}},
		{name: "walproposer", params: map[string]string{"options": "-c timeline_id=" + timelineHex + " tenant_id=" + tenantHex},
			want: StartupOptions{TTID: ttid, HasTenant: true, HasTimeline: true}},
		{name: "legacy", params: map[string]string{"options": "ztenantid=" + tenantHex + " ztimelineid=" + timelineHex, "application_name": "safekeeper_2"},
			want: StartupOptions{TTID: ttid, HasTenant: true, HasTimeline: true, AppName: "safekeeper_2"}},
		{name: "upper case hex", params: map[string]string{"options": "-c tenant_id=CF0480929707EE75372337EFAA5ECF96"},
			want: StartupOptions{TTID: ids.TTID{Tenant: ttid.Tenant}, HasTenant: true}},
		{name: "bad tenant", params: map[string]string{"options": "-c tenant_id=xyz"}, err: true},
		{name: "bad timeline", params: map[string]string{"options": "-c timeline_id=" + tenantHex + "0"}, err: true},
		{name: "unknown keys ignored", params: map[string]string{"options": "-c foo=bar baz availability_zone=az-1"},
			want: StartupOptions{AvailabilityZone: "az-1"}},
		{name: "vanilla explicit", params: map[string]string{"options": `protocol={"type":"vanilla"}`}},
		{name: "vanilla with shard", params: map[string]string{"options": `shard_count=1`}, err: true},
		{name: "interpreted", params: map[string]string{"options": "-c protocol=" + interp + " shard_count=2 shard_number=1 shard_stripe_size=2048"},
			want: StartupOptions{Protocol: Protocol{Kind: ProtocolInterpreted, Format: "protobuf", Zstd: true, ZstdLevel: 1},
				Shard: &ShardParams{Count: 2, Number: 1, StripeSize: 2048}}},
		{name: "interpreted unsharded", params: map[string]string{"options": `protocol={"type":"interpreted","args":{"format":"bincode","compression":null}} shard_count=0 shard_number=0 shard_stripe_size=2048`},
			want: StartupOptions{Protocol: Protocol{Kind: ProtocolInterpreted, Format: "bincode"},
				Shard: &ShardParams{StripeSize: 2048}}},
		{name: "interpreted missing shard", params: map[string]string{"options": "protocol=" + interp + " shard_count=2"}, err: true},
		{name: "interpreted zero stripe", params: map[string]string{"options": "protocol=" + interp + " shard_count=2 shard_number=0 shard_stripe_size=0"}, err: true},
		{name: "shard count overflow", params: map[string]string{"options": "protocol=" + interp + " shard_count=256 shard_number=0 shard_stripe_size=1"}, err: true},
		{name: "bad protocol", params: map[string]string{"options": `protocol={"type":"other"}`}, err: true},
		{name: "bad protocol json", params: map[string]string{"options": `protocol={`}, err: true},
		{name: "bad format", params: map[string]string{"options": `protocol={"type":"interpreted","args":{"format":"xml"}}`}, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStartupParams(tt.params)
			if tt.err {
				if !errors.Is(err, ErrStartupOptions) {
					t.Fatalf("want ErrStartupOptions, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestIsRecovery(t *testing.T) {
	for app, want := range map[string]bool{"": false, "wal_proposer_recovery": true, "safekeeper_1": true, "safekeeper": true, "walproposer": false, "pageserver-1": false} {
		o := StartupOptions{AppName: app}
		if o.IsRecovery() != want {
			t.Errorf("%q: got %v", app, !want)
		}
	}
}
