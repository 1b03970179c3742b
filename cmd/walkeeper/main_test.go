package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/server"
)

func TestParseFlagsSpellings(t *testing.T) {
	for _, args := range [][]string{
		{"-D", "x"}, {"--datadir", "x"}, {"--datadir=x"}, {"-datadir", "x"}, {"-D=x"},
	} {
		cfg, _, err := parseFlags(args, &bytes.Buffer{})
		if err != nil || cfg.DataDir != "x" {
			t.Errorf("%q: datadir %q, %v", args, cfg.DataDir, err)
		}
	}
	cfg, dump, err := parseFlags([]string{
		"-D", "d", "--id", "7", "--listen-pg", "0.0.0.0:1", "--listen-http=0.0.0.0:2", "--no-sync",
		"--pg-auth-public-key-path", "a", "--listen-pg-tenant-only", "0.0.0.0:3",
		"--pg-tenant-only-auth-public-key-path=b", "--http-auth-public-key-path", "c", "--log-format", "json",
		"--dump-control-file", "f", "--availability-zone", "eu-1a",
	}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := server.Config{DataDir: "d", ID: 7, ListenPG: "0.0.0.0:1", ListenHTTP: "0.0.0.0:2", NoSync: true,
		PGAuthKeyPath: "a", ListenPGTenantOnly: "0.0.0.0:3", PGTenantOnlyAuthKeyPath: "b", HTTPAuthKeyPath: "c", LogFormat: "json",
		ControlFileSaveInterval: controlfile.DefaultSaveInterval, AvailabilityZone: "eu-1a"}
	if !reflect.DeepEqual(cfg, want) || dump != "f" {
		t.Errorf("got %+v dump %q\nwant %+v", cfg, dump, want)
	}
	cfg, _, _ = parseFlags(nil, &bytes.Buffer{})
	if cfg.ListenPG != "127.0.0.1:5454" || cfg.ListenHTTP != "127.0.0.1:7676" || cfg.LogFormat != "plain" || cfg.DataDir != "." {
		t.Errorf("defaults %+v", cfg)
	}
	for _, c := range []struct {
		arg  string
		want time.Duration
	}{{"", 0}, {"--replication-yield-max=50ms", 50 * time.Millisecond}, {"--replication-yield-max=0", -1}} {
		args := []string{c.arg}
		if c.arg == "" {
			args = nil
		}
		if cfg, _, err := parseFlags(args, &bytes.Buffer{}); err != nil || cfg.ReplicationYieldMax != c.want {
			t.Errorf("%q: ReplicationYieldMax %v, %v; want %v (0: the server's default, negative: off)", c.arg, cfg.ReplicationYieldMax, err, c.want)
		}
	}
	for _, bad := range []string{"-1s", "2s", "soon"} {
		if _, _, err := parseFlags([]string{"--replication-yield-max=" + bad}, &bytes.Buffer{}); err == nil {
			t.Errorf("--replication-yield-max=%s accepted", bad)
		}
	}
	if _, _, err := parseFlags([]string{"--bogus"}, &bytes.Buffer{}); err == nil {
		t.Error("unknown flag accepted")
	}
	if _, _, err := parseFlags([]string{"extra"}, &bytes.Buffer{}); err == nil {
		t.Error("positional argument accepted")
	}
}

func TestHelpListsEveryFlag(t *testing.T) {
	var out bytes.Buffer
	_, _, err := parseFlags([]string{"--help"}, &out)
	if err != flag.ErrHelp {
		t.Fatalf("--help: %v", err)
	}
	for _, f := range []string{"-D, --datadir", "--id", "-l, --listen-pg", "--listen-http", "-n, --no-sync",
		"--pg-auth-public-key-path", "--listen-pg-tenant-only", "--pg-tenant-only-auth-public-key-path",
		"--http-auth-public-key-path", "--log-format", "--dump-control-file", "--init", "--availability-zone"} {
		if !strings.Contains(out.String(), "  "+f) {
			t.Errorf("--help does not explain %s:\n%s", f, out.String())
		}
	}
	if code := run([]string{"--help"}, &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
		t.Errorf("--help exit %d", code)
	}
}

// TestDumpControlFile prints a real control file as JSON and reports a
// missing one as an error.
func TestDumpControlFile(t *testing.T) {
	dir := t.TempDir()
	ttid := ids.TTID{Tenant: ids.MustParse("cf0480929707ee75372337efaa5ecf96"), Timeline: ids.MustParse("112ded66422aa5e953e5440fa5427ac4")}
	st, err := controlfile.New(ttid, controlfile.Configuration{}, controlfile.ServerInfo{PGVersion: 150004, SystemID: 42, WalSegSize: 16 << 20},
		0x1000028, 0x1000150, time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := controlfile.Persist(dir, st, true); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--dump-control-file", filepath.Join(dir, controlfile.FileName)}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var got map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout.String())
	}
	if got["tenant_id"] != ttid.Tenant.String() || got["commit_lsn"] != "0/1000150" {
		t.Errorf("dump = %s", stdout.String())
	}
	stderr.Reset()
	if code := run([]string{"--dump-control-file", filepath.Join(dir, "missing")}, &bytes.Buffer{}, &stderr); code != 1 || !strings.Contains(stderr.String(), "missing") {
		t.Errorf("missing file: exit %d, %q", code, stderr.String())
	}
}
