package walstore

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/pgwal"
)

var waldumpLSN = regexp.MustCompile(`, lsn: ([0-9A-F]+/[0-9A-F]+), prev `)

// pgWaldump runs the real pg_waldump over the segments in dir from the
// start of from's page to to, and returns the LSNs of the records it
// printed. To begin, pg_waldump takes the segment size from the synthetic
// long header and skips the fake continuation record on from's page
// (XLogFindNextRecord): both come from the synthetic prefix.
func pgWaldump(t *testing.T, dir string, from, to pgwal.LSN) []pgwal.LSN {
	t.Helper()
	pageStart := from - pgwal.LSN(from.PageOffset())
	cmd := exec.Command(pgtest.Bin(t, "pg_waldump"), "-p", dir, "-s", pageStart.String(), "-e", to.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("pg_waldump: %v\n%s", err, stderr.String())
	}
	var lsns []pgwal.LSN
	for _, line := range strings.Split(string(out), "\n") {
		if m := waldumpLSN.FindStringSubmatch(line); m != nil {
			l, err := pgwal.ParseLSN(m[1])
			if err != nil {
				t.Fatal(err)
			}
			lsns = append(lsns, l)
		}
	}
	return lsns
}

// writeRealWAL writes the whole real WAL into a new store as an elected
// acceptor would, in random pieces with occasional flushes.
func writeRealWAL(t *testing.T, w *realWAL, dir string, seed uint64) *Store {
	t.Helper()
	s, err := Open(realConfig(dir, w.sysID), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.InitializeFirstSegment(w.start); err != nil {
		t.Fatal(err)
	}
	if err := s.Truncate(w.start); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 5))
	for pos := w.start; pos < w.end; {
		n := min(int(w.end-pos), 1+rng.IntN(pgwal.MaxSendSize))
		if err := s.Write(pos, w.bytesAt(pos, pos+pgwal.LSN(n))); err != nil {
			t.Fatalf("write at %s: %v", pos, err)
		}
		pos += pgwal.LSN(n)
		if rng.IntN(8) == 0 {
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPGWaldump checks with the real pg_waldump that the segments on disk,
// and the same segments as a Reader streams them, are valid PostgreSQL
// WAL from the first segment's synthetic prefix to the flushed end.
func TestPGWaldump(t *testing.T) {
	w := getRealWAL(t)
	dir := t.TempDir()
	s := writeRealWAL(t, w, dir, 1)
	if s.FlushLSN() != w.end || s.WriteRecordLSN() != w.end {
		t.Fatalf("flush_lsn %s write_record_lsn %s, want %s", s.FlushLSN(), s.WriteRecordLSN(), w.end)
	}
	want := make([]pgwal.LSN, len(w.records))
	for i, r := range w.records {
		want[i] = r.StartLSN
	}
	check := func(t *testing.T, dumpDir string) {
		got := pgWaldump(t, dumpDir, w.start, s.FlushLSN())
		if len(got) != len(want) || got[0] != w.start || got[len(got)-1] != want[len(want)-1] {
			t.Fatalf("pg_waldump printed %d records (%v..), want %d from %s", len(got), got[:min(len(got), 1)], len(want), w.start)
		}
	}
	t.Run("files", func(t *testing.T) {
		// pg_waldump does not open ".partial" names: link them without it.
		dump := t.TempDir()
		segs, err := listSegments(dir, pgwal.DefaultSegmentSize)
		if err != nil {
			t.Fatal(err)
		}
		partials := 0
		for _, sf := range segs {
			if sf.partial {
				partials++
			}
			name := strings.TrimSuffix(sf.name, pgwal.PartialSuffix)
			if err := os.Link(filepath.Join(dir, sf.name), filepath.Join(dump, name)); err != nil {
				t.Fatal(err)
			}
		}
		if partials != 1 || !segs[len(segs)-1].partial {
			t.Fatalf("segments %v: want exactly the last one .partial", segs)
		}
		check(t, dump)
	})
	t.Run("reader", func(t *testing.T) {
		dump := t.TempDir()
		r := s.NewReader(w.start, w.start)
		defer r.Close()
		const seg = pgwal.DefaultSegmentSize
		buf := make([]byte, seg)
		for pos := w.start - pgwal.LSN(w.start.SegmentOffset(seg)); pos < s.FlushLSN(); pos += seg {
			clear(buf)
			for off := pgwal.LSN(0); off < seg && pos+off < s.FlushLSN(); {
				n, err := r.ReadAt(buf[off:min(seg, off+pgwal.MaxSendSize)], pos+off)
				if err != nil {
					t.Fatalf("ReadAt(%s): %v", pos+off, err)
				}
				off += pgwal.LSN(n)
			}
			name := pgwal.SegmentName(pos.SegmentNumber(seg), seg)
			if err := os.WriteFile(filepath.Join(dump, name), buf, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		check(t, dump)
	})
}
