package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/pgwal"
)

// Whole-system replication benchmarks (`make bench-replication`). They are
// tests gated by WALKEEPER_BENCH=1 because they start PostgreSQL and move
// up to a GiB of WAL; each prints its medians and the ratio against a
// baseline measured in the same run.
//
//	WALKEEPER_BENCH_ROUNDS      rounds per measurement (default 5)
//	WALKEEPER_BENCH_INGEST_MB   WAL pushed per ingest round (default 64)
//	WALKEEPER_BENCH_RECEIVE_MB  WAL pg_receivewal drains (default 1024)
//	WALKEEPER_BENCH_COPY=0      skip the ingest variants with zero-copy sends off

func benchEnv(t *testing.T, name string, def int) int {
	t.Helper()
	if os.Getenv("WALKEEPER_BENCH") != "1" {
		t.Skip("set WALKEEPER_BENCH=1 (make bench-replication)")
	}
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// generateWAL makes the primary write at least mb MiB of WAL after a WAL
// switch and ends it with another switch. It returns [start, end): start
// is the first record of a segment, end a segment boundary.
func generateWAL(t testing.TB, p *primary, mb int) (start, end pgwal.LSN) {
	t.Helper()
	p.Psql(t, "create table if not exists b (id int, v text)")
	start = p.switchWAL(t)
	for p.lsn(t, "pg_current_wal_insert_lsn()")-start < pgwal.LSN(mb)<<20 {
		p.Psql(t, "insert into b select g, repeat(md5(g::text), 30) from generate_series(1, 50000) g")
	}
	p.Psql(t, "select pg_switch_wal()")
	end = p.lsn(t, "pg_current_wal_flush_lsn()")
	end -= pgwal.LSN(end.SegmentOffset(segSize)) // the switch pads to here
	return start, end
}

// readWAL returns the primary's WAL bytes [start, end).
func readWAL(t testing.TB, p *primary, start, end pgwal.LSN) []byte {
	t.Helper()
	out := make([]byte, 0, end-start)
	for pos := start; pos < end; {
		seg := mustRead(t, filepath.Join(p.WALDir(), pgwal.SegmentName(pos.SegmentNumber(segSize), segSize)))
		off := pos.SegmentOffset(segSize)
		n := min(uint64(end-pos), segSize-off)
		out = append(out, seg[off:off+n]...)
		pos += pgwal.LSN(n)
	}
	return out
}

// TestBenchReplicationIngest: how fast walkeeper ingests WAL with 30
// commit-mode readers attached, against ingest with none, in alternating
// rounds of one run. Ingest time runs from the first AppendRequest until
// walkeeper reports everything flushed; streaming readers then finish
// draining, and each must have received exactly the pushed bytes.
//
// The readers run in this process (as goroutines beside walkeeper), in a
// helper process (standing in for pageservers on other machines, but still
// on this machine's cores), the same under nice -n 19 (the readers' CPU
// comes after walkeeper's), or are stalled clients that never read. The
// streaming variants run with zero-copy sends on, and unless
// WALKEEPER_BENCH_COPY=0 also with them off (Config.ReplicationSendfile).
// Senders yield to ingest (Config.ReplicationYieldMax, default 200 ms)
// except in the one variant marked "no yield".
func TestBenchReplicationIngest(t *testing.T) {
	mb := benchEnv(t, "WALKEEPER_BENCH_INGEST_MB", 64)
	rounds := benchEnv(t, "WALKEEPER_BENCH_ROUNDS", 5)
	p := startPrimary(t)
	start, end := generateWAL(t, p, mb)
	wal := readWAL(t, p, start, end)
	walFile := filepath.Join(t.TempDir(), "wal")
	if err := os.WriteFile(walFile, wal, 0o600); err != nil {
		t.Fatal(err)
	}
	variants := []ingestVariant{{name: "alone"}}
	copies := []bool{false}
	if os.Getenv("WALKEEPER_BENCH_COPY") != "0" {
		copies = append(copies, true)
	}
	for _, copyWAL := range copies {
		for _, where := range []readersWhere{inProcess, otherProcess, otherProcessNice} {
			variants = append(variants, ingestVariant{name: where.String(), readers: fanoutReaders, where: where, copyWAL: copyWAL})
		}
	}
	// The same as the best of them, with senders that do not yield to
	// ingest (--replication-yield-max=0), to show what yielding is worth.
	variants = append(variants,
		ingestVariant{name: otherProcessNice.String(), readers: fanoutReaders, where: otherProcessNice, noYield: true},
		ingestVariant{name: "stalled, in process", readers: fanoutReaders, stalled: true})
	results := make([][]ingestResult, len(variants))
	for r := range rounds {
		for i := range variants { // a different variant first in each round
			v := (i + r) % len(variants)
			results[v] = append(results[v], ingestRound(t, p, wal, walFile, start, variants[v]))
		}
	}
	fmt.Printf("ingest %d MiB, %d rounds, %d readers; ratio = alone ÷ variant per round (goal >= 0.8 with streaming readers):\n",
		len(wal)>>20, rounds, fanoutReaders)
	for i, v := range variants {
		fmt.Println(v.summary(results[i], results[0], len(wal)))
	}
}

// readersWhere is where a variant's streaming readers run.
type readersWhere int

const (
	inProcess        readersWhere = iota // goroutines beside walkeeper
	otherProcess                         // a helper process
	otherProcessNice                     // a helper process under nice -n 19
)

func (w readersWhere) String() string {
	return [...]string{"in process", "other process", "other process, nice 19"}[w]
}

// ingestVariant is one kind of round.
type ingestVariant struct {
	name    string
	readers int
	where   readersWhere
	stalled bool
	copyWAL bool // zero-copy sends off
	noYield bool // senders do not yield to ingest
}

// ingestResult is one round: the ingest time, and CPU time from the first
// AppendRequest until every reader is done, of this process (walkeeper,
// the proposer, in-process readers) and of a reader process.
type ingestResult struct {
	ingest, selfCPU, readerCPU time.Duration
}

// summary prints the variant's medians and, against the alone rounds of
// the same index, the median and range of the ratio.
func (v ingestVariant) summary(rs, aloneRs []ingestResult, size int) string {
	var ingest, self, reader, alone []time.Duration
	for _, r := range aloneRs {
		alone = append(alone, r.ingest)
	}
	var ratios []float64
	for i, r := range rs {
		ingest, self, reader = append(ingest, r.ingest), append(self, r.selfCPU), append(reader, r.readerCPU)
		ratios = append(ratios, alone[i].Seconds()/r.ingest.Seconds())
	}
	slices.Sort(ratios)
	mi := median(ingest)
	name := v.name
	switch {
	case v.readers > 0 && !v.stalled && v.copyWAL:
		name += ", copy"
	case v.readers > 0 && !v.stalled:
		name += ", sendfile"
	}
	if v.noYield {
		name += ", no yield"
	}
	line := fmt.Sprintf("  %-32s ingest median %6v (%4.0f MiB/s)", name, mi.Round(time.Millisecond), float64(size)/(1<<20)/mi.Seconds())
	if v.readers > 0 {
		line += fmt.Sprintf("  ratio median %.2f [%.2f–%.2f], of medians %.2f", ratios[len(ratios)/2], ratios[0], ratios[len(ratios)-1],
			median(alone).Seconds()/mi.Seconds())
	}
	line += fmt.Sprintf("  CPU of walkeeper's process %v", median(self).Round(10*time.Millisecond))
	if v.where != inProcess {
		line += fmt.Sprintf(", of the reader process %v", median(reader).Round(10*time.Millisecond))
	}
	return line
}

// ingestRound pushes wal into a fresh walkeeper with v's readers attached
// from the start.
func ingestRound(t *testing.T, p *primary, wal []byte, walFile string, start pgwal.LSN, v ingestVariant) ingestResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	addr, prop, stop := replServer(ctx, t, p, start, replOpts{copyWAL: v.copyWAL, noYield: v.noYield})
	defer stop()
	defer prop.Close()
	var (
		waitIn func() error
		proc   *readerProcess
	)
	switch {
	case v.readers == 0:
	case v.stalled: // their sockets fill up
		for i := range v.readers {
			r := dialReader(ctx, t, addr, fmt.Sprintf("bench-%d", i))
			if err := startStream(ctx, r.c, fmt.Sprintf("START_REPLICATION PHYSICAL %s", start)); err != nil {
				t.Fatal(err)
			}
			defer r.c.Close(context.Background())
		}
	case v.where == inProcess:
		waitIn = startReaders(ctx, t, addr, start, wal, v.readers)
	default:
		proc = startReaderProcess(t, addr, start, walFile, v.readers, 1, v.where == otherProcessNice)
	}
	cpu0 := selfCPU(t)
	res := ingestResult{ingest: pushWAL(ctx, t, prop, wal, start)}
	if waitIn != nil {
		if err := waitIn(); err != nil {
			t.Fatal(err)
		}
	}
	if proc != nil {
		var err error
		if res.readerCPU, err = proc.wait(); err != nil {
			t.Fatal(err)
		}
	}
	res.selfCPU = selfCPU(t) - cpu0
	return res
}

