package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/walkeeper/walkeeper/pgwal"
)

func TestParseFlags(t *testing.T) {
	const ten, tl = "cf0480929707ee75372337efaa5ecf96", "112ded66422aa5e953e5440fa5427ac4"
	tests := []struct {
		name string
		args []string
		err  string
	}{
		{"ok", []string{"--safekeepers", "a:1,b:2,c:3", "--tenant-id", ten, "--timeline-id", tl, "--primary", "host=x", "--start-lsn", "0/2000028"}, ""},
		{"bad tenant", []string{"--tenant-id", "xyz", "--timeline-id", tl}, "--tenant-id"},
		{"bad lsn", []string{"--tenant-id", ten, "--timeline-id", tl, "--start-lsn", "nope"}, "--start-lsn"},
		{"extra argument", []string{"--tenant-id", ten, "--timeline-id", tl, "extra"}, "unexpected argument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := parseFlags(tc.args, &bytes.Buffer{})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Safekeepers) != 3 || cfg.StartLSN != pgwal.LSN(0x2000028) || cfg.TenantID.String() != ten {
				t.Fatalf("cfg = %+v", cfg)
			}
		})
	}
}

func TestRunRefusesMissingPrimary(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"--safekeepers", "a:1", "--tenant-id", "cf0480929707ee75372337efaa5ecf96",
		"--timeline-id", "112ded66422aa5e953e5440fa5427ac4"}, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "primary") {
		t.Fatalf("run = %d, %s", code, errb.String())
	}
}
