package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
)

// Whole-system replication benchmarks (`make bench-replication`). They are
// tests gated by WALKEEPER_BENCH=1 because they start PostgreSQL and move
// up to a GiB of WAL; each prints its medians and the ratio against a
// baseline measured in the same run.
//
//	WALKEEPER_BENCH_ROUNDS      rounds per measurement (default 5)
//	WALKEEPER_BENCH_INGEST_MB   WAL pushed per ingest round (default 64)
//	WALKEEPER_BENCH_RECEIVE_MB  WAL pg_receivewal drains (default 1024)

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
func generateWAL(t *testing.T, p *primary, mb int) (start, end pgwal.LSN) {
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
func readWAL(t *testing.T, p *primary, start, end pgwal.LSN) []byte {
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
// commit-mode readers attached (streaming, or stalled clients that never
// read), against ingest with none, alternating rounds in one run. Ingest time runs from the first AppendRequest until
// walkeeper reports everything flushed.
func TestBenchReplicationIngest(t *testing.T) {
	mb := benchEnv(t, "WALKEEPER_BENCH_INGEST_MB", 64)
	rounds := benchEnv(t, "WALKEEPER_BENCH_ROUNDS", 5)
	p := startPrimary(t)
	start, end := generateWAL(t, p, mb)
	wal := readWAL(t, p, start, end)
	var alone, with, stalled []time.Duration
	for range rounds {
		alone = append(alone, ingestRound(t, p, wal, start, 0, false))
		with = append(with, ingestRound(t, p, wal, start, fanoutReaders, false))
		stalled = append(stalled, ingestRound(t, p, wal, start, fanoutReaders, true))
	}
	ma, mw, ms := median(alone), median(with), median(stalled)
	mbs := func(d time.Duration) float64 { return float64(len(wal)) / (1 << 20) / d.Seconds() }
	fmt.Printf("ingest %d MiB, %d rounds: alone median %v (%.0f MiB/s); with %d streaming readers median %v (%.0f MiB/s), ratio %.2f (goal >= 0.8); "+
		"with %d stalled readers median %v (%.0f MiB/s), ratio %.2f\n",
		len(wal)>>20, rounds, ma, mbs(ma), fanoutReaders, mw, mbs(mw), ma.Seconds()/mw.Seconds(),
		fanoutReaders, ms, mbs(ms), ma.Seconds()/ms.Seconds())
}

// ingestRound pushes wal into a fresh walkeeper with readers attached from
// the start; stalled readers never read (their sockets fill up), the
// others stream everything.
func ingestRound(t *testing.T, p *primary, wal []byte, start pgwal.LSN, readers int, stalled bool) time.Duration {
	t.Helper()
	end := start + pgwal.LSN(len(wal))
	addrs, stop := startRun(t, Config{DataDir: t.TempDir(), ID: 1, Logger: testLogger(t)})
	defer stop()
	addr := addrs.PG.String()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	prop, _ := dialProposer(ctx, t, addr, p.pgVersion, p.sysID, 1)
	defer prop.Close()
	if err := prop.Elect(start, walproto.TermHistory{{Term: 1, LSN: start}}); err != nil {
		t.Fatal(err)
	}
	// A heartbeat's reply tells the election has been processed, so the
	// readers find the timeline's start.
	if err := prop.Append(start, nil, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := prop.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range readers {
		r := dialReader(ctx, t, addr, fmt.Sprintf("bench-%d", i))
		if err := startStream(ctx, r.c, fmt.Sprintf("START_REPLICATION PHYSICAL %s", start)); err != nil {
			t.Fatal(err)
		}
		if stalled {
			defer r.c.Close(context.Background())
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pos := start; pos < end; {
				m, err := r.next(ctx)
				if err != nil {
					t.Errorf("reader %d at %s: %v", i, pos, err)
					return
				}
				if m.tag == 'w' {
					pos = m.walStart + pgwal.LSN(len(m.data))
				}
			}
		}()
	}
	flushed := make(chan pgwal.LSN, 1024)
	go func() {
		defer close(flushed)
		for {
			m, err := prop.Receive(ctx)
			if err != nil {
				return
			}
			if ar, ok := m.(walproto.AppendResponse); ok {
				flushed <- ar.FlushLSN
			}
		}
	}()
	began := time.Now()
	var commit pgwal.LSN
	for pos := start; pos < end; {
		for drained := false; !drained; {
			select {
			case f := <-flushed:
				commit = max(commit, f)
			default:
				drained = true
			}
		}
		n := min(pgwal.LSN(walproto.MaxWALPerAppend), end-pos)
		if err := prop.Append(pos, wal[pos-start:pos-start+n], commit, 0); err != nil {
			t.Fatal(err)
		}
		pos += n
	}
	for commit < end {
		f, ok := <-flushed
		if !ok {
			t.Fatal("proposer connection ended")
		}
		commit = max(commit, f)
	}
	took := time.Since(began)
	// Let the readers finish: commit everything.
	if err := prop.Append(end, nil, end, 0); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	return took
}

// TestBenchReplicationReceiveWAL: pg_receivewal draining the same WAL
// (default 1 GiB) from walkeeper and from PostgreSQL's own walsender.
func TestBenchReplicationReceiveWAL(t *testing.T) {
	mb := benchEnv(t, "WALKEEPER_BENCH_RECEIVE_MB", 1024)
	rounds := benchEnv(t, "WALKEEPER_BENCH_ROUNDS", 3)
	bin := pgtest.Require(t)
	p := startPrimary(t, "wal_keep_size = 8GB", "max_wal_size = 8GB", "checkpoint_timeout = 1h")
	p.Psql(t, "create table if not exists b (id int, v text)")
	start := p.switchWAL(t)
	addrs, _ := startRun(t, Config{DataDir: t.TempDir(), ID: 1, Logger: testLogger(t)})
	addr := addrs.PG.String()
	u := startPusher(t, p, addr, 1, start)
	_, _ = generateWALFrom(t, p, start, mb)
	end := p.lsn(t, "pg_current_wal_flush_lsn()")
	end -= pgwal.LSN(end.SegmentOffset(segSize))
	commit := u.waitCommitted(t, addr, end)
	u.stop()
	endpos := commit - 1

	receive := func(conn string) time.Duration {
		dir := pgtest.OwnedDir(t)
		defer os.RemoveAll(dir)
		partial := filepath.Join(dir, pgwal.SegmentName(start.SegmentNumber(segSize), segSize)+pgwal.PartialSuffix)
		if err := os.WriteFile(partial, make([]byte, segSize), 0o600); err != nil {
			t.Fatal(err)
		}
		chownLike(t, partial, dir)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
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
	wkConn := walkeeperConnString(addr, "pg_receivewal")
	var fromPG, fromWK []time.Duration
	for range rounds {
		fromPG = append(fromPG, receive(pgConn))
		fromWK = append(fromWK, receive(wkConn))
	}
	mp, mw := median(fromPG), median(fromWK)
	size := float64(endpos-start) / (1 << 20)
	fmt.Printf("pg_receivewal %.0f MiB, %d rounds: from PostgreSQL median %v (%.0f MiB/s), from walkeeper median %v (%.0f MiB/s); ratio %.2f (goal >= 1.0)\n",
		size, rounds, mp, size/mp.Seconds(), mw, size/mw.Seconds(), mp.Seconds()/mw.Seconds())
}

// generateWALFrom makes the primary write mb MiB of WAL past start.
func generateWALFrom(t *testing.T, p *primary, start pgwal.LSN, mb int) (pgwal.LSN, pgwal.LSN) {
	t.Helper()
	for p.lsn(t, "pg_current_wal_insert_lsn()")-start < pgwal.LSN(mb)<<20 {
		p.Psql(t, "insert into b select g, repeat(md5(g::text), 30) from generate_series(1, 50000) g")
	}
	p.Psql(t, "select pg_switch_wal()")
	return start, p.lsn(t, "pg_current_wal_flush_lsn()")
}
