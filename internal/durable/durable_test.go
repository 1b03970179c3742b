package durable

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileAndRename(t *testing.T) {
	t.Parallel()
	for _, noSync := range []bool{false, true} {
		dir := t.TempDir()
		p := filepath.Join(dir, "f")
		if err := WriteFile(p, []byte("one"), 0o600, noSync); err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(p, []byte("two"), 0o600, noSync); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != "two" {
			t.Fatalf("content %q", b)
		}
		if _, err := os.Stat(p + ".partial"); !os.IsNotExist(err) {
			t.Fatalf("temp file left behind: %v", err)
		}
		q := filepath.Join(dir, "g")
		if err := Rename(p, q, noSync); err != nil {
			t.Fatal(err)
		}
		if err := SyncDir(dir, noSync); err != nil {
			t.Fatal(err)
		}
	}
	if err := Rename("/nonexistent/a", "/nonexistent/b", false); err == nil {
		t.Fatal("want error")
	}
}
