package walstore

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// preallocate reserves size bytes for f with fallocate(2) so that writes
// neither extend the file nor allocate blocks; where the file system does
// not support it, it falls back to ftruncate (a sparse file, as Neon does).
// Bytes already in the file are kept.
func preallocate(f *os.File, size int64) error {
	err := syscall.Fallocate(int(f.Fd()), 0, 0, size)
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EINVAL) {
		st, serr := f.Stat()
		if serr != nil {
			return serr
		}
		if st.Size() >= size {
			return nil
		}
		return f.Truncate(size)
	}
	return &os.PathError{Op: "fallocate", Path: f.Name(), Err: err}
}

// fdatasync makes f's data, and the metadata needed to read it, durable.
func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}

// writebackPage is the unit startWriteback rounds to: a page of the page
// cache, so that a request never covers the last, still growing page.
const writebackPage = 4096

// startWriteback starts asynchronous writeback of f's dirty pages in
// [off, off+n) with sync_file_range(SYNC_FILE_RANGE_WRITE): it neither
// waits for the I/O nor makes anything durable.
func startWriteback(f *os.File, off, n int64) error {
	if err := unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE); err != nil {
		return &os.PathError{Op: "sync_file_range", Path: f.Name(), Err: err}
	}
	return nil
}
