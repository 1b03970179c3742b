package timeline

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/pgwal"
)

type countInc struct{ n atomic.Int64 }

func (c *countInc) Inc() { c.n.Add(1) }

// persistedCommit reads the commit_lsn in the file on disk.
func persistedCommit(t *testing.T, tl *Timeline) pgwal.LSN {
	t.Helper()
	st, err := controlfile.Load(tl.Dir)
	if err != nil {
		t.Fatal(err)
	}
	return st.CommitLSN
}

func setCommit(tl *Timeline, l pgwal.LSN) {
	tl.Lock()
	tl.Control().SetCommitLSN(l)
	tl.Unlock()
}

func TestManagerSavesControlFile(t *testing.T) {
	t.Parallel()
	const seg = 16 << 20
	tests := []struct {
		name     string
		interval time.Duration
		commit   pgwal.LSN
		saved    bool
	}{
		{"interval elapsed", 150 * time.Millisecond, 100, true},
		{"a segment ahead", time.Hour, seg, true},
		{"less than a segment, interval not elapsed", time.Hour, seg - 8, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			iters := &countInc{}
			r := NewRegistry(Config{DataDir: t.TempDir(), NoSync: true,
				Manager: &ManagerConfig{SaveInterval: tt.interval, Tick: 10 * time.Millisecond, Iterations: iters}})
			tl, err := r.Create(newState(t, ttA))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			setCommit(tl, tt.commit)
			deadline := time.Now().Add(2 * time.Second)
			for persistedCommit(t, tl) != tt.commit && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if tt.saved {
				if got := persistedCommit(t, tl); got != tt.commit {
					t.Fatalf("persisted commit_lsn %s, want %s", got, tt.commit)
				}
			} else if got := persistedCommit(t, tl); got != 0 {
				t.Fatalf("saved too early: persisted commit_lsn %s", got)
			}
			if iters.n.Load() == 0 {
				t.Fatal("no manager iterations counted")
			}
		})
	}
}

// The save interval counts from the last persist, not from load: a second
// change right after a save waits for a full interval again.
func TestManagerIntervalFromLastPersist(t *testing.T) {
	t.Parallel()
	const interval = 400 * time.Millisecond
	r := NewRegistry(Config{DataDir: t.TempDir(), NoSync: true,
		Manager: &ManagerConfig{SaveInterval: interval, Tick: 10 * time.Millisecond}})
	tl, err := r.Create(newState(t, ttA))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	time.Sleep(interval) // long past load
	setCommit(tl, 100)
	for persistedCommit(t, tl) != 100 {
		time.Sleep(5 * time.Millisecond)
	}
	saved := time.Now()
	setCommit(tl, 200)
	time.Sleep(interval / 2)
	if got := persistedCommit(t, tl); got != 100 {
		t.Fatalf("second change saved %v after the first save (commit %s)", time.Since(saved), got)
	}
	waitFor(t, 2*time.Second, func() bool { return persistedCommit(t, tl) == 200 })
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The manager holds the gate and stops on cancel: deletion completes
// promptly and the last in-memory values were flushed before the directory
// went away (close flushes).
func TestManagerStopsOnDelete(t *testing.T) {
	t.Parallel()
	r := NewRegistry(Config{DataDir: t.TempDir(), NoSync: true, Manager: &ManagerConfig{Tick: 10 * time.Millisecond}})
	if _, err := r.Create(newState(t, ttA)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if existed, err := r.Delete(ctx, ttA); err != nil || !existed {
		t.Fatalf("Delete = %v, %v", existed, err)
	}
}
