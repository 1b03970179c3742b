package server

import (
	"context"
	"io"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/walkeeper/walkeeper/internal/pgtest"
)

// TestShowMatchesPostgres15 asks a real PostgreSQL 15 walsender and
// walkeeper the SHOW commands pg_receivewal sends, and requires identical
// column descriptions, values and command tags.
func TestShowMatchesPostgres15(t *testing.T) {
	pg := pgtest.Start(t, pgtest.Options{})
	addrs, _ := startRun(t, Config{DataDir: filepath.Join(t.TempDir(), "data"), ID: 1, NoSync: true, LogOutput: io.Discard})
	ctx := context.Background()

	pgConn, err := pgconn.Connect(ctx, pg.ConnString("postgres")+" replication=true")
	if err != nil {
		t.Fatal(err)
	}
	defer pgConn.Close(ctx)
	wkConn, err := pgconn.Connect(ctx, "postgres://x@"+addrs.PG.String()+"/replication?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer wkConn.Close(ctx)

	for _, q := range []string{"SHOW wal_segment_size", "SHOW data_directory_mode", `SHOW "WAL_SEGMENT_SIZE";`} {
		want, err := pgConn.Exec(ctx, q).ReadAll()
		if err != nil {
			t.Fatalf("PostgreSQL %q: %v", q, err)
		}
		got, err := wkConn.Exec(ctx, q).ReadAll()
		if err != nil {
			t.Fatalf("walkeeper %q: %v", q, err)
		}
		if len(got) != 1 || len(want) != 1 {
			t.Fatalf("%q: %d and %d results", q, len(got), len(want))
		}
		if !reflect.DeepEqual(got[0].FieldDescriptions, want[0].FieldDescriptions) {
			t.Errorf("%q fields\n got %+v\nwant %+v", q, got[0].FieldDescriptions, want[0].FieldDescriptions)
		}
		if !reflect.DeepEqual(got[0].Rows, want[0].Rows) || got[0].CommandTag.String() != want[0].CommandTag.String() {
			t.Errorf("%q rows %q tag %q, want %q %q", q, got[0].Rows, got[0].CommandTag, want[0].Rows, want[0].CommandTag)
		}
	}
}
