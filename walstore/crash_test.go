package walstore

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/pgwal"
)

// The crash helper is this test binary run again with crashHelperEnv set
// (see TestMain). It writes the real WAL the parent saved, in random
// pieces, flushing now and then, and prints "F <flush_lsn>" after every
// Flush returns; the parent SIGKILLs it at a random moment.
const crashHelperEnv = "WALSTORE_CRASH_HELPER"

func realConfig(dir string, sysID uint64) Config {
	return Config{Dir: dir, SegSize: pgwal.DefaultSegmentSize, PGVersion: pgVersion, SystemID: sysID}
}

func crashHelper() {
	fail := func(format string, args ...any) {
		fmt.Printf("E "+format+"\n", args...)
		os.Exit(2)
	}
	env := func(name string) uint64 {
		v, err := strconv.ParseUint(os.Getenv(name), 10, 64)
		if err != nil {
			fail("env %s: %v", name, err)
		}
		return v
	}
	start, sysID, seed := pgwal.LSN(env("WALSTORE_START")), env("WALSTORE_SYSID"), env("WALSTORE_SEED")
	data, err := os.ReadFile(os.Getenv("WALSTORE_WAL"))
	if err != nil {
		fail("%v", err)
	}
	s, err := Open(realConfig(os.Getenv("WALSTORE_DIR"), sysID), 0, 0)
	if err != nil {
		fail("open: %v", err)
	}
	if err := s.InitializeFirstSegment(start); err != nil {
		fail("init: %v", err)
	}
	if err := s.Truncate(start); err != nil {
		fail("truncate: %v", err)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	for pos := start; len(data) > 0; {
		n := min(len(data), 1+rng.IntN(pgwal.MaxSendSize))
		if err := s.Write(pos, data[:n]); err != nil {
			fail("write at %s: %v", pos, err)
		}
		pos += pgwal.LSN(n)
		data = data[n:]
		if rng.IntN(4) == 0 || len(data) == 0 {
			if err := s.Flush(); err != nil {
				fail("flush: %v", err)
			}
			fmt.Printf("F %d\n", uint64(s.FlushLSN()))
		}
	}
	fmt.Println("DONE")
	os.Exit(0)
}

// runCrashHelper starts the helper in dir and kills it after it reported
// killAfter flushes (plus a moment, to land inside a write). It returns
// the flush positions the helper reported.
func runCrashHelper(t *testing.T, w *realWAL, dir string, seed uint64, killAfter int, delay time.Duration) []pgwal.LSN {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashHelperEnv+"=1", "WALSTORE_DIR="+dir, "WALSTORE_WAL="+w.file,
		fmt.Sprintf("WALSTORE_START=%d", uint64(w.start)), fmt.Sprintf("WALSTORE_SYSID=%d", w.sysID),
		fmt.Sprintf("WALSTORE_SEED=%d", seed))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var flushed []pgwal.LSN
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "E ") {
			t.Fatalf("helper: %s\n%s", line, stderr.String())
		}
		if v, ok := strings.CutPrefix(line, "F "); ok {
			l, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				t.Fatalf("helper line %q", line)
			}
			flushed = append(flushed, pgwal.LSN(l))
			if len(flushed) == killAfter {
				time.Sleep(delay)
				cmd.Process.Kill()
				break
			}
		}
	}
	cmd.Wait()
	return flushed
}

// TestCrashKill SIGKILLs a writing process at random points and checks
// that every flushed LSN survives byte for byte, that recovery ends on a
// record boundary, and that writing can resume there.
func TestCrashKill(t *testing.T) {
	w := getRealWAL(t)
	rounds := 6
	if testing.Short() {
		rounds = 2
	}
	if v, err := strconv.Atoi(os.Getenv("WALSTORE_CRASH_ROUNDS")); err == nil {
		rounds = v
	}
	// Kill points differ from run to run; WALSTORE_CRASH_SEED replays one.
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("WALSTORE_CRASH_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("WALSTORE_CRASH_SEED=%d", seed)
	flushesPerRun := len(w.data) / (pgwal.MaxSendSize / 2) / 4
	for i := range rounds {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			dir := t.TempDir()
			killAfter := 1 + rng.IntN(flushesPerRun)
			delay := time.Duration(rng.IntN(3000)) * time.Microsecond
			flushed := runCrashHelper(t, w, dir, rng.Uint64(), killAfter, delay)
			last := w.start
			if len(flushed) > 0 {
				last = flushed[len(flushed)-1]
			}
			// Reopen at an earlier flushed boundary, as the persisted
			// commit_lsn lags the flush position.
			commit := w.start
			if k := len(flushed) - 1 - rng.IntN(min(len(flushed), 8)+1); k >= 0 && k < len(flushed) {
				commit = flushed[k]
			}
			s, err := Open(realConfig(dir, w.sysID), commit, w.start)
			if err != nil {
				t.Fatalf("reopen at commit %s: %v", commit, err)
			}
			defer s.Close()
			end := s.FlushLSN()
			t.Logf("killed after %d flushes (+%v); last flushed %s, commit %s, recovered %s", len(flushed), delay, last, commit, end)
			if end < last {
				t.Fatalf("recovered end %s is before flushed %s", end, last)
			}
			if !w.isBoundary(end) || end > w.end {
				t.Fatalf("recovered end %s is not a record boundary", end)
			}
			if s.WriteLSN() != end || s.WriteRecordLSN() != end || s.RawFlushLSN() != end {
				t.Fatalf("positions differ: write %s record %s raw flush %s", s.WriteLSN(), s.WriteRecordLSN(), s.RawFlushLSN())
			}
			checkReadBack(t, s, w, end)
			if i%3 == 0 {
				resumeWriting(t, s, w, end, rng)
			}
		})
	}
}

// checkReadBack compares [start, end) read through a Reader with the WAL.
func checkReadBack(t *testing.T, s *Store, w *realWAL, end pgwal.LSN) {
	t.Helper()
	r := s.NewReader(w.start, w.start)
	defer r.Close()
	buf := make([]byte, pgwal.MaxSendSize)
	for pos := w.start; pos < end; {
		n, err := r.ReadAt(buf[:min(len(buf), int(end-pos))], pos)
		if err != nil || n == 0 {
			t.Fatalf("ReadAt(%s): %d, %v", pos, n, err)
		}
		if !bytes.Equal(buf[:n], w.bytesAt(pos, pos+pgwal.LSN(n))) {
			t.Fatalf("WAL at %s differs after recovery", pos)
		}
		pos += pgwal.LSN(n)
	}
}

// resumeWriting truncates at end, as the next election does, and writes
// the rest of the WAL.
func resumeWriting(t *testing.T, s *Store, w *realWAL, end pgwal.LSN, rng *rand.Rand) {
	t.Helper()
	if err := s.Truncate(end); err != nil {
		t.Fatal(err)
	}
	for pos := end; pos < w.end; {
		n := min(int(w.end-pos), 1+rng.IntN(pgwal.MaxSendSize))
		if err := s.Write(pos, w.bytesAt(pos, pos+pgwal.LSN(n))); err != nil {
			t.Fatalf("resume write at %s: %v", pos, err)
		}
		pos += pgwal.LSN(n)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if s.FlushLSN() != w.end {
		t.Fatalf("after resuming, flush_lsn %s, want %s", s.FlushLSN(), w.end)
	}
}
