package server

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/interpreted"
	"github.com/walkeeper/walkeeper/interpreted/shard"
	"github.com/walkeeper/walkeeper/pgwal"
)

var (
	encProtobufZstd = interpreted.Encoding{Format: interpreted.FormatProtobuf, Compression: interpreted.Compression{Zstd: true, Level: 1}}
	encBincode      = interpreted.Encoding{Format: interpreted.FormatBincode}
)

// interpWorkload makes WAL with inserts, updates, deletes, an index and a
// truncate: heap, btree, storage and transaction records.
const interpWorkload = `
create table t (id int primary key, v text);
insert into t select g, repeat('x', 200) from generate_series(1, 20000) g;
update t set v = 'y' where id % 7 = 0;
delete from t where id % 11 = 0;
create table u (a int);
insert into u select generate_series(1, 1000);
truncate u;
checkpoint;
insert into t select g, 'z' from generate_series(20001, 22000) g;`

// interpSetup pushes a real PostgreSQL 15 primary's WAL into walkeeper and
// returns the addresses, the primary, the timeline start and commit_lsn.
func interpSetup(t *testing.T, opts ...func(*Config)) (Addrs, *primary, *pusher, pgwal.LSN, pgwal.LSN) {
	t.Helper()
	pgtest.Require(t)
	p := startPrimary(t)
	start := p.switchWAL(t)
	cfg := Config{DataDir: t.TempDir(), ID: 1, NoSync: true, Logger: testLogger(t),
		InterpretedHeapLayout: interpreted.HeapLayoutVanilla}
	for _, o := range opts {
		o(&cfg)
	}
	addrs, _ := startRun(t, cfg)
	addr := addrs.PG.String()
	u := startPusher(t, p, addr, 1, start)
	p.Psql(t, interpWorkload)
	end := p.lsn(t, "pg_current_wal_flush_lsn()")
	commit := u.waitCommitted(t, addr, end)
	return addrs, p, u, start, commit
}

// TestInterpretedReplication streams a real primary's WAL to interpreted
// readers: protobuf+zstd and bincode, unsharded and as 4 shards. Every
// stream passes the pageserver's contiguity checks; the unsharded stream
// holds exactly pg_waldump's records; the 4 shards together hold the
// unsharded stream's blocks, with Observed values only on shard 0; a
// CopyDone is answered with CopyDone. A Flush-mode (term) stream sends the
// same records.
func TestInterpretedReplication(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	addrs, p, _, start, commit := interpSetup(t)
	addr := addrs.PG.String()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()

	stream := func(t *testing.T, enc interpreted.Encoding, s shard.Identity) (streamed, int) {
		c, err := dialInterpreted(ctx, t, addr, enc, s)
		if err != nil {
			t.Fatal(err)
		}
		if xlogpos := c.start(ctx, t, start); xlogpos < commit {
			t.Fatalf("IDENTIFY_SYSTEM xlogpos %s < commit_lsn %s", xlogpos, commit)
		}
		got := c.drain(ctx, t, start, commit)
		c.endStream(ctx, t)
		return got, c.wire
	}

	waldump := waldumpStarts(t, p, start, commit)
	var unsharded streamed
	for _, tc := range []struct {
		name string
		enc  interpreted.Encoding
	}{{"protobuf-zstd", encProtobufZstd}, {"bincode", encBincode}} {
		got, wire := stream(t, tc.enc, shard.Unsharded())
		checkWaldump(t, got.records, waldump, commit)
		t.Logf("%s: %d records in %d batches (%d empty), %d bytes on the wire for %d bytes of WAL",
			tc.name, len(got.records), got.batches, got.empty, wire, commit-start)
		if tc.enc == encProtobufZstd {
			unsharded = got
		} else if len(got.records) != len(unsharded.records) {
			t.Fatalf("bincode: %d records, protobuf %d", len(got.records), len(unsharded.records))
		}
	}

	// Flush mode (term given): decoded inline by the vanilla sender loop.
	fc, err := dialInterpreted(ctx, t, addr, encBincode, shard.Unsharded())
	if err != nil {
		t.Fatal(err)
	}
	fc.suffix = " (term='1')"
	fc.start(ctx, t, start)
	if got := fc.drain(ctx, t, start, commit); len(got.records) != len(unsharded.records) {
		t.Fatalf("Flush mode: %d records, Commit mode %d", len(got.records), len(unsharded.records))
	}
	fc.endStream(ctx, t)

	var sharded []streamed
	wire := 0
	for n := range uint8(4) {
		s, _ := shard.NewIdentity(n, 4, shard.DefaultStripeSize)
		got, w := stream(t, encProtobufZstd, s)
		wire += w
		sharded = append(sharded, got)
		// Every chunk that completes a record yields a batch for every
		// shard, with or without records.
		if got.batches != unsharded.batches {
			t.Fatalf("shard %s: %d batches, unsharded %d", s, got.batches, unsharded.batches)
		}
		t.Logf("shard %s: %d records in %d batches", s, len(got.records), got.batches)
	}
	blocks := checkUnion(t, unsharded, sharded)
	t.Logf("4 shards: %d blocks, %d bytes on the wire for %d bytes of WAL", blocks, wire, commit-start)
}

