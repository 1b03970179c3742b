package timeline

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/internal/durable"
)

// Create makes a new timeline with the initial state st (built with
// controlfile.New), or returns the existing one unchanged: creation is
// idempotent, and an existing timeline's server info is not overwritten.
//
// The directory appears atomically (§3.2): the control file is written and
// fsynced in a temporary directory under <datadir>/tmp, which is then
// durably renamed into <datadir>/<tenant>/<timeline>. A crash leaves either
// no timeline or a complete one.
func (r *Registry) Create(st *controlfile.State) (*Timeline, error) {
	ttid := ids.TTID{Tenant: st.TenantID, Timeline: st.TimelineID}
	r.mu.Lock()
	if tl, ok := r.timelines[ttid]; ok {
		r.mu.Unlock()
		if tl.Cancelled() {
			return nil, fmt.Errorf("%w: %s", ErrCancelled, ttid)
		}
		return tl, nil
	}
	switch {
	case r.tombstonedLocked(ttid, time.Now()):
		r.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrDeleted, ttid)
	case r.creating[ttid]:
		r.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrCreationInProgress, ttid)
	case r.invalid[ttid] != nil:
		err := r.invalid[ttid]
		r.mu.Unlock()
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, ttid, err)
	}
	r.creating[ttid] = true
	r.mu.Unlock()

	tl, err := r.createOnDisk(ttid, st)

	r.mu.Lock()
	delete(r.creating, ttid)
	if err == nil && r.tombstonedLocked(ttid, time.Now()) {
		// Deleted while we were creating it: undo, so a DELETE that
		// returned is never followed by a live timeline.
		r.mu.Unlock()
		tl.shutdown()
		os.RemoveAll(tl.Dir)
		return nil, fmt.Errorf("%w: %s (deleted during creation)", ErrDeleted, ttid)
	}
	if err == nil {
		r.timelines[ttid] = tl
	}
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	r.log.Info("created timeline", "ttid", ttid.String(), "pg_version", st.Server.PGVersion,
		"system_id", st.Server.SystemID, "start_lsn", st.TimelineStartLSN.String())
	return tl, nil
}

func (r *Registry) createOnDisk(ttid ids.TTID, st *controlfile.State) (*Timeline, error) {
	noSync := r.cfg.NoSync
	final := r.Dir(ttid)
	if _, err := os.Stat(final); err == nil {
		return nil, fmt.Errorf("%w: %s: directory %s already exists", ErrInvalid, ttid, final)
	}
	tmpRoot := filepath.Join(r.cfg.DataDir, tmpDirName)
	if err := os.MkdirAll(tmpRoot, 0o700); err != nil {
		return nil, fmt.Errorf("create timeline %s: %w", ttid, err)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(tmpRoot, fmt.Sprintf("%s_%s_%s_temptli", ttid.Tenant, ttid.Timeline, hex.EncodeToString(rnd[:])))
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("create timeline %s: %w", ttid, err)
	}
	cleanup := func(err error) error {
		os.RemoveAll(tmp)
		return fmt.Errorf("create timeline %s: %w", ttid, err)
	}
	// The control file is written as .partial, fsynced, renamed and the
	// temp directory fsynced.
	if _, err := controlfile.Create(tmp, st, noSync); err != nil {
		return nil, cleanup(err)
	}
	tenantDir := filepath.Dir(final)
	if err := os.Mkdir(tenantDir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, cleanup(err)
	}
	if err := durable.SyncDir(tenantDir, noSync); err != nil {
		return nil, cleanup(err)
	}
	if err := durable.SyncDir(r.cfg.DataDir, noSync); err != nil {
		return nil, cleanup(err)
	}
	// Durable rename of the directory: fsync it, rename, fsync the parent.
	if err := durable.Rename(tmp, final, noSync); err != nil {
		return nil, cleanup(err)
	}
	tl, err := r.open(ttid, final)
	if err != nil {
		// Nothing was ever served from it: take it away again, so that
		// the failure does not block every later creation (ErrInvalid).
		if rerr := os.RemoveAll(final); rerr != nil {
			return nil, errors.Join(err, fmt.Errorf("remove the timeline directory again: %w", rerr))
		}
		if serr := durable.SyncDir(tenantDir, noSync); serr != nil {
			return nil, errors.Join(err, serr)
		}
		return nil, err
	}
	return tl, nil
}

// open loads a timeline directory into a Timeline.
func (r *Registry) open(ttid ids.TTID, dir string) (*Timeline, error) {
	control, err := controlfile.Open(dir, r.cfg.NoSync)
	if err != nil {
		return nil, fmt.Errorf("load timeline %s: %w", ttid, err)
	}
	st := control.Persisted()
	if st.TenantID != ttid.Tenant || st.TimelineID != ttid.Timeline {
		return nil, fmt.Errorf("load timeline %s: control file names %s/%s", ttid, st.TenantID, st.TimelineID)
	}
	if st.Server.WalSegSize == 0 {
		return nil, fmt.Errorf("load timeline %s: wal_seg_size is not initialized", ttid)
	}
	control.PersistSeconds = r.cfg.PersistSeconds
	tl := newTimeline(ttid, dir, control, r.log)
	if err := tl.openResident(r.cfg); err != nil {
		return nil, fmt.Errorf("load timeline %s: %w", ttid, err)
	}
	if r.cfg.Manager != nil {
		if err := tl.startManager(*r.cfg.Manager); err != nil {
			tl.shutdown() // closes the WAL store and its preallocator
			return nil, fmt.Errorf("load timeline %s: %w", ttid, err)
		}
	}
	return tl, nil
}
