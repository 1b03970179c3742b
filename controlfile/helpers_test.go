package controlfile

import (
	"os"
	"path/filepath"
)

func readControl(dir string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, FileName)) }
