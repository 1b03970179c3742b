package server

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestPidLock(t *testing.T) {
	dir := t.TempDir()
	l, err := lockPidFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockPidFile(dir); !errors.Is(err, ErrDataDirLocked) {
		t.Fatalf("second lock: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, PidFileName))
	if err != nil || string(data) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("pid file %q %v", data, err)
	}
	if err := l.release(); err != nil {
		t.Fatal(err)
	}
	l, err = lockPidFile(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l.release()
}

func TestNodeIDFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, IDFileName)
	steps := []struct {
		name string
		id   uint64
		want uint64
		err  error
	}{
		{"first start without id", 0, 0, ErrIDRequired},
		{"first start", 42, 42, nil},
		{"later without id", 0, 42, nil},
		{"later same id", 42, 42, nil},
		{"later other id", 43, 0, ErrIDMismatch},
	}
	for _, s := range steps {
		got, err := loadOrCreateID(dir, s.id, false)
		if !errors.Is(err, s.err) || uint64(got) != s.want {
			t.Fatalf("%s: got %d, %v; want %d, %v", s.name, got, err, s.want, s.err)
		}
	}
	if data, _ := os.ReadFile(path); string(data) != "42" {
		t.Fatalf("id file %q, want exactly \"42\"", data)
	}
	if _, err := os.Stat(path + ".partial"); !os.IsNotExist(err) {
		t.Fatalf("leftover temp file: %v", err)
	}
	for _, bad := range []string{"", "x", "0", "-1"} {
		os.WriteFile(path, []byte(bad), 0o644)
		if _, err := loadOrCreateID(dir, 0, false); !errors.Is(err, ErrBadIDFile) {
			t.Fatalf("id file %q: %v", bad, err)
		}
	}
}
