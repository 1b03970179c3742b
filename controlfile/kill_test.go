package controlfile

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/pgwal"
)

const (
	envKillDir   = "WALKEEPER_CONTROLFILE_KILL_DIR"
	envKillStart = "WALKEEPER_CONTROLFILE_KILL_START"
	envKillSync  = "WALKEEPER_CONTROLFILE_KILL_SYNC"
)

// killState is the i-th state the child writes. Its size varies with i, so
// a mix of two states would not decode.
func killState(i uint64) *State {
	s := layoutState()
	s.CommitLSN = pgwal.LSN(i * 8)
	s.Acceptor.Term = i
	s.Acceptor.TermHistory = nil
	for k := range i % 9 {
		s.Acceptor.TermHistory = append(s.Acceptor.TermHistory, TermLsn{Term: k + 1, LSN: pgwal.LSN(k * 0x100)})
	}
	s.PartialBackup = s.PartialBackup[:i%3]
	if i%2 == 0 {
		s.MConf = Configuration{} // even states are written as version 9
		s.CreationTS = time.Unix(0, 0).UTC()
	}
	return s
}

// killChild persists killState(start), killState(start+1), … until killed.
func killChild(dir string, start uint64, noSync bool) {
	for i := start; ; i++ {
		if err := Persist(dir, killState(i), noSync); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
}

// TestPersistSIGKILL re-executes the test binary as a child that persists
// states in a loop, kills it at random moments and checks that the file
// then holds, byte for byte, one of the states the child wrote.
func TestPersistSIGKILL(t *testing.T) {
	if dir := os.Getenv(envKillDir); dir != "" {
		start, _ := strconv.ParseUint(os.Getenv(envKillStart), 10, 64)
		killChild(dir, start, os.Getenv(envKillSync) == "0")
		return
	}
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	if err := Persist(dir, killState(0), false); err != nil {
		t.Fatal(err)
	}
	last := uint64(0)
	const rounds = 20
	for round := range rounds {
		sync := round%2 == 0
		cmd := exec.Command(os.Args[0], "-test.run=^TestPersistSIGKILL$", "-test.count=1")
		cmd.Env = append(os.Environ(), envKillDir+"="+dir,
			envKillStart+"="+strconv.FormatUint(last+1, 10), envKillSync+"="+map[bool]string{true: "1", false: "0"}[sync])
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(20+rand.IntN(80)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("round %d: child ended by itself: %v\n%s", round, err, stderr.String())
		}
		raw, err := readControl(dir)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		s, err := Decode(raw)
		if err != nil {
			t.Fatalf("round %d: load after SIGKILL: %v", round, err)
		}
		i := uint64(s.CommitLSN / 8)
		if i < last {
			t.Fatalf("round %d: state %d went back from %d", round, i, last)
		}
		if want := Encode(killState(i)); !bytes.Equal(raw, want) {
			t.Fatalf("round %d: file is not state %d byte for byte", round, i)
		}
		t.Logf("round %d (sync=%v): state %d (%d persists)", round, sync, i, i-last)
		last = i
	}
	if last < rounds {
		t.Fatalf("child made only %d persists in %d rounds", last, rounds)
	}
}
