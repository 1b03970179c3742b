package timeline

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/walkeeper/walkeeper/ids"
)

// Load scans <datadir>/<tenant>/<timeline> and loads every timeline found.
// Entries whose names are not ids are ignored. A timeline that fails to load
// is logged and remembered as invalid: it is not served, and its directory
// blocks re-creation until it is deleted. Leftovers of interrupted creations
// under <datadir>/tmp are removed. It returns the number loaded.
func (r *Registry) Load() (int, error) {
	if err := r.removeCreationLeftovers(); err != nil {
		return 0, err
	}
	tenants, err := os.ReadDir(r.cfg.DataDir)
	if err != nil {
		return 0, fmt.Errorf("scan data dir: %w", err)
	}
	loaded := 0
	for _, te := range tenants {
		tenant, err := ids.Parse(te.Name())
		if err != nil || !te.IsDir() {
			continue
		}
		timelines, err := os.ReadDir(filepath.Join(r.cfg.DataDir, te.Name()))
		if err != nil {
			return loaded, fmt.Errorf("scan tenant %s: %w", te.Name(), err)
		}
		for _, tle := range timelines {
			timeline, err := ids.Parse(tle.Name())
			if err != nil || !tle.IsDir() {
				continue
			}
			ttid := ids.TTID{Tenant: tenant, Timeline: timeline}
			tl, err := r.open(ttid, r.Dir(ttid))
			r.mu.Lock()
			if err != nil {
				r.invalid[ttid] = err
				r.mu.Unlock()
				r.log.Error("timeline not loaded", "ttid", ttid.String(), "err", err)
				continue
			}
			r.timelines[ttid] = tl
			r.mu.Unlock()
			loaded++
		}
	}
	r.log.Info("loaded timelines", "count", loaded)
	return loaded, nil
}

func (r *Registry) removeCreationLeftovers() error {
	tmp := filepath.Join(r.cfg.DataDir, tmpDirName)
	entries, err := os.ReadDir(tmp)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("scan %s: %w", tmp, err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), "_temptli") {
			continue
		}
		r.log.Warn("removing leftover of an interrupted timeline creation", "dir", e.Name())
		if err := os.RemoveAll(filepath.Join(tmp, e.Name())); err != nil {
			return fmt.Errorf("remove %s: %w", e.Name(), err)
		}
	}
	return nil
}
