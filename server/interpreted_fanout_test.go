package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/internal/e2e"
	"github.com/walkeeper/walkeeper/interpreted/shard"
	"github.com/walkeeper/walkeeper/replication"
)

// TestInterpretedFanout runs 4 shards of a tenant with --wal-reader-fanout:
// one shared reader serves them all (started once), each stream passes the
// pageserver's checks and holds exactly what a private reader sends that
// shard; a fifth stream attaching at the timeline start while the others
// are caught up resets the shared reader, gets its whole stream, and the
// others receive nothing twice (only keepalives). Together the shards hold
// the blocks an unsharded client (private reader) gets.
func TestInterpretedFanout(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	var logs e2e.SyncBuffer
	addrs, _, _, start, commit := interpSetup(t, func(c *Config) {
		c.WALReaderFanout = true
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	addr := addrs.PG.String()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()

	shards := make([]shard.Identity, 4)
	clients := make([]*interpClient, 4)
	for n := range shards {
		shards[n], _ = shard.NewIdentity(uint8(n), 4, shard.DefaultStripeSize)
		c, err := dialInterpreted(ctx, t, addr, encProtobufZstd, shards[n])
		if err != nil {
			t.Fatal(err)
		}
		c.start(ctx, t, start)
		clients[n] = c
	}
	got := make([]streamed, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for n, c := range clients {
		wg.Go(func() { got[n], errs[n] = c.drainChecked(ctx, start, commit) })
	}
	wg.Wait()
	for n, err := range errs {
		if err != nil {
			t.Fatalf("shard %s: %v", shards[n], err)
		}
	}
	if k := strings.Count(logs.String(), "starting shared interpreted WAL reader"); k != 1 {
		t.Fatalf("%d shared readers started for 4 shards, want 1", k)
	}
	checkInterpretedSlots(t, addrs, shards)
	// One reader task, counted once however many shards it serves.
	_, body := apiGet(t, "GET", "http://"+addrs.HTTP.String()+"/metrics")
	labels := `{tenant_id="` + replTTID.Tenant.String() + `",timeline_id="` + replTTID.Timeline.String() + `"}`
	for series, want := range map[string]float64{
		"safekeeper_interpreted_wal_reader_tasks" + labels:        1,
		`safekeeper_wal_readers{kind="task",target="pageserver"}`: 1,
	} {
		if got := metricValue(t, string(body), series); got != want {
			t.Errorf("%s = %v with 4 shards on one reader task, want %v", series, got, want)
		}
	}

	// A late shard 2 at the timeline start: the reader resets.
	late, err := dialInterpreted(ctx, t, addr, encProtobufZstd, shards[2])
	if err != nil {
		t.Fatal(err)
	}
	late.start(ctx, t, start)
	again := late.drain(ctx, t, start, commit)
	if !reflect.DeepEqual(recordLSNs(again), recordLSNs(got[2])) {
		t.Fatalf("late shard 2: %d records, first pass %d", len(again.records), len(got[2].records))
	}
	if k := strings.Count(logs.String(), "starting shared interpreted WAL reader"); k != 1 {
		t.Fatalf("the late shard started a reader of its own (%d)", k)
	}
	for n, c := range clients {
		msg, err := c.next(ctx)
		if err != nil || msg.tag != 'k' {
			t.Fatalf("shard %s after the reset: want a keepalive only, got %q %+v, %v", shards[n], msg.tag, msg.m, err)
		}
	}

	// Together the shards hold what an unsharded (private) reader sends.
	c, err := dialInterpreted(ctx, t, addr, encProtobufZstd, shard.Unsharded())
	if err != nil {
		t.Fatal(err)
	}
	c.start(ctx, t, start)
	checkUnion(t, c.drain(ctx, t, start, commit), got)
	t.Logf("4 shards through one reader: %d, %d, %d, %d records", len(got[0].records), len(got[1].records),
		len(got[2].records), len(got[3].records))
}

func recordLSNs(s streamed) []uint64 {
	out := make([]uint64, len(s.records))
	for i, r := range s.records {
		out[i] = uint64(r.NextRecordLSN)
	}
	return out
}

// checkInterpretedSlots checks that the timeline's walsenders (HTTP API)
// are one Interpreted slot per shard.
func checkInterpretedSlots(t *testing.T, addrs Addrs, shards []shard.Identity) {
	t.Helper()
	status, body := apiGet(t, "GET", fmt.Sprintf("http://%s/v1/tenant/%s/timeline/%s", addrs.HTTP, replTTID.Tenant, replTTID.Timeline))
	if status != 200 {
		t.Fatalf("timeline status %d: %s", status, body)
	}
	// Neon's externally tagged form: {"Interpreted": {"shard": {...}, ...}}.
	var st struct {
		Walsenders []map[string]struct {
			Shard *replication.ShardIdentity `json:"shard"`
		} `json:"walsenders"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	var got []shard.Identity
	for _, w := range st.Walsenders {
		v, ok := w[replication.KindInterpreted.String()]
		if !ok || v.Shard == nil {
			t.Fatalf("walsender %v is not Interpreted with a shard: %s", w, body)
		}
		got = append(got, shard.Identity{Number: v.Shard.Number, Count: v.Shard.Count, StripeSize: v.Shard.StripeSize})
	}
	slices.SortFunc(got, func(a, b shard.Identity) int { return int(a.Number) - int(b.Number) })
	if !reflect.DeepEqual(got, shards) {
		t.Fatalf("walsenders %v, want %v\n%s", got, shards, body)
	}
}
