package timeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/internal/durable"
	"github.com/walkeeper/walkeeper/walstore"
)

// Errors of the registry. They wrap with the timeline id for context.
var (
	ErrNotFound           = errors.New("timeline not found")
	ErrDeleted            = errors.New("timeline was deleted")
	ErrCreationInProgress = errors.New("timeline creation is in progress")
	ErrInvalid            = errors.New("timeline directory exists but could not be loaded")
	ErrCancelled          = errors.New("timeline is cancelled")
)

// tombstoneTTL is how long deletion tombstones are kept (Neon: 24 h).
const tombstoneTTL = 24 * time.Hour

// tmpDirName holds half-made timelines; it never parses as a tenant id, so
// leftovers are never loaded.
const tmpDirName = "tmp"

// Config configures a Registry.
type Config struct {
	DataDir string
	// NodeID is this walkeeper's id, which the consensus core announces.
	NodeID ids.NodeID
	NoSync bool
	Logger *slog.Logger // nil discards
	// PersistSeconds, if set, observes every control-file persist.
	PersistSeconds controlfile.Observer
	// WALMetrics, if set, receives the WAL stores' figures.
	WALMetrics *walstore.Metrics
	// Manager, if set, starts a manager goroutine (ManagerConfig) on every
	// timeline as it is loaded or created.
	Manager *ManagerConfig
	// ReceivedPSFeedbacks, if set, is safekeeper_received_ps_feedbacks_total.
	ReceivedPSFeedbacks prometheus.Counter
}

// Registry is the global timeline map (timelines_global_map.rs). All its
// methods are safe for concurrent use.
type Registry struct {
	cfg Config
	log *slog.Logger

	mu               sync.Mutex
	timelines        map[ids.TTID]*Timeline
	creating         map[ids.TTID]bool
	invalid          map[ids.TTID]error
	tombstones       map[ids.TTID]time.Time
	tenantTombstones map[ids.TenantID]time.Time
	// deleting holds the deletions under way, each with a channel closed
	// when it ends. Like a tombstone it stops creation, but a tombstone is
	// only set once a deletion is complete.
	deleting map[ids.TTID]chan struct{}
}

// NewRegistry creates an empty registry over cfg.DataDir. Call Load to pick
// up the timelines already on disk.
func NewRegistry(cfg Config) *Registry {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Registry{
		cfg:              cfg,
		log:              log,
		timelines:        make(map[ids.TTID]*Timeline),
		creating:         make(map[ids.TTID]bool),
		invalid:          make(map[ids.TTID]error),
		tombstones:       make(map[ids.TTID]time.Time),
		tenantTombstones: make(map[ids.TenantID]time.Time),
		deleting:         make(map[ids.TTID]chan struct{}),
	}
}

// Dir is the directory of a timeline, whether or not it exists.
func (r *Registry) Dir(ttid ids.TTID) string {
	return filepath.Join(r.cfg.DataDir, ttid.Tenant.String(), ttid.Timeline.String())
}

// Get returns a loaded, live timeline.
func (r *Registry) Get(ttid ids.TTID) (*Timeline, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.getLocked(ttid)
}

func (r *Registry) getLocked(ttid ids.TTID) (*Timeline, error) {
	if tl, ok := r.timelines[ttid]; ok {
		if tl.Cancelled() {
			return nil, fmt.Errorf("%w: %s", ErrCancelled, ttid)
		}
		return tl, nil
	}
	if r.creating[ttid] {
		return nil, fmt.Errorf("%w: %s", ErrCreationInProgress, ttid)
	}
	if err, ok := r.invalid[ttid]; ok {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, ttid, err)
	}
	return nil, fmt.Errorf("%w: %s", ErrNotFound, ttid)
}

// List returns the live timelines, sorted by tenant then timeline.
func (r *Registry) List() []*Timeline {
	r.mu.Lock()
	out := make([]*Timeline, 0, len(r.timelines))
	for _, tl := range r.timelines {
		if !tl.Cancelled() {
			out = append(out, tl)
		}
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].TTID, out[j].TTID
		if a.Tenant != b.Tenant {
			return a.Tenant.String() < b.Tenant.String()
		}
		return a.Timeline.String() < b.Timeline.String()
	})
	return out
}

// tombstonedLocked reports whether creation of ttid is blocked by a
// deletion, done or under way.
func (r *Registry) tombstonedLocked(ttid ids.TTID, now time.Time) bool {
	for k, at := range r.tombstones {
		if now.Sub(at) > tombstoneTTL {
			delete(r.tombstones, k)
		}
	}
	for k, at := range r.tenantTombstones {
		if now.Sub(at) > tombstoneTTL {
			delete(r.tenantTombstones, k)
		}
	}
	_, tl := r.tombstones[ttid]
	_, tenant := r.tenantTombstones[ttid.Tenant]
	return tl || tenant || r.deleting[ttid] != nil
}

