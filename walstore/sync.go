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

	// onWriteback, if set (tests), sees every writeback request.
	onWriteback func(off, n uint64)
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

// writeback starts writing f's dirty pages in [off, off+n) to disk
// without waiting (Store.startWriteback says why). Like a sync, it is
// skipped under NoSync. Its error makes nothing less durable (only
// fdatasync acknowledges, and a failing disk fails the next one); the
// caller only reports it.
func (y *syncer) writeback(f *os.File, off, n uint64) error {
	if y.noSync {
		return nil
	}
	if y.onWriteback != nil {
		y.onWriteback(off, n)
	}
	return startWriteback(f, int64(off), int64(n))
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
