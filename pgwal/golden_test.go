package pgwal

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/walkeeper/walkeeper/internal/pgtest"
)

var (
	update         = flag.Bool("update", false, "rewrite the golden files of the WAL excerpts in testdata/wal")
	updateExcerpts = flag.Bool("update-excerpts", false, "cut new WAL excerpts from a fresh PostgreSQL 15 (then run -update)")
)

const excerptDir = "testdata/wal/pg15"

// goldenText decodes an excerpt (whole pages starting at its first page
// header's xlp_pageaddr) from start and describes every complete record.
func goldenText(t *testing.T, excerpt []byte, start LSN) string {
	t.Helper()
	h, err := ParseXLogPageHeader(excerpt)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "start %s\n", start)
	d := NewDecoder(start, 150000)
	d.Feed(excerpt[start-h.PageAddr:])
	for {
		rec, ok, err := d.Next()
		if err != nil {
			fmt.Fprintf(&b, "error %v\n", err)
			break
		}
		if !ok {
			fmt.Fprintf(&b, "need more input, last record ends at %s, fed up to %s\n", d.LSN(), d.FedLSN())
			break
		}
		fmt.Fprintf(&b, "%s rmid=%d info=0x%02X tot_len=%d next=%s", rec.StartLSN, rec.Header.RMID, rec.Header.Info, rec.Header.TotLen, rec.NextLSN)
		if dr, err := DecodeRecord(rec.Data, 15); err != nil {
			fmt.Fprintf(&b, " decode error %v", err)
		} else {
			fmt.Fprintf(&b, " blocks=%d main_len=%d", len(dr.Blocks), len(dr.MainData))
			for _, blk := range dr.Blocks {
				fmt.Fprintf(&b, " [%d %d/%d/%d fork %d blk %d image %d data %d]", blk.ID, blk.Rel.SpcNode, blk.Rel.DBNode, blk.Rel.RelNode,
					blk.ForkNum, blk.BlkNo, blk.BimgLen, blk.DataLen)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// TestGolden decodes the committed excerpts of real PG15 WAL and compares
// with the golden files; `go test ./pgwal -run Golden -update` rewrites
// them. Where pg_waldump exists it also confirms the record boundaries.
func TestGolden(t *testing.T) {
	if *updateExcerpts {
		cutExcerpts(t)
	}
	files, err := filepath.Glob(filepath.Join(excerptDir, "*.wal"))
	if err != nil || len(files) < 3 {
		t.Fatalf("excerpts: %v %v", files, err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			excerpt, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			goldenFile := strings.TrimSuffix(file, ".wal") + ".golden"
			golden, err := os.ReadFile(goldenFile)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(golden), "\n")
			start, err := ParseLSN(strings.TrimPrefix(first, "start "))
			if err != nil {
				t.Fatalf("%s: first line %q", goldenFile, first)
			}
			got := goldenText(t, excerpt, start)
			if *update {
				if err := os.WriteFile(goldenFile, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != string(golden) {
				t.Errorf("decoded %s differs from %s:\n%s", file, goldenFile, got)
			}
			if strings.Contains(got, "error") {
				t.Errorf("excerpt does not decode cleanly")
			}
			if dir, err := pgtest.BinDir(); err == nil {
				checkExcerptWithWaldump(t, filepath.Join(dir, "pg_waldump"), excerpt, start, got)
			}
		})
	}
}

// checkExcerptWithWaldump places the excerpt in a segment behind a
// synthetic prefix and compares pg_waldump's record list with golden.
func checkExcerptWithWaldump(t *testing.T, waldump string, excerpt []byte, start LSN, golden string) {
	h, _ := ParseXLogPageHeader(excerpt)
	seg := AppendSegmentPrefix(nil, start, 1, DefaultSegmentSize, 15)
	seg = append(seg, excerpt[start-h.PageAddr:]...)
	seg = append(seg, make([]byte, DefaultSegmentSize-len(seg))...)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, SegmentName(start.SegmentNumber(DefaultSegmentSize), DefaultSegmentSize)), seg, 0o644); err != nil {
		t.Fatal(err)
	}
	var want []string
	var end string
	for _, line := range strings.Split(golden, "\n")[1:] {
		var lsn string
		var rmid, info, totLen int
		if n, _ := fmt.Sscanf(line, "%s rmid=%d info=0x%X tot_len=%d", &lsn, &rmid, &info, &totLen); n == 4 {
			want = append(want, fmt.Sprintf("%s %d", lsn, totLen))
		}
		fmt.Sscanf(line, "need more input, last record ends at %s", &end)
	}
	last, err := ParseLSN(strings.TrimSuffix(end, ","))
	if err != nil {
		t.Fatalf("golden lacks the end line: %v", err)
	}
	var got []string
	for _, r := range runWaldump(t, waldump, dir, start, last) {
		got = append(got, fmt.Sprintf("%s %d", r.lsn, r.totLen))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("pg_waldump sees\n%s\ngolden has\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// cutExcerpts writes new excerpts from fresh WAL: the first pages of a
// segment, a multi-page logical message, pgbench traffic and XLOG_SWITCH.
func cutExcerpts(t *testing.T) {
	w := makeRealWAL(t)
	recs := pgWaldump(t, w.dir, w.start, w.end)
	stream := w.stream(t)
	cut := func(name string, start LSN, pages int) {
		page := start - LSN(start.PageOffset())
		b := stream[page-w.start : page-w.start+LSN(pages*XLogBlockSize)]
		if err := os.MkdirAll(excerptDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(excerptDir, name+".wal"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(excerptDir, name+".golden"), []byte(fmt.Sprintf("start %s\n", start)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	find := func(what string, pred func(i int) bool) LSN {
		for i := range recs {
			if pred(i) {
				return recs[i].lsn
			}
		}
		t.Fatalf("no record for %s", what)
		return 0
	}
	cut("segment-start", w.start, 3)
	msg := find("message", func(i int) bool { return recs[i].totLen > 20000 && recs[i].totLen < 20200 })
	cut("multipage-message", msg, 4)
	mid := find("pgbench", func(i int) bool {
		return recs[i].lsn > msg-64*XLogBlockSize && recs[i].lsn.PageOffset() > 4096 && recs[i].totLen < 200
	})
	cut("pgbench", mid, 3)
	sw := find("switch", func(i int) bool {
		return recs[i].totLen == 24 && i+1 < len(recs) && recs[i+1].lsn%DefaultSegmentSize == SizeOfXLogLongPHD
	})
	cut("switch", sw, 2)
	t.Logf("cut excerpts in %s; now run -update", excerptDir)
}
