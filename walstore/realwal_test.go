package walstore

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/pgwal"
)

// realWAL is WAL written by a real PostgreSQL 15, as a proposer would
// stream it: data holds the bytes [start, end), start and end are record
// boundaries and start is in the middle of a segment.
type realWAL struct {
	start, end pgwal.LSN
	data       []byte
	sysID      uint64
	records    []pgwal.Record // Data not kept
	file       string         // data, for the crash helper process
}

// bytesAt returns the WAL bytes [from, to).
func (w *realWAL) bytesAt(from, to pgwal.LSN) []byte { return w.data[from-w.start : to-w.start] }

// isBoundary reports whether l is where a record starts (or the end).
func (w *realWAL) isBoundary(l pgwal.LSN) bool {
	if l == w.start {
		return true
	}
	for _, r := range w.records {
		if r.NextLSN == l {
			return true
		}
	}
	return false
}

var (
	realOnce sync.Once
	realW    *realWAL
	// testTmp holds files shared by the tests of one run (TestMain).
	testTmp string
)

// getRealWAL generates the real WAL once per test binary run.
func getRealWAL(t *testing.T) *realWAL {
	t.Helper()
	realOnce.Do(func() { realW = makeRealWAL(t) })
	if realW == nil {
		t.Skip("real WAL could not be generated (see the first test that tried)")
	}
	return realW
}

const pgVersion = 150000

// makeRealWAL runs pgbench, multi-page records, a big INSERT with full
// page images and an XLOG_SWITCH on a fresh PostgreSQL 15, then copies
// the WAL bytes out of pg_wal.
func makeRealWAL(t *testing.T) *realWAL {
	c := pgtest.Start(t, pgtest.Options{Conf: []string{"checkpoint_timeout = 1h", "max_wal_size = 1GB", "wal_keep_size = 1GB"}})
	lsn := func(sql string) pgwal.LSN {
		l, err := pgwal.ParseLSN(c.Psql(t, sql))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	pgbench := func(args ...string) {
		cmd := pgtest.Command(context.Background(), t, pgtest.Bin(t, "pgbench"), append(args, c.ConnString("postgres"))...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pgbench %v: %v\n%s", args, err, out)
		}
	}
	c.Psql(t, "CHECKPOINT")
	c.Psql(t, "SELECT pg_logical_emit_message(false, 'start', 'x')")
	start := lsn("SELECT pg_current_wal_insert_lsn()")
	pgbench("-i", "-s", "2", "-q")
	c.Psql(t, "SELECT pg_logical_emit_message(false, 'p', repeat('x', 20000))")
	c.Psql(t, "SELECT pg_switch_wal()")
	pgbench("-c", "2", "-t", "300", "-n")
	c.Psql(t, "CHECKPOINT")
	c.Psql(t, "CREATE TABLE big(t text); INSERT INTO big SELECT repeat(md5(i::text), 300) FROM generate_series(1, 300) i")
	c.Psql(t, "SELECT pg_logical_emit_message(true, 'q', repeat('y', 100000))")
	pgbench("-c", "2", "-t", "200", "-n")
	insert := lsn("SELECT pg_current_wal_insert_lsn()")
	sysID, err := strconv.ParseUint(c.Psql(t, "SELECT system_identifier FROM pg_control_system()"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	c.Psql(t, "SELECT pg_switch_wal()")
	c.Stop()

	const seg = pgwal.DefaultSegmentSize
	var stream []byte
	for n := start.SegmentNumber(seg); n <= insert.SegmentNumber(seg); n++ {
		b, err := os.ReadFile(filepath.Join(c.WALDir(), pgwal.SegmentName(n, seg)))
		if err != nil {
			t.Fatal(err)
		}
		stream = append(stream, b...)
	}
	segStart := start - pgwal.LSN(start.SegmentOffset(seg))
	stream = stream[start-segStart : insert-segStart]
	w := &realWAL{start: start, end: start, sysID: sysID}
	d := pgwal.NewDecoder(start, pgVersion)
	d.Feed(stream)
	for {
		rec, ok, err := d.Next()
		if err != nil {
			t.Fatalf("decode real WAL: %v", err)
		}
		if !ok || rec.NextLSN > insert {
			break
		}
		rec.Data = nil
		w.records = append(w.records, rec)
		w.end = rec.NextLSN
	}
	w.data = stream[:w.end-start]
	w.file = filepath.Join(testTmp, "real.wal")
	if err := os.WriteFile(w.file, w.data, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("real WAL: %d records, %s..%s (%d MiB)", len(w.records), w.start, w.end, len(w.data)>>20)
	return w
}

func TestMain(m *testing.M) {
	if os.Getenv(crashHelperEnv) != "" {
		crashHelper()
		return
	}
	dir, err := os.MkdirTemp("", "walstore-test-")
	if err != nil {
		panic(err)
	}
	testTmp = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
