package timeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/ids"
)

var (
	tenantA = ids.MustParse("cf0480929707ee75372337efaa5ecf96")
	tlA     = ids.MustParse("112ded66422aa5e953e5440fa5427ac4")
	tlB     = ids.MustParse("212ded66422aa5e953e5440fa5427ac4")
	ttA     = ids.TTID{Tenant: tenantA, Timeline: tlA}
	ttB     = ids.TTID{Tenant: tenantA, Timeline: tlB}
)

func newState(t *testing.T, ttid ids.TTID) *controlfile.State {
	t.Helper()
	st, err := controlfile.New(ttid, controlfile.Configuration{},
		controlfile.ServerInfo{PGVersion: 150004, SystemID: 42, WalSegSize: 16 << 20}, 0, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func newRegistry(t *testing.T, dir string) *Registry {
	t.Helper()
	r := NewRegistry(Config{DataDir: dir})
	if _, err := r.Load(); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCreateLoadIdempotent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := newRegistry(t, dir)
	if _, err := r.Get(ttA); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get before create: %v", err)
	}
	tl, err := r.Create(newState(t, ttA))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, tenantA.String(), tlA.String(), controlfile.FileName)); err != nil {
		t.Fatalf("control file: %v", err)
	}
	// A second create with other server info returns the same timeline, unchanged.
	other := newState(t, ttA)
	other.Server.SystemID = 7
	tl2, err := r.Create(other)
	if err != nil || tl2 != tl {
		t.Fatalf("second Create = %p, %v; want %p", tl2, err, tl)
	}
	if got := tl.State().Server.SystemID; got != 42 {
		t.Fatalf("system id overwritten: %d", got)
	}
	if _, err := r.Create(newState(t, ttB)); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, tmpDirName))
	if len(entries) != 0 {
		t.Fatalf("tmp not empty: %v", entries)
	}

	// A restart finds both.
	r2 := newRegistry(t, dir)
	if got := len(r2.List()); got != 2 {
		t.Fatalf("after reload List = %d timelines", got)
	}
	if st := r2.List()[0].State(); st.Server.SystemID != 42 || st.TenantID != tenantA {
		t.Fatalf("reloaded state %+v", st.Server)
	}
}

func TestConcurrentCreateMakesOne(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, t.TempDir())
	var wg sync.WaitGroup
	got := make([]*Timeline, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				tl, err := r.Create(newState(t, ttA))
				if errors.Is(err, ErrCreationInProgress) {
					time.Sleep(time.Millisecond)
					continue
				}
				if err != nil {
					t.Error(err)
				}
				got[i] = tl
				return
			}
		}()
	}
	wg.Wait()
	for _, tl := range got {
		if tl != got[0] {
			t.Fatal("concurrent creates returned different timelines")
		}
	}
}

func TestDeleteCancelsWaitsAndTombstones(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := newRegistry(t, dir)
	tl, err := r.Create(newState(t, ttA))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create(newState(t, ttB)); err != nil {
		t.Fatal(err)
	}
	release, err := tl.Enter()
	if err != nil {
		t.Fatal(err)
	}
	// A user that stops when the timeline is cancelled.
	stopped := make(chan struct{})
	go func() {
		<-tl.Context().Done()
		time.Sleep(20 * time.Millisecond)
		close(stopped)
		release()
	}()
	existed, err := r.Delete(context.Background(), ttA)
	if err != nil || !existed {
		t.Fatalf("Delete = %v, %v", existed, err)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("Delete returned before the user stopped")
	}
	if _, err := os.Stat(r.Dir(ttA)); !os.IsNotExist(err) {
		t.Fatalf("directory still there: %v", err)
	}
	if _, err := tl.Enter(); !errors.Is(err, ErrCancelled) {
		t.Fatalf("Enter after delete: %v", err)
	}
	if _, err := r.Create(newState(t, ttA)); !errors.Is(err, ErrDeleted) {
		t.Fatalf("re-create after delete: %v", err)
	}
	if existed, err := r.Delete(context.Background(), ttA); err != nil || existed {
		t.Fatalf("second Delete = %v, %v", existed, err)
	}
	if _, err := r.Get(ttB); err != nil {
		t.Fatalf("other timeline touched: %v", err)
	}
}

