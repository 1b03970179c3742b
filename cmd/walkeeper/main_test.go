package main

import (
	"bytes"
	"flag"
	"reflect"
	"strings"
	"testing"

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
		"--dump-control-file", "f",
	}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := server.Config{DataDir: "d", ID: 7, ListenPG: "0.0.0.0:1", ListenHTTP: "0.0.0.0:2", NoSync: true,
		PGAuthKeyPath: "a", ListenPGTenantOnly: "0.0.0.0:3", PGTenantOnlyAuthKeyPath: "b", HTTPAuthKeyPath: "c", LogFormat: "json"}
	if !reflect.DeepEqual(cfg, want) || dump != "f" {
		t.Errorf("got %+v dump %q\nwant %+v", cfg, dump, want)
	}
	cfg, _, _ = parseFlags(nil, &bytes.Buffer{})
	if cfg.ListenPG != "127.0.0.1:5454" || cfg.ListenHTTP != "127.0.0.1:7676" || cfg.LogFormat != "plain" || cfg.DataDir != "." {
		t.Errorf("defaults %+v", cfg)
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
		"--http-auth-public-key-path", "--log-format", "--dump-control-file", "--init"} {
		if !strings.Contains(out.String(), "  "+f) {
			t.Errorf("--help does not explain %s:\n%s", f, out.String())
		}
	}
	if code := run([]string{"--help"}, &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
		t.Errorf("--help exit %d", code)
	}
}

func TestDumpControlFileHook(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"--dump-control-file", "x"}, &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), "not available yet") {
		t.Errorf("exit %d, %q", code, stderr.String())
	}
}
