package walproposer

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/pgwal"
)

// waldumpFirstRecord asks pg_waldump for the first record at or after lsn.
func waldumpFirstRecord(t *testing.T, walDir string, lsn pgwal.LSN) pgwal.LSN {
	t.Helper()
	out, _ := exec.Command(pgtest.Bin(t, "pg_waldump"), "-p", walDir, "-s", lsn.String(), "-n", "1").CombinedOutput()
	m := regexp.MustCompile(`lsn: ([0-9A-F]+/[0-9A-F]+),`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("pg_waldump -s %s: %s", lsn, out)
	}
	l, err := pgwal.ParseLSN(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestFirstRecordBoundaryRealWAL compares FirstRecordBoundary with
// pg_waldump on every complete segment of a PostgreSQL 15 server whose
// records cross segment boundaries, and checks that the default timeline
// start right after a WAL switch is found at once in the previous segment.
func TestFirstRecordBoundaryRealWAL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	pg := pgtest.Start(t, pgtest.Options{Conf: []string{"wal_keep_size = '256MB'"}})
	pg.Psql(t, "CREATE TABLE big (x text); ALTER TABLE big ALTER x SET STORAGE EXTERNAL")
	pg.Psql(t, "INSERT INTO big SELECT repeat(md5(g::text), 300) FROM generate_series(1, 4000) g")
	end, err := pgwal.ParseLSN(pg.Psql(t, "SELECT pg_current_wal_flush_lsn()"))
	if err != nil {
		t.Fatal(err)
	}
	checked, continued := 0, 0
	for seg := pgwal.LSN(pgwal.DefaultSegmentSize); seg+pgwal.DefaultSegmentSize <= end; seg += pgwal.DefaultSegmentSize {
		name := pgwal.SegmentName(seg.SegmentNumber(pgwal.DefaultSegmentSize), pgwal.DefaultSegmentSize)
		data, err := os.ReadFile(filepath.Join(pg.WALDir(), name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := FirstRecordBoundary(seg, data)
		if err != nil {
			t.Fatalf("segment %s: %v", name, err)
		}
		if want := waldumpFirstRecord(t, pg.WALDir(), seg); got != want {
			t.Errorf("segment %s: first record at %s, pg_waldump says %s", name, got, want)
		}
		if got != seg+pgwal.SizeOfXLogLongPHD {
			continued++
		}
		checked++
	}
	if checked < 2 || continued == 0 {
		t.Fatalf("checked %d segments, %d starting with a continued record", checked, continued)
	}

	pg.Psql(t, "SELECT pg_switch_wal()")
	cfg, err := primaryConfig(pg.ConnString("postgres"), "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := dialRepl(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	si, err := rc.identify(ctx)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if si.FlushLSN.SegmentOffset(pgwal.DefaultSegmentSize) != 0 {
		t.Fatalf("flush %s after pg_switch_wal is not at a segment start", si.FlushLSN)
	}
	start, err := segmentStartBoundary(ctx, pg.ConnString("postgres"), si)
	if err != nil {
		t.Fatal(err)
	}
	prev := si.FlushLSN - pgwal.DefaultSegmentSize
	if want := waldumpFirstRecord(t, pg.WALDir(), prev); start != want {
		t.Fatalf("timeline start %s, pg_waldump's first record of the previous segment %s", start, want)
	}
	t.Logf("%d segments checked (%d continue a record); start after a switch: %s", checked, continued, start)
}
