package walproposer

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/internal/pgtest"
)

// procKeeper is a walkeeper process that can be SIGKILLed and restarted on
// the same ports and data directory.
type procKeeper struct {
	t       *testing.T
	bin     string
	id      int
	dir     string
	addr    string
	http    string
	logPath string
	cmd     *exec.Cmd
	exited  chan error
}

// buildWalkeeper builds cmd/walkeeper (without -race: the chaos test
// measures the system, not the detector).
func buildWalkeeper(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "walkeeper")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/walkeeper/walkeeper/cmd/walkeeper").CombinedOutput()
	if err != nil {
		t.Fatalf("go build walkeeper: %v\n%s", err, out)
	}
	return bin
}

func startProcKeepers(t *testing.T, bin string, n int) []*procKeeper {
	ks := make([]*procKeeper, n)
	for i := range ks {
		base := t.TempDir()
		ks[i] = &procKeeper{t: t, bin: bin, id: i + 1, dir: filepath.Join(base, "data"), logPath: filepath.Join(base, "walkeeper.log"),
			addr: "127.0.0.1:" + strconv.Itoa(pgtest.FreePort(t)), http: "127.0.0.1:" + strconv.Itoa(pgtest.FreePort(t))}
		ks[i].start()
		t.Cleanup(ks[i].kill)
	}
	return ks
}

func (k *procKeeper) start() {
	k.t.Helper()
	logf, err := os.OpenFile(k.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		k.t.Fatal(err)
	}
	defer logf.Close()
	k.cmd = exec.Command(k.bin, "-D", k.dir, "--id", strconv.Itoa(k.id), "--listen-pg", k.addr, "--listen-http", k.http)
	k.cmd.Stdout, k.cmd.Stderr = logf, logf
	if err := k.cmd.Start(); err != nil {
		k.t.Fatal(err)
	}
	k.exited = make(chan error, 1)
	go func(cmd *exec.Cmd, ch chan error) { ch <- cmd.Wait() }(k.cmd, k.exited)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", k.addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-k.exited:
			log, _ := os.ReadFile(k.logPath)
			k.t.Fatalf("walkeeper %d exited: %v\n%s", k.id, err, log)
		default:
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("walkeeper %d does not listen on %s", k.id, k.addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill SIGKILLs the process and waits for it; a no-op when not running.
func (k *procKeeper) kill() {
	if k.cmd == nil {
		return
	}
	k.cmd.Process.Signal(syscall.SIGKILL)
	<-k.exited
	k.cmd = nil
}

// TestChaos SIGKILLs a random walkeeper (never more than one at a time, so
// a quorum stays up) every few seconds while pgbench runs, and twice
// replaces the walproposer with a new one (a new term); afterwards the
// walkeepers hold byte-identical WAL up to the commit point, pgbench saw no
// failed transaction, and a standby streaming from a random walkeeper has
// the primary's table checksums. About 90 s: run with make chaos.
func TestChaos(t *testing.T) {
	if os.Getenv("WALPROPOSER_CHAOS") == "" {
		t.Skip("SIGKILL chaos for 60 s: run make chaos (WALPROPOSER_CHAOS=1)")
	}
	seconds := 60
	if s, err := strconv.Atoi(os.Getenv("WALPROPOSER_CHAOS_SECONDS")); err == nil && s > 0 {
		seconds = s
	}
	ks := startProcKeepers(t, buildWalkeeper(t), 3)
	var kaddrs []string
	for _, k := range ks {
		kaddrs = append(kaddrs, k.addr)
	}
	pg := pgtest.Start(t, pgtest.Options{Conf: append(syncConf, "hot_standby = on")})
	cfg := Config{Safekeepers: kaddrs, Primary: pg.ConnString("postgres"), ReconnectTimeout: 500 * time.Millisecond}
	p, stopP := runProposer(t, cfg)
	st := waitElected(t, p)
	waitSyncStandby(t, pg)
	ctx := context.Background()
	if out, err := pgbench(ctx, t, pg, "-i", "-s", "5", "-q").CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	bench := pgbench(ctx, t, pg, "-n", "-c", "4", "-T", strconv.Itoa(seconds))
	var benchOut strings.Builder
	bench.Stdout, bench.Stderr = &benchOut, &benchOut
	if err := bench.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- bench.Wait() }()
	kills, restarts := 0, 0
	var benchErr error
	began := time.Now()
chaos:
	for {
		select {
		case benchErr = <-done:
			break chaos
		case <-time.After(time.Duration(1500+rand.IntN(2500)) * time.Millisecond):
		}
		// Twice per run, the walproposer itself is replaced by a new one.
		if elapsed := time.Since(began); restarts < 2 && elapsed > time.Duration(restarts+1)*time.Duration(seconds)*time.Second/3 {
			stopP()
			p, stopP = runProposer(t, cfg)
			restarts++
			continue
		}
		k := ks[rand.IntN(len(ks))]
		k.kill()
		kills++
		time.Sleep(time.Duration(500+rand.IntN(2000)) * time.Millisecond)
		k.start()
	}
	if benchErr != nil {
		t.Fatalf("pgbench: %v\n%s", benchErr, benchOut.String())
	}
	t.Logf("%d SIGKILLs and %d walproposer restarts in %d s; pgbench: %s", kills, restarts, seconds, tpsLine(benchOut.String()))
	if !strings.Contains(benchOut.String(), "number of failed transactions: 0 ") {
		t.Fatalf("pgbench saw failed transactions:\n%s", benchOut.String())
	}

	waitElected(t, p)
	end := p.CommitLSN()
	if end == 0 {
		pgtest.WaitFor(t, 10*time.Second, "a commit in the last term", func() bool { return p.CommitLSN() > 0 })
		end = p.CommitLSN()
	}
	pgtest.WaitFor(t, 30*time.Second, "every walkeeper to flush "+end.String(), func() bool {
		for _, k := range ks {
			if f, _, err := timelineStatus(ctx, k.addr); err != nil || f < end {
				return false
			}
		}
		return true
	})
	sameWAL(t, []string{ks[0].dir, ks[1].dir, ks[2].dir}, st.TermStart, end)
	t.Logf("walkeepers hold identical WAL [%s, %s) after %d SIGKILLs; last term %d", st.TermStart, end, kills, p.Status().Term)

	k := ks[rand.IntN(len(ks))]
	if err := walkeeperServesReplication(t, k.addr, st.TermStart); errors.Is(err, errNoReplication) {
		t.Logf("NOT CHECKED (standby from a walkeeper): %v", err)
		return
	}
	standby := startStandby(t, pg, k.addr)
	checkStandby(t, pg, standby)
}
