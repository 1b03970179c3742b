package timeline

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const envDeleteStraceDir = "WALKEEPER_TIMELINE_DELETE_STRACE_DIR"

// TestDeleteSyncsTenantDirectory runs a Delete under strace: after the
// timeline directory is removed, the tenant directory is fsynced, so that
// a power loss cannot bring back a timeline whose deletion was reported.
func TestDeleteSyncsTenantDirectory(t *testing.T) {
	if dir := os.Getenv(envDeleteStraceDir); dir != "" {
		r := NewRegistry(Config{DataDir: dir})
		if _, err := r.Create(newState(t, ttA)); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Delete(context.Background(), ttA); err != nil {
			t.Fatal(err)
		}
		return
	}
	strace, err := exec.LookPath("strace")
	if err != nil || testing.Short() {
		t.Skip("strace not installed")
	}
	dir := t.TempDir()
	out := filepath.Join(t.TempDir(), "trace")
	cmd := exec.Command(strace, "-f", "-qq", "-o", out, "-e", "trace=openat,fsync,unlinkat,rmdir",
		os.Args[0], "-test.run=^TestDeleteSyncsTenantDirectory$", "-test.count=1")
	cmd.Env = append(os.Environ(), envDeleteStraceDir+"="+dir)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("strace unusable here: %v\n%s", err, b)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	tenantDir := filepath.Join(dir, ttA.Tenant.String())
	tlDir := filepath.Join(tenantDir, ttA.Timeline.String())
	openRe := regexp.MustCompile(`openat\(.*"([^"]+)".*\) = (\d+)`)
	fsyncRe := regexp.MustCompile(`fsync\((\d+)`)
	fdName := map[string]string{}
	removed, synced := false, false
	for _, line := range strings.Split(string(raw), "\n") {
		if m := openRe.FindStringSubmatch(line); m != nil {
			fdName[m[2]] = m[1]
			continue
		}
		if strings.Contains(line, "unlinkat(") && strings.Contains(line, ttA.Timeline.String()) && strings.Contains(line, "AT_REMOVEDIR") ||
			strings.Contains(line, "rmdir(\""+tlDir+"\"") {
			removed, synced = true, false
			continue
		}
		if m := fsyncRe.FindStringSubmatch(line); m != nil && removed && fdName[m[1]] == tenantDir {
			synced = true
		}
	}
	if !removed {
		t.Fatalf("the timeline directory was never removed:\n%s", raw)
	}
	if !synced {
		t.Fatalf("the tenant directory was not fsynced after the removal:\n%s", raw)
	}
}
