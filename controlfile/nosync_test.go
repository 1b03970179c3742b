package controlfile

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const envStraceDir = "WALKEEPER_CONTROLFILE_STRACE_DIR"

// TestNoSyncSyscalls runs one Persist under strace, with and without
// noSync: with sync the .partial file is fsynced before the rename and the
// directory after it; with noSync there is no fsync at all and the same
// write and rename happen.
func TestNoSyncSyscalls(t *testing.T) {
	if dir := os.Getenv(envStraceDir); dir != "" {
		if err := Persist(dir, layoutState(), os.Getenv("WALKEEPER_CONTROLFILE_NOSYNC") == "1"); err != nil {
			t.Fatal(err)
		}
		return
	}
	strace, err := exec.LookPath("strace")
	if err != nil || testing.Short() {
		t.Skip("strace not installed")
	}
	trace := func(noSync string) []string {
		dir := t.TempDir()
		out := filepath.Join(t.TempDir(), "trace")
		cmd := exec.Command(strace, "-f", "-qq", "-o", out,
			"-e", "trace=fsync,fdatasync,rename,renameat,renameat2,write,openat",
			os.Args[0], "-test.run=^TestNoSyncSyscalls$", "-test.count=1")
		cmd.Env = append(os.Environ(), envStraceDir+"="+dir, "WALKEEPER_CONTROLFILE_NOSYNC="+noSync)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("strace unusable here: %v\n%s", err, b)
		}
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		// Keep the calls on our files, named by kind, in order.
		fdName := map[string]string{}
		openRe := regexp.MustCompile(`openat\(.*"([^"]+)".*\) = (\d+)`)
		callRe := regexp.MustCompile(`(fsync|fdatasync|write)\((\d+)`)
		var seq []string
		for _, line := range strings.Split(string(raw), "\n") {
			if m := openRe.FindStringSubmatch(line); m != nil {
				fdName[m[2]] = m[1]
				continue
			}
			if strings.Contains(line, "rename") && strings.Contains(line, FileName) {
				seq = append(seq, "rename")
				continue
			}
			m := callRe.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			switch name := fdName[m[2]]; {
			case name == filepath.Join(dir, FileName+".partial"):
				seq = append(seq, m[1]+" partial")
			case name == dir:
				seq = append(seq, m[1]+" dir")
			}
		}
		return seq
	}
	if got, want := strings.Join(trace("0"), ", "), "write partial, fsync partial, rename, fsync dir"; got != want {
		t.Errorf("sync: got %q, want %q", got, want)
	}
	if got, want := strings.Join(trace("1"), ", "), "write partial, rename"; got != want {
		t.Errorf("noSync: got %q, want %q", got, want)
	}
}
