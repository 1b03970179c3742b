package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/pgwal"
)

// fanoutReaders is how many readers TestReplicationConcurrentReaders
// attaches to one timeline.
const fanoutReaders = 30

// TestReplicationConcurrentReaders attaches 30 commit-mode readers to one
// timeline while a proposer pushes a primary's WAL: every reader receives
// the same bytes, equal to PostgreSQL's, and none ever gets past wal_end.
func TestReplicationConcurrentReaders(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	p := startPrimary(t)
	p.Psql(t, "create table t (id int, v text)")
	start := p.switchWAL(t)
	addrs, _ := startRun(t, Config{DataDir: t.TempDir(), ID: 1, NoSync: true, Logger: testLogger(t)})
	addr := addrs.PG.String()
	u := startPusher(t, p, addr, 1, start)
	// A reader's stream fails until the timeline has WAL (replication.md
	// §3.6, "state uninitialized"), so let the first record land first.
	p.Psql(t, "insert into t values (0, 'first')")
	u.waitFlushed(t, p.lsn(t, "pg_current_wal_flush_lsn()"))
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Second)
	defer cancel()

	var target atomic.Uint64 // where the readers stop; 0 while the load runs
	sums := make([][]byte, fanoutReaders)
	errs := make(chan error, fanoutReaders)
	var wg sync.WaitGroup
	for i := range fanoutReaders {
		r := dialReader(ctx, t, addr, fmt.Sprintf("reader-%d", i))
		if err := startStream(ctx, r.c, fmt.Sprintf("START_REPLICATION PHYSICAL %s", start)); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := sha256.New()
			err := readHashed(ctx, r, start, &target, h)
			sums[i] = h.Sum(nil)
			errs <- err
		}()
	}
	for i := range 6 {
		p.Psql(t, fmt.Sprintf("insert into t select g, repeat('%d', 200) from generate_series(1, 5000) g", i))
		time.Sleep(100 * time.Millisecond)
	}
	u.waitCommitted(t, addr, p.lsn(t, "pg_current_wal_flush_lsn()"))
	// With the push session ended commit_lsn is final, and no reader can
	// be past it.
	end := u.stopFinal(t, addrs)
	target.Store(uint64(end))
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	// PostgreSQL's own bytes of [start, end).
	want := sha256.New()
	for pos := start; pos < end; {
		seg := mustRead(t, filepath.Join(p.WALDir(), pgwal.SegmentName(pos.SegmentNumber(segSize), segSize)))
		to := min(end-pos, pgwal.LSN(segSize-pos.SegmentOffset(segSize)))
		off := pos.SegmentOffset(segSize)
		want.Write(seg[off : off+uint64(to)])
		pos += to
	}
	for i, s := range sums {
		if !bytes.Equal(s, want.Sum(nil)) {
			t.Fatalf("reader %d received different bytes than PostgreSQL wrote", i)
		}
	}
	t.Logf("%d readers received the same %d bytes [%s, %s) as PostgreSQL wrote", fanoutReaders, end-start, start, end)
}

// readHashed hashes the stream from pos up to the target once it is set,
// checking that no XLogData reaches past its wal_end.
func readHashed(ctx context.Context, r *reader, pos pgwal.LSN, target *atomic.Uint64, h hash.Hash) error {
	for {
		if tg := pgwal.LSN(target.Load()); tg != 0 && pos >= tg {
			return nil
		}
		m, err := r.next(ctx)
		if err != nil {
			return fmt.Errorf("reader at %s: %w", pos, err)
		}
		if m.tag != 'w' {
			continue
		}
		end := m.walStart + pgwal.LSN(len(m.data))
		if m.walStart != pos || end > m.walEnd {
			return fmt.Errorf("XLogData [%s, %s) wal_end %s at position %s", m.walStart, end, m.walEnd, pos)
		}
		if tg := pgwal.LSN(target.Load()); tg != 0 && end > tg {
			return fmt.Errorf("XLogData [%s, %s) beyond the final commit_lsn %s", m.walStart, end, tg)
		}
		h.Write(m.data)
		pos = end
	}
}
