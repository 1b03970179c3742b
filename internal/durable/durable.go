// Package durable holds the few file-system steps whose order decides
// whether data survives a crash: fsync a file, fsync a directory, and the
// durable rename (fsync the file, rename, fsync the parent directory).
//
// Every function takes noSync: when it is true (walkeeper --no-sync) the
// fsyncs are skipped and nothing else changes.
package durable

import (
	"fmt"
	"os"
	"path/filepath"
)

// SyncDir fsyncs a directory, making creations, renames and removals of its
// entries durable.
func SyncDir(dir string, noSync bool) error {
	if noSync {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s for fsync: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}

// SyncPath opens path and fsyncs it.
func SyncPath(path string, noSync bool) error {
	if noSync {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("open %s for fsync: %w", path, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	return nil
}

// Rename makes oldPath's content durable, renames it to newPath and fsyncs
// newPath's directory, in that order (etcd #6368: a rename is not durable
// until its directory is).
func Rename(oldPath, newPath string, noSync bool) error {
	if err := SyncPath(oldPath, noSync); err != nil {
		return err
	}
	if err := os.Rename(oldPath, newPath); err != nil {
		return fmt.Errorf("rename %s: %w", oldPath, err)
	}
	return SyncDir(filepath.Dir(newPath), noSync)
}

// WriteFile writes data to path+".partial", fsyncs it, renames it over path
// and fsyncs the directory. A reader sees the old content or the new, never
// a torn mix.
func WriteFile(path string, data []byte, perm os.FileMode, noSync bool) error {
	tmp := path + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if !noSync {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("fsync %s: %w", tmp, err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return SyncDir(filepath.Dir(path), noSync)
}
