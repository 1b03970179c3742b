package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/internal/e2e"
)

// startRun runs Run in the background and waits for its listeners. stop
// cancels Run and returns its result; it may be called more than once.
func startRun(t testing.TB, cfg Config) (addrs Addrs, stop func() error) {
	t.Helper()
	ready := make(chan Addrs, 1)
	cfg.Ready = func(a Addrs) { ready <- a }
	if cfg.ListenPG == "" {
		cfg.ListenPG = "127.0.0.1:0"
	}
	if cfg.ListenHTTP == "" {
		cfg.ListenHTTP = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	select {
	case a := <-ready:
		var once sync.Once
		var runErr error
		stop = func() error {
			once.Do(func() {
				cancel()
				select {
				case runErr = <-done:
				case <-time.After(10 * time.Second):
					runErr = errors.New("Run did not stop within 10s")
				}
			})
			return runErr
		}
		t.Cleanup(func() { stop() })
		return a, stop
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not start")
	}
	panic("unreachable")
}

func TestRunLifecycle(t *testing.T) {
	dir := t.TempDir()
	var logs e2e.SyncBuffer
	addrs, stop := startRun(t, Config{DataDir: dir, ID: 7, NoSync: true, LogOutput: &logs, ListenPGTenantOnly: "127.0.0.1:0"})
	if !strings.Contains(logs.String(), "walkeeper listening: pg="+addrs.PG.String()+" http="+addrs.HTTP.String()+" datadir="+dir) {
		t.Fatalf("no listening line in log:\n%s", logs.String())
	}

	resp, err := http.Get("http://" + addrs.HTTP.String() + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(body)) != `{"id":7}` {
		t.Fatalf("status %q", body)
	}

	// A second process on the same data directory is refused.
	err = Run(context.Background(), Config{DataDir: dir, ID: 7, ListenPG: "127.0.0.1:0", ListenHTTP: "127.0.0.1:0", LogOutput: io.Discard})
	if !errors.Is(err, ErrDataDirLocked) {
		t.Fatalf("second Run: %v", err)
	}

	// An idle client connection is closed by shutdown, and Run returns nil.
	nc, err := net.Dial("tcp", addrs.PG.String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	time.Sleep(50 * time.Millisecond)
	if err := stop(); err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := nc.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("connection still open after shutdown: %d %v", n, err)
	}
	for _, a := range []net.Addr{addrs.PG, addrs.PGTenantOnly, addrs.HTTP} {
		if c, err := net.Dial("tcp", a.String()); err == nil {
			c.Close()
			t.Fatalf("%s still accepting after shutdown", a)
		}
	}
	// The lock is released: the directory can be used again.
	_, stop2 := startRun(t, Config{DataDir: dir, NoSync: true, LogOutput: io.Discard})
	if err := stop2(); err != nil {
		t.Fatal(err)
	}
}

func TestRunConfigErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"id required", Config{DataDir: dir}, ErrIDRequired},
		{"log format", Config{DataDir: dir, ID: 1, LogFormat: "xml"}, ErrLogFormat},
		{"yield longer than a keepalive", Config{DataDir: dir, ID: 1, ReplicationYieldMax: 2 * time.Second}, ErrYieldTooLong},
	}
	for _, tt := range tests {
		tt.cfg.ListenPG, tt.cfg.ListenHTTP, tt.cfg.LogOutput = "127.0.0.1:0", "127.0.0.1:0", io.Discard
		if err := Run(context.Background(), tt.cfg); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if err := Run(context.Background(), Config{DataDir: dir, ID: 1, PGAuthKeyPath: dir + "/missing", ListenPG: "127.0.0.1:0", ListenHTTP: "127.0.0.1:0", LogOutput: io.Discard}); err == nil {
		t.Error("missing key path accepted")
	}
	if err := Run(context.Background(), Config{DataDir: dir, ID: 1, Init: true, LogOutput: io.Discard}); err != nil {
		t.Errorf("--init: %v", err)
	}
}
