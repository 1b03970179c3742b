package pgwal

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/walkeeper/walkeeper/internal/pgtest"
)

// realWAL is WAL produced by a real PostgreSQL 15, copied out of pg_wal
// after the server stopped so the segments are stable.
type realWAL struct {
	dir        string // copy of pg_wal
	start, end LSN    // start is a segment start, end a record start
	sysID      uint64
}

// stream returns the WAL bytes from w.start to the end of end's segment.
func (w *realWAL) stream(t testing.TB) []byte {
	t.Helper()
	var out []byte
	for seg := w.start.SegmentNumber(DefaultSegmentSize); seg <= w.end.SegmentNumber(DefaultSegmentSize); seg++ {
		b, err := os.ReadFile(filepath.Join(w.dir, SegmentName(seg, DefaultSegmentSize)))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

// makeRealWAL starts PostgreSQL 15 and writes WAL with pgbench, a record
// larger than a page, a big INSERT and XLOG_SWITCH.
func makeRealWAL(t *testing.T) *realWAL {
	t.Helper()
	c := pgtest.Start(t, pgtest.Options{Conf: []string{"checkpoint_timeout = 1h", "max_wal_size = 1GB", "wal_keep_size = 1GB"}})
	lsn := func(sql string) LSN {
		l, err := ParseLSN(c.Psql(t, sql))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	sw := lsn("SELECT pg_switch_wal()")
	w := &realWAL{start: (sw + DefaultSegmentSize - 1) &^ (DefaultSegmentSize - 1)}
	pgbench := func(args ...string) {
		cmd := pgtest.Command(context.Background(), t, pgtest.Bin(t, "pgbench"), append(args, c.ConnString("postgres"))...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pgbench %v: %v\n%s", args, err, out)
		}
	}
	pgbench("-i", "-s", "2", "-q") // about 25 MB of WAL: records cross a segment boundary
	pgbench("-c", "2", "-t", "300", "-n")
	c.Psql(t, "SELECT pg_logical_emit_message(false, 'p', repeat('x', 20000))")
	c.Psql(t, "CREATE TABLE big(t text); INSERT INTO big SELECT repeat(md5(i::text), 300) FROM generate_series(1, 200) i")
	c.Psql(t, "SELECT pg_logical_emit_message(true, 'q', repeat('y', 100000))")
	c.Psql(t, "SELECT pg_switch_wal()")
	c.Psql(t, "CREATE TABLE after_switch(i int); INSERT INTO after_switch VALUES (1)")
	c.Psql(t, "CHECKPOINT")
	w.end = lsn("SELECT pg_current_wal_insert_lsn()")
	sysID, err := strconv.ParseUint(c.Psql(t, "SELECT system_identifier FROM pg_control_system()"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	w.sysID = sysID
	c.Stop()
	w.dir = t.TempDir()
	for seg := w.start.SegmentNumber(DefaultSegmentSize); seg <= w.end.SegmentNumber(DefaultSegmentSize); seg++ {
		name := SegmentName(seg, DefaultSegmentSize)
		b, err := os.ReadFile(filepath.Join(c.WALDir(), name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(w.dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// waldumpRecord is one line of pg_waldump output.
type waldumpRecord struct {
	lsn    LSN
	totLen uint32
}

var waldumpLine = regexp.MustCompile(`len \(rec/tot\):\s*\d+/\s*(\d+), tx:\s*\d+, lsn: ([0-9A-F]+/[0-9A-F]+),`)

// pgWaldump runs pg_waldump over [start, end) of the segments in dir.
func pgWaldump(t testing.TB, dir string, start, end LSN) []waldumpRecord {
	t.Helper()
	return runWaldump(t, pgtest.Bin(t, "pg_waldump"), dir, start, end)
}

func runWaldump(t testing.TB, waldump, dir string, start, end LSN) []waldumpRecord {
	t.Helper()
	cmd := exec.Command(waldump, "-p", dir, "-s", start.String(), "-e", end.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pg_waldump: %v\n%s", err, out)
	}
	var recs []waldumpRecord
	for _, line := range strings.Split(string(out), "\n") {
		m := waldumpLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		l, err := ParseLSN(m[2])
		n, err2 := strconv.ParseUint(m[1], 10, 32)
		if err != nil || err2 != nil {
			t.Fatalf("pg_waldump line %q", line)
		}
		recs = append(recs, waldumpRecord{l, uint32(n)})
	}
	return recs
}

func TestRealWAL(t *testing.T) {
	w := makeRealWAL(t)
	want := pgWaldump(t, w.dir, w.start, w.end)
	if len(want) < 1000 {
		t.Fatalf("pg_waldump printed only %d records", len(want))
	}
	stream := w.stream(t)
	seenBig, seenSwitch, seenMessage, seenSegCross, blocks := false, false, false, false, 0
	bigMessage := bytes.Repeat([]byte("x"), 20000)
	r := rand.New(rand.NewPCG(7, 7))
	for _, tc := range []struct {
		name  string
		chunk func() int
	}{
		{"128KiB", func() int { return 128 << 10 }},
		{"random 1B-128KiB", func() int { return 1 + r.IntN(1<<(1+r.IntN(17))) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(w.start, 150000)
			i := 0
			for off := 0; off < len(stream) && i < len(want); {
				n := min(tc.chunk(), len(stream)-off)
				d.Feed(stream[off : off+n])
				off += n
				for i < len(want) {
					rec, ok, err := d.Next()
					if err != nil {
						t.Fatalf("record %d (pg_waldump %s): %v", i, want[i].lsn, err)
					}
					if !ok {
						break
					}
					if rec.StartLSN != want[i].lsn || rec.Header.TotLen != want[i].totLen {
						t.Fatalf("record %d at %s len %d, pg_waldump says %s len %d",
							i, rec.StartLSN, rec.Header.TotLen, want[i].lsn, want[i].totLen)
					}
					dr, err := DecodeRecord(rec.Data, 15)
					if err != nil {
						t.Fatalf("DecodeRecord at %s: %v", rec.StartLSN, err)
					}
					if rec.Header.RMID == RMLogicalMsgID && bytes.HasSuffix(dr.MainData, bigMessage) {
						seenMessage = true
					}
					blocks += len(dr.Blocks)
					seenBig = seenBig || rec.Header.TotLen > 2*XLogBlockSize
					seenSegCross = seenSegCross || rec.StartLSN.SegmentNumber(DefaultSegmentSize) != (rec.EndLSN-1).SegmentNumber(DefaultSegmentSize)
					seenSwitch = seenSwitch || rec.Header.IsSwitch()
					i++
				}
			}
			if i != len(want) {
				t.Fatalf("decoded %d records, pg_waldump printed %d", i, len(want))
			}
		})
	}
	t.Run("prefix", func(t *testing.T) { testPrefixWithWaldump(t, w, stream, want) })
	if !seenBig || !seenSwitch || !seenMessage || !seenSegCross || blocks < len(want) {
		t.Errorf("WAL lacks a multi-page record (%v), XLOG_SWITCH (%v), the message (%v), a record across segments (%v) or blocks (%d)",
			seenBig, seenSwitch, seenMessage, seenSegCross, blocks)
	}
	t.Logf("%d records from %s to %s", len(want), w.start, w.end)
}

// testPrefixWithWaldump builds segments of AppendSegmentPrefix + real WAL
// from a record start and checks that pg_waldump reads them from that start.
func testPrefixWithWaldump(t *testing.T, w *realWAL, stream []byte, recs []waldumpRecord) {
	segEnd := w.start + DefaultSegmentSize
	pick := map[string]int{}
	for i, r := range recs {
		if r.lsn >= segEnd-XLogBlockSize {
			break
		}
		po := r.lsn.PageOffset()
		var kind string
		switch {
		case r.lsn == w.start+SizeOfXLogLongPHD:
			kind = "right after long header"
		case r.lsn < w.start+XLogBlockSize:
			kind = "first page, mid-page"
		case po == SizeOfXLogShortPHD:
			kind = "right after short header"
		case po > 4000 && r.lsn > w.start+100*XLogBlockSize:
			kind = "later page, mid-page"
		default:
			continue
		}
		if _, ok := pick[kind]; !ok {
			pick[kind] = i
		}
	}
	if len(pick) < 3 {
		t.Fatalf("found only starts %v", pick)
	}
	for name, i := range pick {
		t.Run(name, func(t *testing.T) {
			start := recs[i].lsn
			seg := AppendSegmentPrefix(nil, start, w.sysID, DefaultSegmentSize, 150004)
			if len(seg) != int(start-w.start) {
				t.Fatalf("prefix length %d, want %d", len(seg), start-w.start)
			}
			seg = append(seg, stream[start-w.start:DefaultSegmentSize]...)
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, SegmentName(w.start.SegmentNumber(DefaultSegmentSize), DefaultSegmentSize)), seg, 0o644); err != nil {
				t.Fatal(err)
			}
			j := min(i+300, len(recs)-1)
			for recs[j].lsn >= segEnd-XLogBlockSize {
				j--
			}
			if j < i+10 {
				t.Fatalf("only %d records after %s in its segment", j-i, start)
			}
			got := pgWaldump(t, dir, start, recs[j].lsn)
			if len(got) == 0 || got[0].lsn != start {
				t.Fatalf("pg_waldump from %s starts at %v", start, got[:min(len(got), 1)])
			}
			for k, g := range got {
				if g != recs[i+k] {
					t.Fatalf("pg_waldump record %d: %v, want %v", k, g, recs[i+k])
				}
			}
			t.Logf("start %s (page offset %d): %d records", start, start.PageOffset(), len(got))
		})
	}
}
