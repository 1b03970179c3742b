package interpreted_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/pgwal"
)

// realWAL is WAL written by a real PostgreSQL 15 running a workload that
// touches every interpreted record kind, with catalog facts about it.
type realWAL struct {
	dir        string // copy of pg_wal, taken after the server stopped
	start, end pgwal.LSN
	stream     []byte // WAL from start to end
	dbOID      uint32 // the postgres database
	filenodes  map[string]uint32
	copyDBOID  uint32 // database created with STRATEGY file_copy
}

// makeRealWAL runs the workload: pgbench, CREATE/DROP TABLE and DATABASE,
// TRUNCATE, VACUUM, updates/deletes/locks on all-visible pages, two-phase
// commit, logical messages (one longer than a page), an index build (XLOG
// FPI) and hint-bit FPIs.
func makeRealWAL(t *testing.T) *realWAL {
	t.Helper()
	c := pgtest.Start(t, pgtest.Options{Conf: []string{"checkpoint_timeout = 1h", "max_wal_size = 1GB",
		"wal_keep_size = 1GB", "max_prepared_transactions = 5", "wal_log_hints = on", "autovacuum = off"}})
	sql := func(q string) string { return c.Psql(t, q) }
	u32 := func(q string) uint32 {
		v, err := strconv.ParseUint(sql(q), 10, 32)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return uint32(v)
	}
	lsn := func(q string) pgwal.LSN {
		l, err := pgwal.ParseLSN(sql(q))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	sw := lsn("SELECT pg_switch_wal()")
	w := &realWAL{start: (sw + pgwal.DefaultSegmentSize - 1) &^ (pgwal.DefaultSegmentSize - 1), filenodes: map[string]uint32{}}
	pgbench := func(args ...string) {
		cmd := pgtest.Command(context.Background(), t, pgtest.Bin(t, "pgbench"), append(args, c.ConnString("postgres"))...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pgbench %v: %v\n%s", args, err, out)
		}
	}
	pgbench("-i", "-s", "1", "-q")
	pgbench("-c", "2", "-t", "100", "-n")
	sql("CREATE TABLE vmt(a int, b text); INSERT INTO vmt SELECT i, 'x' FROM generate_series(1, 3000) i")
	sql("VACUUM (FREEZE) vmt")
	sql("UPDATE vmt SET b = 'y' WHERE a < 5")
	sql("DELETE FROM vmt WHERE a > 2500") // the next VACUUM truncates the emptied pages
	sql("VACUUM (FREEZE) vmt")
	sql("BEGIN; SELECT a FROM vmt WHERE a = 1500 FOR UPDATE; COMMIT")
	sql("COPY vmt(a) FROM PROGRAM 'seq 1 500' WITH (FORMAT csv)") // HEAP2 MULTI_INSERT
	sql("CREATE TABLE tt(a int); INSERT INTO tt SELECT generate_series(1, 100)")
	sql("TRUNCATE tt")
	sql("CREATE TABLE tr(a int); INSERT INTO tr SELECT generate_series(1, 2000); DELETE FROM tr WHERE a > 10")
	sql("VACUUM tr") // SMGR TRUNCATE
	w.filenodes["tt"] = u32("SELECT pg_relation_filenode('tt')")
	sql("DROP TABLE tt")
	sql("CREATE DATABASE d1")
	sql("CREATE DATABASE d2 STRATEGY file_copy")
	w.copyDBOID = u32("SELECT oid FROM pg_database WHERE datname = 'd2'")
	sql("DROP DATABASE d1")
	sql("DROP DATABASE d2")
	sql("BEGIN; INSERT INTO vmt VALUES (-1, 'p'); PREPARE TRANSACTION 'p1'")
	sql("COMMIT PREPARED 'p1'")
	sql("BEGIN; INSERT INTO vmt VALUES (-2, 'q'); PREPARE TRANSACTION 'p2'")
	sql("ROLLBACK PREPARED 'p2'")
	sql("SELECT pg_logical_emit_message(false, 'neon-file:pg_logical/mappings/test', 'hello')")
	sql("SELECT pg_logical_emit_message(true, 'neon-file:big', repeat('x', 20000))")
	sql("SELECT pg_logical_emit_message(false, 'other', 'ignored')")
	sql("CHECKPOINT")
	sql("CREATE INDEX vmt_a ON vmt(a)")
	sql("SELECT count(*) FROM pgbench_history")
	sql("UPDATE pgbench_branches SET bbalance = bbalance + 1")
	w.end = lsn("SELECT pg_current_wal_insert_lsn()")
	w.dbOID = u32("SELECT oid FROM pg_database WHERE datname = 'postgres'")
	for _, rel := range []string{"pgbench_accounts", "pgbench_branches", "pgbench_tellers", "vmt", "vmt_a"} {
		w.filenodes[rel] = u32("SELECT pg_relation_filenode('" + rel + "')")
	}
	c.Stop()
	w.dir = t.TempDir()
	for seg := w.start.SegmentNumber(pgwal.DefaultSegmentSize); seg <= w.end.SegmentNumber(pgwal.DefaultSegmentSize); seg++ {
		name := pgwal.SegmentName(seg, pgwal.DefaultSegmentSize)
		b, err := os.ReadFile(filepath.Join(c.WALDir(), name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(w.dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		w.stream = append(w.stream, b...)
	}
	w.stream = w.stream[:w.end-w.start]
	return w
}

// waldumpRecord is one record as pg_waldump prints it.
type waldumpRecord struct {
	rmgr string
	lsn  pgwal.LSN
}

var waldumpLine = regexp.MustCompile(`^rmgr: (\S+)\s+len \(rec/tot\):\s*\d+/\s*\d+, tx:\s*\d+, lsn: ([0-9A-F]+/[0-9A-F]+),`)

func pgWaldump(t *testing.T, w *realWAL) []waldumpRecord {
	t.Helper()
	out, err := exec.Command(pgtest.Bin(t, "pg_waldump"), "-p", w.dir,
		"-s", w.start.String(), "-e", w.end.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_waldump: %v\n%s", err, out)
	}
	var recs []waldumpRecord
	for _, line := range strings.Split(string(out), "\n") {
		m := waldumpLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		l, err := pgwal.ParseLSN(m[2])
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, waldumpRecord{m[1], l})
	}
	return recs
}

// rmgrNames are PostgreSQL 15's resource manager names (access/rmgrlist.h)
// by id, as pg_waldump prints them.
var rmgrNames = []string{"XLOG", "Transaction", "Storage", "CLOG", "Database", "Tablespace", "MultiXact",
	"RelMap", "Standby", "Heap2", "Heap", "Btree", "Hash", "Gin", "Gist", "Sequence", "SPGist", "BRIN",
	"CommitTs", "ReplicationOrigin", "Generic", "LogicalMessage"}
