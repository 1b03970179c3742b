package walstore

import (
	"fmt"
	"os"
	"sync/atomic"

	"github.com/walkeeper/walkeeper/internal/durable"
)

// syncer performs every fsync and fdatasync of a store, or none of them
// under NoSync (--no-sync changes nothing else).
type syncer struct {
	noSync bool
	calls  atomic.Int64 // syncs done, for tests
}

// fdatasync makes f's data durable (the size never changes after
// preallocation, so no full fsync is needed).
func (y *syncer) fdatasync(f *os.File) error {
	if y.noSync {
		return nil
	}
	y.calls.Add(1)
	return fdatasync(f)
}

// fsync makes f's data and metadata (its size) durable.
func (y *syncer) fsync(f *os.File) error {
	if y.noSync {
		return nil
	}
	y.calls.Add(1)
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", f.Name(), err)
	}
	return nil
}

// dir makes the entries of directory dir (creations, renames, removals)
// durable.
func (y *syncer) dir(dir string) error {
	if y.noSync {
		return nil
	}
	y.calls.Add(1)
	return durable.SyncDir(dir, false)
}

// path fsyncs the file at p.
func (y *syncer) path(p string) error {
	if y.noSync {
		return nil
	}
	y.calls.Add(1)
	return durable.SyncPath(p, false)
}
