package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BuildWalkeeper builds cmd/walkeeper (without -race, so that timing
// tests measure the server rather than the detector) into a directory
// removed when t ends, and returns the binary's path.
func BuildWalkeeper(t testing.TB) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "walkeeper")
	out, err := exec.Command(goBin, "build", "-o", bin, "github.com/walkeeper/walkeeper/cmd/walkeeper").CombinedOutput()
	if err != nil {
		t.Fatalf("go build walkeeper: %v\n%s", err, out)
	}
	return bin
}

// Walkeeper is one running walkeeper process.
type Walkeeper struct {
	Bin     string
	DataDir string
	Args    []string // extra flags, e.g. --no-sync
	ID      int
	Addr    string // the bound pg listener
	cmd     *exec.Cmd
	exited  chan error
	log     *SyncBuffer
}

// SyncBuffer collects a process's or server's log for a test: one
// goroutine writes while the test reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// StartWalkeeper runs bin on dataDir with node id, JSON logs and both
// listeners on port 0, and waits for its "walkeeper listening" line. The
// process is killed when t ends; its log is printed if t failed.
func StartWalkeeper(t testing.TB, bin, dataDir string, id int, args ...string) *Walkeeper {
	t.Helper()
	w := &Walkeeper{Bin: bin, DataDir: dataDir, ID: id, Args: args}
	w.start(t)
	return w
}

func (w *Walkeeper) start(t testing.TB) {
	t.Helper()
	args := append([]string{"-D", w.DataDir, "--id", fmt.Sprint(w.ID), "--log-format=json",
		"--listen-pg=127.0.0.1:0", "--listen-http=127.0.0.1:0"}, w.Args...)
	// Each run has its own command, log and exit channel: the goroutines
	// of a killed run may still be draining when the next one starts.
	cmd := exec.Command(w.Bin, args...)
	exited := make(chan error, 1)
	log := &SyncBuffer{}
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { exited <- cmd.Wait(); pw.Close() }()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(nil, 1<<20)
		found := false
		for sc.Scan() {
			line := sc.Text()
			log.Write([]byte(line + "\n"))
			if !found && strings.Contains(line, "walkeeper listening: ") {
				var rec struct {
					PG string `json:"pg"`
				}
				json.Unmarshal([]byte(line), &rec)
				found = true
				ready <- rec.PG
			}
		}
		io.Copy(io.Discard, pr)
		if !found {
			close(ready)
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	if w.cmd == nil {
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("walkeeper %s log (last run):\n%s", w.DataDir, w.Log())
			}
		})
	}
	w.cmd, w.exited, w.log = cmd, exited, log
	select {
	case addr, ok := <-ready:
		if !ok || addr == "" {
			t.Fatalf("walkeeper did not report its address:\n%s", log.String())
		}
		w.Addr = addr
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("walkeeper did not start:\n%s", log.String())
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (w *Walkeeper) Kill(t testing.TB) {
	t.Helper()
	if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("walkeeper survived SIGKILL")
	}
}

// Restart starts the binary again on the same data directory (a new port).
func (w *Walkeeper) Restart(t testing.TB) {
	t.Helper()
	w.start(t)
}

// Log is what the process printed so far.
func (w *Walkeeper) Log() string { return w.log.String() }
