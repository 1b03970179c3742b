package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/pgwal"
)

// WAL is a stretch of real PostgreSQL 15 WAL: whole segments from Base to
// End, as PostgreSQL itself wrote them into pg_wal, and the start LSN of
// every record pg_waldump lists in them.
type WAL struct {
	PgVersion uint32 // server_version_num
	SystemID  uint64
	Base      pgwal.LSN   // start of the first segment
	End       pgwal.LSN   // start of the segment after the final XLOG_SWITCH
	Data      []byte      // PostgreSQL's bytes from Base to End
	Records   []pgwal.LSN // record start LSNs, ascending, from pg_waldump
	Switches  []pgwal.LSN // start LSNs of the XLOG_SWITCH records
}

// Bytes is PostgreSQL's WAL in [from, to); it aliases Data.
func (w *WAL) Bytes(from, to pgwal.LSN) []byte {
	return w.Data[from-w.Base : to-w.Base]
}

// headerSize is the page header PostgreSQL writes at a page boundary.
func headerSize(l pgwal.LSN) pgwal.LSN {
	if l.SegmentOffset(pgwal.DefaultSegmentSize) == 0 {
		return 40 // XLogLongPageHeaderData
	}
	return 24 // XLogPageHeaderData
}

// hasRecord says whether a record starts exactly at l.
func (w *WAL) hasRecord(l pgwal.LSN) bool {
	i := sort.Search(len(w.Records), func(i int) bool { return w.Records[i] >= l })
	return i < len(w.Records) && w.Records[i] == l
}

// IsBoundary says whether l is where a record pg_waldump lists ends: the
// start of the next record, or the page boundary in front of its page
// header (a record that fills its page, or an XLOG_SWITCH, which ends at
// the next segment start), or End.
func (w *WAL) IsBoundary(l pgwal.LSN) bool {
	if l == w.End || w.hasRecord(l) {
		return true
	}
	return l.PageOffset() == 0 && w.hasRecord(l+headerSize(l))
}

// RecordAtOrAfter is the first record start ≥ l (End if none).
func (w *WAL) RecordAtOrAfter(l pgwal.LSN) pgwal.LSN {
	i := sort.Search(len(w.Records), func(i int) bool { return w.Records[i] >= l })
	if i == len(w.Records) {
		return w.End
	}
	return w.Records[i]
}

// RecordsIn lists the record starts in [from, to).
func (w *WAL) RecordsIn(from, to pgwal.LSN) []pgwal.LSN {
	i := sort.Search(len(w.Records), func(i int) bool { return w.Records[i] >= from })
	j := sort.Search(len(w.Records), func(i int) bool { return w.Records[i] >= to })
	return w.Records[i:j]
}

var (
	sharedOnce sync.Once
	sharedWAL  *WAL
)

// SharedWAL captures the WAL once per test binary (see CaptureWAL) and
// returns the same capture to every caller.
func SharedWAL(t testing.TB) *WAL {
	t.Helper()
	pgtest.Require(t)
	sharedOnce.Do(func() { sharedWAL = CaptureWAL(t) })
	if sharedWAL == nil {
		t.Fatal("the shared WAL capture failed in an earlier test")
	}
	return sharedWAL
}

// CaptureWAL starts PostgreSQL 15 and records a workload spanning more than
// two segments: pgbench -i, a logical message larger than a page, a short
// pgbench run, an XLOG_SWITCH in the middle, bulk inserts that carry a
// record across a segment boundary, and a final
// pg_switch_wal. It returns the segments from the one holding the first
// record of the workload to the final switch.
func CaptureWAL(t testing.TB) *WAL {
	t.Helper()
	c := pgtest.Start(t, pgtest.Options{Conf: []string{
		"wal_keep_size = '1GB'", "max_wal_size = '4GB'", "checkpoint_timeout = '1h'", "autovacuum = off"}})
	w := &WAL{}
	v, err := strconv.ParseUint(c.Psql(t, "show server_version_num"), 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	w.PgVersion = uint32(v)
	if w.SystemID, err = strconv.ParseUint(c.Psql(t, "select system_identifier from pg_control_system()"), 10, 64); err != nil {
		t.Fatal(err)
	}
	c.Psql(t, "select pg_switch_wal()")
	first := currentLSN(t, c)
	w.Base = first - pgwal.LSN(first.SegmentOffset(pgwal.DefaultSegmentSize))
	pgbench := func(args ...string) {
		args = append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(c.Port), "-U", pgtest.Superuser}, args...)
		if out, err := exec.Command(pgtest.Bin(t, "pgbench"), append(args, "postgres")...).CombinedOutput(); err != nil {
			t.Fatalf("pgbench %v: %v\n%s", args, err, out)
		}
	}
	pgbench("-i", "-s", "1", "-q")
	c.Psql(t, "select pg_logical_emit_message(false, 'walkeeper', repeat('0123456789abcdef', 2000))") // 32 KB record
	pgbench("-n", "-c", "2", "-t", "300")
	c.Psql(t, "select pg_switch_wal()")
	c.Psql(t, "create table filler (id int, v text)")
	c.Psql(t, "insert into filler select g, md5(g::text) from generate_series(1, 200000) g")
	c.Psql(t, "select pg_switch_wal()")
	w.End = currentLSN(t, c)
	w.End -= pgwal.LSN(w.End.SegmentOffset(pgwal.DefaultSegmentSize))

	for seg := w.Base.SegmentNumber(pgwal.DefaultSegmentSize); seg < w.End.SegmentNumber(pgwal.DefaultSegmentSize); seg++ {
		b, err := os.ReadFile(filepath.Join(c.WALDir(), pgwal.SegmentName(seg, pgwal.DefaultSegmentSize)))
		if err != nil {
			t.Fatal(err)
		}
		w.Data = append(w.Data, b...)
	}
	recs, switches := Waldump(t, c.WALDir(), w.Base, w.End)
	w.Records, w.Switches = recs, switches
	if len(w.Records) == 0 || len(w.Switches) < 2 {
		t.Fatalf("capture %s..%s: %d records, %d switches", w.Base, w.End, len(w.Records), len(w.Switches))
	}
	return w
}

