package proposer

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/walkeeper/walkeeper/internal/pgtest"
)

// TestRealPostgresParsesOptions dials a real PostgreSQL 15: it has no
// START_WAL_PUSH, but it parses the startup options the way libpq servers do
// (pg_split_opts), so the "-c timeline_id=..." options must reach it as a
// GUC setting, which it refuses by name.
func TestRealPostgresParsesOptions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{})
	c.Psql(t, "CREATE DATABASE replication")
	_, err := Dial(ctxT(t), Config{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)), User: pgtest.Superuser,
		TenantID: tenant, TimelineID: timeline})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42704" || !strings.Contains(pgErr.Message, `"timeline_id"`) {
		t.Fatalf("Dial = %v, want unrecognized configuration parameter \"timeline_id\"", err)
	}
}
