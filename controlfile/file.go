package controlfile

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/walkeeper/walkeeper/internal/durable"
)

// FileName is the control file's name inside a timeline directory;
// Persist writes FileName+".partial" first.
const FileName = "safekeeper.control"

// filePerm is what Neon gets from File::create under the usual umask.
const filePerm = 0o644

// Load reads and decodes dir/safekeeper.control. A leftover
// safekeeper.control.partial from an interrupted Persist is ignored: the
// last completed Persist wins.
func Load(dir string) (*State, error) {
	return LoadFile(filepath.Join(dir, FileName))
}

// LoadFile reads and decodes the control file at path.
func LoadFile(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read control file: %w", err)
	}
	s, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("control file %s: %w", path, err)
	}
	return s, nil
}

// Persist writes s to dir/safekeeper.control atomically and durably: write
// safekeeper.control.partial, fsync it, rename it over the old file, fsync
// dir. A crash at any point leaves the old state or the new one. noSync
// (walkeeper --no-sync) skips the fsyncs and nothing else.
func Persist(dir string, s *State, noSync bool) error {
	if err := durable.WriteFile(filepath.Join(dir, FileName), Encode(s), filePerm, noSync); err != nil {
		return fmt.Errorf("persist control file: %w", err)
	}
	return nil
}