// Close cancels every timeline and waits for their users to finish, then
// closes their files. Used at shutdown.
func (r *Registry) Close() {
	for _, tl := range r.List() {
		tl.shutdown()
	}
}

// Delete removes a timeline: everything running on it is cancelled and
// awaited, its files are closed, its directory is removed and a tombstone
// keeps a late compute from creating it again. It reports whether the
// directory existed. A timeline that failed to load is removed from disk too.
//
// The tombstone is set only once the directory is gone, so a Delete that
// failed (its context ended first, or the removal failed) leaves none, and
// a retry does the work again. While a deletion is under way, creation is
// refused and a second Delete waits for the first: it reports success only
// if the first succeeded (as "already deleted": dirExisted false), and
// otherwise tries itself.
func (r *Registry) Delete(ctx context.Context, ttid ids.TTID) (dirExisted bool, err error) {
	for {
		r.mu.Lock()
		if _, ok := r.tombstones[ttid]; ok {
			r.mu.Unlock()
			return false, nil
		}
		done := r.deleting[ttid]
		if done == nil {
			break // with r.mu held
		}
		r.mu.Unlock()
		select {
		case <-done: // look again: a tombstone, or nothing and do it here
		case <-ctx.Done():
			return false, fmt.Errorf("delete timeline %s: waiting for another deletion: %w", ttid, ctx.Err())
		}
	}
	// A creation still in flight sees the deletion before it inserts its
	// timeline and undoes itself (Create).
	done := make(chan struct{})
	r.deleting[ttid] = done
	tl := r.timelines[ttid]
	r.mu.Unlock()

	dirExisted, err = r.deleteNow(ctx, ttid, tl)

	r.mu.Lock()
	delete(r.deleting, ttid)
	if err == nil {
		r.tombstones[ttid] = time.Now()
		delete(r.timelines, ttid)
		delete(r.invalid, ttid)
	}
	close(done)
	r.mu.Unlock()
	if err == nil {
		r.log.Info("deleted timeline", "ttid", ttid.String(), "dir_existed", dirExisted)
	}
	return dirExisted, err
}

// deleteNow shuts tl (nil if not loaded) down and removes the timeline's
// directory.
func (r *Registry) deleteNow(ctx context.Context, ttid ids.TTID, tl *Timeline) (dirExisted bool, err error) {
	if tl != nil {
		if err := tl.shutdownWait(ctx); err != nil {
			return false, err
		}
	}
	dir := r.Dir(ttid)
	if _, err := os.Stat(dir); err == nil {
		dirExisted = true
	}
	if err := os.RemoveAll(dir); err != nil {
		return dirExisted, fmt.Errorf("delete timeline %s: %w", ttid, err)
	}
	// Make the removal durable before reporting it: a power loss must not
	// bring back a timeline whose deletion was acknowledged.
	if dirExisted {
		if err := durable.SyncDir(filepath.Dir(dir), r.cfg.NoSync); err != nil {
			return dirExisted, fmt.Errorf("delete timeline %s: %w", ttid, err)
		}
	}
	return dirExisted, nil
}

// DeleteTenant deletes every timeline of a tenant and the tenant directory,
// and keeps the tenant from being recreated. It returns, per timeline,
// whether its directory existed.
func (r *Registry) DeleteTenant(ctx context.Context, tenant ids.TenantID) (map[ids.TimelineID]bool, error) {
	r.mu.Lock()
	r.tenantTombstones[tenant] = time.Now()
	var ttids []ids.TTID
	for ttid := range r.timelines {
		if ttid.Tenant == tenant {
			ttids = append(ttids, ttid)
		}
	}
	for ttid := range r.invalid {
		if ttid.Tenant == tenant {
			ttids = append(ttids, ttid)
		}
	}
	r.mu.Unlock()
	out := make(map[ids.TimelineID]bool, len(ttids))
	failed := func(err error) (map[ids.TimelineID]bool, error) {
		// Not deleted after all: what is left may be created and served
		// again until a retry succeeds, as after a restart.
		r.mu.Lock()
		delete(r.tenantTombstones, tenant)
		r.mu.Unlock()
		return out, err
	}
	for _, ttid := range ttids {
		existed, err := r.Delete(ctx, ttid)
		if err != nil {
			return failed(err)
		}
		out[ttid.Timeline] = existed
	}
	dir := filepath.Join(r.cfg.DataDir, tenant.String())
	if err := os.RemoveAll(dir); err != nil {
		return failed(fmt.Errorf("delete tenant %s: %w", tenant, err))
	}
	if err := durable.SyncDir(r.cfg.DataDir, r.cfg.NoSync); err != nil {
		return failed(fmt.Errorf("delete tenant %s: %w", tenant, err))
	}
	return out, nil
}
