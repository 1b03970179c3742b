package timeline

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestDeleteRetriedAfterRemoveFails: a Delete whose directory removal
// fails leaves no tombstone, so a retry does the work (Neon: "presence of
// a tombstone guarantees that a previous deletion has completed"), and a
// restart does not bring the timeline back. Before, the first Delete's
// tombstone made the retry report success without removing anything,
// and the timeline was loaded again after a restart.
func TestDeleteRetriedAfterRemoveFails(t *testing.T) {
	if _, err := exec.LookPath("chattr"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and chattr to make os.RemoveAll fail")
	}
	dir := t.TempDir()
	r := newRegistry(t, dir)
	tl, err := r.Create(newState(t, ttA))
	if err != nil {
		t.Fatal(err)
	}
	blocker := filepath.Join(tl.Dir, "blocker")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chattr", "+i", blocker).CombinedOutput(); err != nil {
		t.Skipf("chattr +i: %v %s", err, out)
	}
	unblock := func() { exec.Command("chattr", "-i", blocker).Run() }
	t.Cleanup(unblock)

	if _, err := r.Delete(context.Background(), ttA); err == nil {
		t.Fatal("Delete succeeded although the directory could not be removed")
	}
	if _, err := r.Create(newState(t, ttA)); errors.Is(err, ErrDeleted) {
		t.Fatalf("a failed Delete left a tombstone: %v", err)
	}
	unblock()
	existed, err := r.Delete(context.Background(), ttA)
	if err != nil || !existed {
		t.Fatalf("retry: existed %t, %v", existed, err)
	}
	if _, err := os.Stat(tl.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the retried Delete succeeded but the directory is still there (%v)", err)
	}
	r2 := newRegistry(t, dir)
	if _, err := r2.Get(ttA); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after a restart, Get of the deleted timeline: %v", err)
	}
}

// TestConcurrentDeleteWaitsForTheFirst: a second Delete that arrives while
// the first waits for the timeline's users waits for the first. When the
// first gives up (its context ends) and leaves everything in place, the
// second does the work itself, and reports success only once the
// directory is gone. Before, the second saw the first's tombstone and
// reported success at once, although nothing was ever deleted.
func TestConcurrentDeleteWaitsForTheFirst(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, t.TempDir())
	tl, err := r.Create(newState(t, ttA))
	if err != nil {
		t.Fatal(err)
	}
	release, _ := tl.Enter() // a connection that takes a while to leave

	ctx1, cancel1 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel1()
	first := make(chan error, 1)
	go func() { _, err := r.Delete(ctx1, ttA); first <- err }()
	waitDeleting(t, r)
	type result struct {
		existed bool
		err     error
	}
	second := make(chan result, 1)
	go func() {
		existed, err := r.Delete(context.Background(), ttA)
		second <- result{existed, err}
	}()
	if err := <-first; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("first Delete: %v, want its deadline", err)
	}
	select {
	case res := <-second:
		t.Fatalf("second Delete returned %+v while the timeline's user is still there", res)
	case <-time.After(100 * time.Millisecond):
	}
	if _, err := os.Stat(tl.Dir); err != nil {
		t.Fatalf("directory gone before any Delete succeeded: %v", err)
	}
	release()
	res := <-second
	if res.err != nil || !res.existed {
		t.Fatalf("second Delete: %+v", res)
	}
	if _, err := os.Stat(tl.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("second Delete succeeded, directory still there: %v", err)
	}
	if _, err := r.Create(newState(t, ttA)); !errors.Is(err, ErrDeleted) {
		t.Fatalf("re-create after the deletion: %v", err)
	}
}

// TestConcurrentDeleteAfterSuccess: a second Delete that waited for a
// first one that succeeded reports success too, as "already deleted".
func TestConcurrentDeleteAfterSuccess(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, t.TempDir())
	tl, err := r.Create(newState(t, ttA))
	if err != nil {
		t.Fatal(err)
	}
	release, _ := tl.Enter()
	first := make(chan error, 1)
	go func() { _, err := r.Delete(context.Background(), ttA); first <- err }()
	waitDeleting(t, r)
	if _, err := r.Create(newState(t, ttA)); !errors.Is(err, ErrDeleted) && !errors.Is(err, ErrCancelled) {
		t.Fatalf("Create during a deletion: %v", err)
	}
	second := make(chan error, 1)
	go func() {
		existed, err := r.Delete(context.Background(), ttA)
		if err == nil && existed {
			err = errors.New("second Delete says it found the directory")
		}
		second <- err
	}()
	time.Sleep(50 * time.Millisecond)
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tl.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("directory still there: %v", err)
	}
}

// waitDeleting waits until a Delete of ttA is under way.
func waitDeleting(t *testing.T, r *Registry) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		r.mu.Lock()
		d := r.deleting[ttA]
		r.mu.Unlock()
		if d != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no Delete under way")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFailedCreateLeavesNoDirectory: a creation that fails after its
// directory was renamed into place (here walstore refuses a wal_seg_size
// that controlfile.New would have refused too, but the state was changed
// after it) takes the directory away again, so a later Create, by the real
// compute, succeeds. Before, the directory stayed, unregistered, and every
// later Create failed with ErrInvalid until someone deleted it over HTTP.
func TestFailedCreateLeavesNoDirectory(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, t.TempDir())
	bad := newState(t, ttA)
	bad.Server.WalSegSize = 12345
	if _, err := r.Create(bad); err == nil {
		t.Fatal("Create with wal_seg_size 12345 succeeded")
	}
	if _, err := os.Stat(r.Dir(ttA)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("directory left after the failed Create: %v", err)
	}
	if _, err := r.Create(newState(t, ttA)); err != nil {
		t.Fatalf("Create after a failed Create: %v", err)
	}
}