func TestDeleteBoundedByContext(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, t.TempDir())
	tl, err := r.Create(newState(t, ttA))
	if err != nil {
		t.Fatal(err)
	}
	release, _ := tl.Enter() // a user that never leaves on its own
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := r.Delete(ctx, ttA); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Delete = %v, want deadline exceeded", err)
	}
}

func TestDeleteTenant(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := newRegistry(t, dir)
	for _, tt := range []ids.TTID{ttA, ttB} {
		if _, err := r.Create(newState(t, tt)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := r.DeleteTenant(context.Background(), tenantA)
	if err != nil || len(got) != 2 || !got[tlA] || !got[tlB] {
		t.Fatalf("DeleteTenant = %v, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, tenantA.String())); !os.IsNotExist(err) {
		t.Fatalf("tenant dir: %v", err)
	}
	if _, err := r.Create(newState(t, ids.TTID{Tenant: tenantA, Timeline: ids.MustParse("312ded66422aa5e953e5440fa5427ac4")})); !errors.Is(err, ErrDeleted) {
		t.Fatalf("create in deleted tenant: %v", err)
	}
}

func TestBrokenAndInterruptedCreations(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := newRegistry(t, dir)
	if _, err := r.Create(newState(t, ttA)); err != nil {
		t.Fatal(err)
	}
	// Corrupt A's control file; leave a half-made creation of B in tmp, as a
	// crash between writing the control file and the rename would.
	cf := filepath.Join(r.Dir(ttA), controlfile.FileName)
	b, _ := os.ReadFile(cf)
	b[len(b)-1] ^= 0xff
	if err := os.WriteFile(cf, b, 0o600); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(dir, tmpDirName, ttB.Tenant.String()+"_"+ttB.Timeline.String()+"_00_temptli")
	if err := os.MkdirAll(leftover, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := controlfile.Persist(leftover, newState(t, ttB), true); err != nil {
		t.Fatal(err)
	}
	// Junk that is not a tenant id is ignored.
	os.WriteFile(filepath.Join(dir, "safekeeper.id"), []byte("1"), 0o600)

	r2 := newRegistry(t, dir)
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Fatalf("leftover not removed: %v", err)
	}
	if _, err := r2.Get(ttB); !errors.Is(err, ErrNotFound) {
		t.Fatalf("interrupted creation loaded: %v", err)
	}
	if _, err := r2.Get(ttA); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("corrupt timeline: %v", err)
	}
	if _, err := r2.Create(newState(t, ttA)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("create over a broken timeline: %v", err)
	}
	// Deleting the broken timeline clears the way.
	if existed, err := r2.Delete(context.Background(), ttA); err != nil || !existed {
		t.Fatalf("Delete broken = %v %v", existed, err)
	}
}

// TestDeleteDuringCreate races Create against Delete on one timeline. When
// Delete reports success, the timeline must end up neither live nor on
// disk, whichever side won (found by review: a creation finishing after the
// delete used to survive it).
func TestDeleteDuringCreate(t *testing.T) {
	t.Parallel()
	for i := range 150 {
		r := newRegistry(t, t.TempDir())
		tt := ids.TTID{Tenant: tenantA, Timeline: ids.ID{15: byte(i), 14: 1}}
		var wg sync.WaitGroup
		var delErr error
		wg.Add(2)
		go func() { defer wg.Done(); _, _ = r.Create(newState(t, tt)) }()
		go func() { defer wg.Done(); _, delErr = r.Delete(context.Background(), tt) }()
		wg.Wait()
		if delErr != nil {
			t.Fatalf("round %d: Delete: %v", i, delErr)
		}
		if tl, err := r.Get(tt); err == nil {
			t.Fatalf("round %d: timeline %s live after a successful Delete", i, tl.TTID)
		}
		if _, err := os.Stat(r.Dir(tt)); !os.IsNotExist(err) {
			t.Fatalf("round %d: directory exists after a successful Delete: %v", i, err)
		}
		r.Close()
	}
}
