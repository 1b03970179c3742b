//go:build !linux

package walstore

import "os"

// preallocate extends f to size with ftruncate (a sparse file) where
// fallocate(2) is not available. Bytes already in the file are kept.
func preallocate(f *os.File, size int64) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() >= size {
		return nil
	}
	return f.Truncate(size)
}

// fdatasync falls back to fsync where fdatasync(2) is not available.
func fdatasync(f *os.File) error { return f.Sync() }

// writebackPage is the unit startWriteback rounds to.
const writebackPage = 4096

// startWriteback does nothing where sync_file_range(2) is not available:
// the next fdatasync writes everything.
func startWriteback(f *os.File, off, n int64) error { return nil }