// currentLSN is pg_current_wal_insert_lsn().
func currentLSN(t testing.TB, c *pgtest.Cluster) pgwal.LSN {
	t.Helper()
	l, err := pgwal.ParseLSN(c.Psql(t, "select pg_current_wal_insert_lsn()"))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Waldump runs the real pg_waldump over the segments in dir from the page
// holding from to to, and returns the start LSNs of the records it lists
// and of the XLOG_SWITCH records among them. Anything on stderr fails t.
func Waldump(t testing.TB, dir string, from, to pgwal.LSN) (records, switches []pgwal.LSN) {
	t.Helper()
	pageStart := from - pgwal.LSN(from.PageOffset())
	cmd := exec.Command(pgtest.Bin(t, "pg_waldump"), "-p", dir, "-s", pageStart.String(), "-e", to.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("pg_waldump -p %s -s %s -e %s: %v\n%s", dir, pageStart, to, err, stderr.String())
	}
	// Lines look like "rmgr: XLOG len (rec/tot): 24/24, tx: 0, lsn:
	// 0/02CE0358, prev 0/02CE0320, desc: SWITCH"; plain string search is
	// much faster than a regexp over 200k lines under -race.
	for _, line := range strings.Split(string(out), "\n") {
		i := strings.Index(line, ", lsn: ")
		if !strings.HasPrefix(line, "rmgr: ") || i < 0 {
			continue
		}
		lsnText, _, _ := strings.Cut(line[i+len(", lsn: "):], ",")
		l, err := pgwal.ParseLSN(lsnText)
		if err != nil {
			t.Fatalf("pg_waldump line %q: %v", line, err)
		}
		records = append(records, l)
		if strings.HasPrefix(line, "rmgr: XLOG ") && strings.Contains(line, "desc: SWITCH") {
			switches = append(switches, l)
		}
	}
	return records, switches
}

// ReadStored reads a walkeeper timeline directory's WAL in [from, to) from
// its segment files, final or ".partial".
func ReadStored(dir string, from, to pgwal.LSN) ([]byte, error) {
	var out []byte
	for pos := from; pos < to; {
		seg := pos.SegmentNumber(pgwal.DefaultSegmentSize)
		name := filepath.Join(dir, pgwal.SegmentName(seg, pgwal.DefaultSegmentSize))
		b, err := os.ReadFile(name)
		if os.IsNotExist(err) {
			b, err = os.ReadFile(name + pgwal.PartialSuffix)
		}
		if err != nil {
			return nil, err
		}
		segEnd := pgwal.LSN((seg + 1) * pgwal.DefaultSegmentSize)
		stop := min(to, segEnd)
		off := pos.SegmentOffset(pgwal.DefaultSegmentSize)
		if uint64(len(b)) < off+uint64(stop-pos) {
			return nil, fmt.Errorf("segment %s is %d bytes, need %d", name, len(b), off+uint64(stop-pos))
		}
		out = append(out, b[off:off+uint64(stop-pos)]...)
		pos = stop
	}
	return out, nil
}

// FirstDiff is the LSN of the first byte where got (read from from) and
// want differ, or 0 if they are equal.
func FirstDiff(from pgwal.LSN, got, want []byte) pgwal.LSN {
	n := min(len(got), len(want))
	for i := 0; i < n; i++ {
		if got[i] != want[i] {
			return from + pgwal.LSN(i)
		}
	}
	if len(got) != len(want) {
		return from + pgwal.LSN(n)
	}
	return 0
}
