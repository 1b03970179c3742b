package pgtest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStartAndQuery(t *testing.T) {
	c := Start(t, Options{})
	if got := c.Psql(t, "SELECT 1 + 1"); got != "2" {
		t.Fatalf("psql = %q", got)
	}
	if v := c.Psql(t, "SHOW server_version_num"); !strings.HasPrefix(v, "15") {
		t.Fatalf("server_version_num = %q, want PostgreSQL 15", v)
	}
	conn, err := c.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	res := conn.ExecParams(context.Background(), "SELECT pg_current_wal_lsn()::text", nil, nil, nil, nil).Read()
	if res.Err != nil || len(res.Rows) != 1 {
		t.Fatalf("ExecParams: %v", res.Err)
	}
	entries, err := os.ReadDir(c.WALDir())
	if err != nil || len(entries) == 0 {
		t.Fatalf("pg_wal: %v %v", entries, err)
	}
	if _, err := os.Stat(filepath.Join(c.BinDir, "pg_waldump")); err != nil {
		t.Fatalf("pg_waldump: %v", err)
	}
}