// TestBenchReplicationReceiveWAL: pg_receivewal draining the same WAL
// (default 1 GiB) from PostgreSQL's own walsender and from two walkeepers
// holding it, one with zero-copy sends forced on and one with them off
// (what the default, auto, does for a client on loopback as here), in
// alternating rounds.
func TestBenchReplicationReceiveWAL(t *testing.T) {
	mb := benchEnv(t, "WALKEEPER_BENCH_RECEIVE_MB", 1024)
	rounds := benchEnv(t, "WALKEEPER_BENCH_ROUNDS", 3)
	bin := pgtest.Require(t)
	p := startPrimary(t, "wal_keep_size = 8GB", "max_wal_size = 8GB", "checkpoint_timeout = 1h")
	start, end := generateWAL(t, p, mb)
	wal := readWAL(t, p, start, end)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	wkAddr := map[bool]string{}
	for _, copyWAL := range []bool{false, true} {
		addr, prop, _ := replServer(ctx, t, p, start, replOpts{copyWAL: copyWAL})
		pushWAL(ctx, t, prop, wal, start)
		pgtest.WaitFor(t, 30*time.Second, "commit_lsn "+end.String(), func() bool { return commitLSN(ctx, t, addr) >= end })
		prop.Close()
		wkAddr[copyWAL] = addr
	}
	wal = nil
	endpos := end - 1

	receive := func(conn string) time.Duration {
		dir := pgtest.OwnedDir(t)
		defer os.RemoveAll(dir)
		partial := filepath.Join(dir, pgwal.SegmentName(start.SegmentNumber(segSize), segSize)+pgwal.PartialSuffix)
		if err := os.WriteFile(partial, make([]byte, segSize), 0o600); err != nil {
			t.Fatal(err)
		}
		chownLike(t, partial, dir)
		ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		began := time.Now()
		out, err := pgtest.Command(ctx, t, filepath.Join(bin, "pg_receivewal"), "-d", conn, "-D", dir,
			"--no-loop", "--no-sync", "-w", "-E", endpos.String()).CombinedOutput()
		if err != nil {
			t.Fatalf("pg_receivewal %s: %v\n%s", conn, err, out)
		}
		return time.Since(began)
	}
	pgConn := fmt.Sprintf("host=127.0.0.1 port=%d user=postgres", p.Port)
	var fromPG, fromSF, fromCopy []time.Duration
	for range rounds {
		fromPG = append(fromPG, receive(pgConn))
		fromSF = append(fromSF, receive(walkeeperConnString(wkAddr[false], "pg_receivewal")))
		fromCopy = append(fromCopy, receive(walkeeperConnString(wkAddr[true], "pg_receivewal")))
	}
	size := float64(endpos-start) / (1 << 20)
	mp := median(fromPG)
	fmt.Printf("pg_receivewal %.0f MiB, %d rounds: from PostgreSQL median %v (%.0f MiB/s)\n", size, rounds, mp, size/mp.Seconds())
	for _, v := range []struct {
		name string
		d    []time.Duration
	}{{"walkeeper, sendfile on", fromSF}, {"walkeeper, copy (default here)", fromCopy}} {
		var ratios []float64
		for i := range v.d {
			ratios = append(ratios, fromPG[i].Seconds()/v.d[i].Seconds())
		}
		slices.Sort(ratios)
		mw := median(v.d)
		fmt.Printf("  from %-31s median %v (%.0f MiB/s); ratio PostgreSQL ÷ walkeeper median %.2f [%.2f–%.2f] (goal >= 1.0)\n",
			v.name, mw, size/mw.Seconds(), ratios[len(ratios)/2], ratios[0], ratios[len(ratios)-1])
	}
}
