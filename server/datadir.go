package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/internal/durable"
)

// File names in the data directory (storage-and-operations §1.1).
const (
	PidFileName = "safekeeper.pid"
	IDFileName  = "safekeeper.id"
)

// Data directory errors.
var (
	ErrDataDirLocked = errors.New("data directory is in use by another process")
	ErrIDRequired    = errors.New("--id is required on first start")
	ErrIDMismatch    = errors.New("--id does not match the stored node id")
	ErrBadIDFile     = errors.New("malformed node id file")
)

// pidLock is the flock'ed pid file; it is held for the life of the process.
type pidLock struct{ f *os.File }

// lockPidFile creates (or reuses) dir/safekeeper.pid, takes an exclusive
// non-blocking flock on it and writes our pid.
func lockPidFile(dir string) (*pidLock, error) {
	path := filepath.Join(dir, PidFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open pid file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is locked", ErrDataDirLocked, path)
		}
		return nil, fmt.Errorf("lock pid file %s: %w", path, err)
	}
	pid := strconv.Itoa(os.Getpid())
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("write pid file: %w", err)
	}
	if _, err := f.WriteAt([]byte(pid), 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("write pid file: %w", err)
	}
	return &pidLock{f: f}, nil
}

// release drops the lock (closing the descriptor releases the flock).
func (l *pidLock) release() error { return l.f.Close() }

// loadOrCreateID reconciles --id with dir/safekeeper.id: the file wins when
// no id is given, a different id is an error, and on first start the id is
// required and written durably as decimal ASCII without a newline.
func loadOrCreateID(dir string, id uint64, noSync bool) (ids.NodeID, error) {
	path := filepath.Join(dir, IDFileName)
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if id == 0 {
			return 0, ErrIDRequired
		}
		if err := durable.WriteFile(path, []byte(strconv.FormatUint(id, 10)), 0o644, noSync); err != nil {
			return 0, fmt.Errorf("write node id: %w", err)
		}
		return ids.NodeID(id), nil
	case err != nil:
		return 0, fmt.Errorf("read node id: %w", err)
	}
	stored, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	if err != nil || stored == 0 {
		return 0, fmt.Errorf("%w: %s: %q", ErrBadIDFile, path, data)
	}
	if id != 0 && id != stored {
		return 0, fmt.Errorf("%w: --id %d, %s has %d", ErrIDMismatch, id, path, stored)
	}
	return ids.NodeID(stored), nil
}