// checkUnion checks that the shards' streams together hold the unsharded
// stream's blocks, each once, and that only shard 0 has Observed values.
func checkUnion(t *testing.T, unsharded streamed, sharded []streamed) int {
	t.Helper()
	union := map[blockKey]int{}
	for n, got := range sharded {
		for _, r := range got.records {
			for _, m := range r.Batch.Metadata {
				if m.Kind == interpreted.Observed {
					if n != 0 {
						t.Fatalf("shard %d has an Observed value for %v", n, m.Key)
					}
					continue
				}
				union[blockKey{m.Key, m.LSN}]++
			}
		}
	}
	want := map[blockKey]int{}
	for _, r := range unsharded.records {
		for _, m := range r.Batch.Metadata {
			if m.Kind == interpreted.Observed {
				t.Fatalf("unsharded stream has an Observed value for %v", m.Key)
			}
			want[blockKey{m.Key, m.LSN}]++
		}
	}
	if len(union) != len(want) {
		t.Fatalf("%d shards hold %d blocks, unsharded %d", len(sharded), len(union), len(want))
	}
	for k, n := range want {
		if union[k] != n {
			t.Fatalf("block %v at %s: %d times over the shards, %d unsharded", k.key, k.lsn, union[k], n)
		}
	}
	return len(want)
}

type blockKey struct {
	key shard.CompactKey
	lsn pgwal.LSN
}

// checkWaldump checks that the records' LSNs are pg_waldump's: record i
// ends where pg_waldump's record i+1 starts (or on the page boundary just
// before it), the last at commit.
func checkWaldump(t *testing.T, recs []interpreted.Record, waldump []pgwal.LSN, commit pgwal.LSN) {
	t.Helper()
	if len(recs) != len(waldump) {
		t.Fatalf("%d records, pg_waldump lists %d", len(recs), len(waldump))
	}
	for i, r := range recs {
		want := commit
		if i+1 < len(waldump) {
			want = waldump[i+1]
		}
		// next_record_lsn is the aligned end: a record ending on a page
		// boundary gives the boundary, before the next page's header.
		if r.NextRecordLSN%pgwal.XLogBlockSize == 0 {
			want -= pgwal.LSN(want.PageOffset())
		}
		if r.NextRecordLSN != want {
			t.Fatalf("record %d (pg_waldump %s): next_record_lsn %s, want %s", i, waldump[i], r.NextRecordLSN, want)
		}
	}
}

// TestInterpretedStopRule: with no compute connected, a pageserver that
// reports remote_consistent_lsn ≥ commit_lsn is sent the 00000 "ending
// streaming" error at the next idle keepalive tick, after keepalives that
// carry commit_lsn.
func TestInterpretedStopRule(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	addrs, _, u, start, _ := interpSetup(t)
	addr := addrs.PG.String()
	commit := u.stopFinal(t, addrs)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := dialInterpreted(ctx, t, addr, encProtobufZstd, shard.Unsharded())
	if err != nil {
		t.Fatal(err)
	}
	c.start(ctx, t, start)
	c.drain(ctx, t, start, commit)
	msg, err := c.next(ctx)
	if err != nil || msg.tag != 'k' || msg.end != commit {
		t.Fatalf("want a keepalive at %s after 1 s idle, got %+v, %v", commit, msg, err)
	}
	if err := c.sendFeedback(commit); err != nil {
		t.Fatal(err)
	}
	for {
		msg, err = c.next(ctx)
		if err != nil {
			break
		}
		if msg.tag != 'k' {
			t.Fatalf("unexpected %q after catching up", msg.tag)
		}
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "00000" || !strings.Contains(pgErr.Message, "ending streaming") {
		t.Fatalf("want 00000 ending streaming, got %v", err)
	}
}

// TestInterpretedNegotiation: the startup options are checked before any
// command (stripe size 0 with several shards, a bad format).
func TestInterpretedNegotiation(t *testing.T) {
	addrs, _ := startRun(t, Config{DataDir: t.TempDir(), ID: 1, NoSync: true, Logger: testLogger(t)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := dialInterpreted(ctx, t, addrs.PG.String(), encProtobufZstd, shard.Identity{Number: 1, Count: 4}); err == nil {
		t.Fatal("stripe size 0 with 4 shards accepted")
	}
	bad := `{"type":"interpreted","args":{"format":"json","compression":null}}`
	if _, err := dialProtocol(ctx, t, addrs.PG.String(), bad, encBincode, shard.Unsharded()); err == nil {
		t.Fatal("unknown format accepted")
	}
}

// TestInterpretedReaderError: with the Neon heap layout on upstream
// PostgreSQL WAL the reader fails on the first DELETE; the stream ends with
// XX000 and the generic "Interpreted WAL reader exited early" (§10).
func TestInterpretedReaderError(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	addrs, _, _, start, _ := interpSetup(t, func(c *Config) { c.InterpretedHeapLayout = interpreted.HeapLayoutNeon })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := dialInterpreted(ctx, t, addrs.PG.String(), encBincode, shard.Unsharded())
	if err != nil {
		t.Fatal(err)
	}
	c.start(ctx, t, start)
	for {
		msg, err := c.next(ctx)
		if err == nil {
			if msg.tag != '0' {
				t.Fatalf("keepalive before the reader failed: the workload has no DELETE decoded?")
			}
			continue
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "XX000" || pgErr.Message != "Interpreted WAL reader exited early" {
			t.Fatalf("want XX000 Interpreted WAL reader exited early, got %v", err)
		}
		return
	}
}
