package replication

import (
	"context"
	"log/slog"
	"testing"

	"github.com/walkeeper/walkeeper/internal/watch"
	"github.com/walkeeper/walkeeper/interpreted"
	"github.com/walkeeper/walkeeper/interpreted/shard"
	"github.com/walkeeper/walkeeper/pgwal"
)

// TestReaderHubAttach checks which reader a stream joins (§6.12 step 1):
// any live reader of the timeline, or with a max delta only one whose
// position is close enough to the stream's start; the last release stops a
// reader and forgets it.
func TestReaderHubAttach(t *testing.T) {
	const base = pgwal.LSN(0x1000028)
	for _, tc := range []struct {
		name     string
		maxDelta uint64
		starts   []pgwal.LSN
		readers  int
	}{
		{"any distance", 0, []pgwal.LSN{base, base + 8<<20, base + 100}, 1},
		{"max delta 64 KiB", 64 << 10, []pgwal.LSN{base, base + 8<<20, base + 100, base + 8<<20 - 1000}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			hub := NewReaderHub(tc.maxDelta)
			key := NewWalSenders(RegistryOptions{})
			var releases []func()
			var readers []*sharedReader
			for i, start := range tc.starts {
				cfg := sharedReaderConfig{ctx: ctx, commit: watch.New(pgwal.LSN(0)), segSize: pgwal.DefaultSegmentSize,
					open:   func(pgwal.LSN) (WALReader, error) { return newFakeWAL(t, base, 0, pgwal.DefaultSegmentSize), nil },
					interp: interpreted.Config{PGVersion: 15}, start: start, logger: slog.New(slog.DiscardHandler)}
				s, _ := shard.NewIdentity(uint8(i%4), 4, shard.DefaultStripeSize)
				r, _, release := hub.attach(key, cfg, s)
				releases = append(releases, release)
				readers = append(readers, r)
			}
			if got := hub.Started(); got != tc.readers {
				t.Fatalf("%d readers started, want %d", got, tc.readers)
			}
			for _, release := range releases {
				release()
			}
			for _, r := range readers {
				<-r.done // the last release stops the task
			}
			hub.mu.Lock()
			defer hub.mu.Unlock()
			if len(hub.readers) != 0 {
				t.Fatalf("hub still holds %d timelines", len(hub.readers))
			}
		})
	}
}
