package server

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/pgwal"
)

const segSize = pgwal.DefaultSegmentSize

// chownLike gives path the owner of dir (PostgreSQL tools run unprivileged).
func chownLike(t *testing.T, path, dir string) {
	t.Helper()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if err := os.Chown(path, int(st.Uid), int(st.Gid)); err != nil {
		t.Fatal(err)
	}
}

// readSegment reads a segment pg_receivewal wrote, complete or .partial.
func readSegment(t *testing.T, dir string, segNo uint64) []byte {
	t.Helper()
	name := pgwal.SegmentName(segNo, segSize)
	b, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		b, err = os.ReadFile(filepath.Join(dir, name+pgwal.PartialSuffix))
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReplicationPGReceiveWAL pushes a primary's real WAL into walkeeper
// and drains it with pg_receivewal --endpos: the tool exits 0, its segments
// equal PostgreSQL's bytes from the timeline start to commit_lsn, the
// synthetic bytes before the timeline start are a valid long page header,
// and pg_waldump decodes the result.
func TestReplicationPGReceiveWAL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	bin := pgtest.Require(t)
	p := startPrimary(t)
	p.Psql(t, "create table t (id int primary key, v text)")
	start := p.switchWAL(t)
	addrs, _ := startRun(t, Config{DataDir: t.TempDir(), ID: 1, NoSync: true, Logger: testLogger(t)})
	u := startPusher(t, p, addrs.PG.String(), 1, start)
	p.Psql(t, "insert into t select g, repeat('x', 300) from generate_series(1, 60000) g") // ~2 segments
	end := p.lsn(t, "pg_current_wal_flush_lsn()")
	commit := u.waitCommitted(t, addrs.PG.String(), end)

	dir := pgtest.OwnedDir(t)
	firstSeg := start.SegmentNumber(segSize)
	// Pre-seed the first segment so pg_receivewal starts at the timeline's
	// first segment instead of at xlogpos (replication.md §10).
	partial := filepath.Join(dir, pgwal.SegmentName(firstSeg, segSize)+pgwal.PartialSuffix)
	if err := os.WriteFile(partial, make([]byte, segSize), 0o600); err != nil {
		t.Fatal(err)
	}
	chownLike(t, partial, dir)
	endpos := commit - 1 // pg_receivewal stops after receiving WAL beyond endpos
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := pgtest.Command(ctx, t, filepath.Join(bin, "pg_receivewal"), "-d",
		walkeeperConnString(addrs.PG.String(), "pg_receivewal"), "-D", dir, "--no-loop", "--no-sync", "-w",
		"-E", endpos.String(), "-v").CombinedOutput()
	if err != nil {
		t.Fatalf("pg_receivewal: %v\n%s", err, out)
	}
	t.Logf("pg_receivewal:\n%s", out)

	lastSeg := endpos.SegmentNumber(segSize)
	for segNo := firstSeg; segNo <= lastSeg; segNo++ {
		got := readSegment(t, dir, segNo)
		want, err := os.ReadFile(filepath.Join(p.WALDir(), pgwal.SegmentName(segNo, segSize)))
		if err != nil {
			t.Fatal(err)
		}
		from, to := uint64(0), uint64(segSize)
		if segNo == firstSeg {
			from = start.SegmentOffset(segSize)
		}
		if segNo == lastSeg {
			to = commit.SegmentOffset(segSize)
			if commit.SegmentNumber(segSize) != segNo {
				to = segSize
			}
		}
		if !bytes.Equal(got[from:to], want[from:to]) {
			t.Fatalf("segment %d: bytes [%d, %d) differ from PostgreSQL's", segNo, from, to)
		}
	}

	// The synthetic prefix: a long page header PostgreSQL would accept.
	first := readSegment(t, dir, firstSeg)
	h, err := pgwal.ParseXLogLongPageHeader(first)
	if err != nil {
		t.Fatal(err)
	}
	pgh, _ := pgwal.ParseXLogLongPageHeader(mustRead(t, filepath.Join(p.WALDir(), pgwal.SegmentName(firstSeg, segSize))))
	if h.Magic != pgh.Magic || h.Info&pgwal.XLPLongHeader == 0 || h.TLI != 1 ||
		h.PageAddr != pgwal.LSN(firstSeg*segSize) || h.SysID != p.sysID || h.SegSize != segSize ||
		h.XLogBlcksz != pgwal.XLogBlockSize || h.RemLen != 0 {
		t.Fatalf("synthetic long header %+v; PostgreSQL's %+v", h, pgh)
	}

	// pg_waldump reads every record from the timeline start to endpos.
	dump := t.TempDir()
	for segNo := firstSeg; segNo <= lastSeg; segNo++ {
		if err := os.WriteFile(filepath.Join(dump, pgwal.SegmentName(segNo, segSize)), readSegment(t, dir, segNo), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	wd, err := exec.CommandContext(ctx, pgtest.Bin(t, "pg_waldump"), "-p", dump, "-s", start.String(), "-e", endpos.String(), "-z").CombinedOutput()
	if err != nil {
		t.Fatalf("pg_waldump: %v\n%s", err, wd)
	}
	if !strings.Contains(string(wd), "Heap") {
		t.Fatalf("pg_waldump summary lacks heap records:\n%s", wd)
	}
	t.Logf("pg_receivewal got %d segments from %s to %s identical to PostgreSQL's; pg_waldump:\n%s", lastSeg-firstSeg+1, start, commit, wd)
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
