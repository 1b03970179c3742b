package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/internal/e2e"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/proposer"
	"github.com/walkeeper/walkeeper/replication"
	"github.com/walkeeper/walkeeper/walproto"
)

// Pieces of TestBenchReplicationIngest: a walkeeper with a fresh timeline,
// the push, and readers that check every byte, in this process or in a
// helper process standing in for pageservers on other machines.

// replServer starts a walkeeper (fsync on unless noSync) and elects a
// proposer of a new timeline starting at start.
// replOpts are a replServer's settings.
type replOpts struct {
	noSync  bool // --no-sync
	copyWAL bool // --replication-sendfile=off (else on)
	noYield bool // --replication-yield-max=0
}

func replServer(ctx context.Context, t testing.TB, p *primary, start pgwal.LSN, o replOpts) (string, *proposer.Conn, func() error) {
	t.Helper()
	// The readers are on loopback, where the default (auto) copies: force
	// the path under test.
	mode := replication.ZeroCopyOn
	if o.copyWAL {
		mode = replication.ZeroCopyOff
	}
	var yieldMax time.Duration // the default
	if o.noYield {
		yieldMax = -1
	}
	// Each round's data directory goes when its server stops: rounds write
	// gigabytes in all, and a filling file system slowed later rounds.
	dir, err := os.MkdirTemp(t.TempDir(), "round-")
	if err != nil {
		t.Fatal(err)
	}
	addrs, stopRun := startRun(t, Config{DataDir: dir, ID: 1, NoSync: o.noSync, Logger: testLogger(t),
		ReplicationSendfile: mode, ReplicationYieldMax: yieldMax})
	stop := func() error {
		err := stopRun()
		os.RemoveAll(dir)
		return err
	}
	addr := addrs.PG.String()
	prop, _ := dialProposer(ctx, t, addr, p.pgVersion, p.sysID, 1)
	if err := prop.Elect(start, walproto.TermHistory{{Term: 1, LSN: start}}); err != nil {
		t.Fatal(err)
	}
	// Once the election is applied the readers find the timeline's start.
	if _, err := e2e.AwaitApplied(ctx, prop, start); err != nil {
		t.Fatal(err)
	}
	return addr, prop, stop
}

// pushWAL appends wal at start, each request committing what walkeeper has
// flushed so far, and returns the time from the first AppendRequest until
// walkeeper reports everything flushed. Then it commits everything, so
// readers can finish.
func pushWAL(ctx context.Context, t testing.TB, prop *proposer.Conn, wal []byte, start pgwal.LSN) time.Duration {
	t.Helper()
	end := start + pgwal.LSN(len(wal))
	flushed := make(chan pgwal.LSN, 1024)
	go func() {
		defer close(flushed)
		for {
			m, err := prop.Receive(ctx)
			if err != nil {
				return
			}
			if ar, ok := m.(walproto.AppendResponse); ok {
				flushed <- ar.FlushLSN
			}
		}
	}()
	began := time.Now()
	var commit pgwal.LSN
	for pos := start; pos < end; {
		for drained := false; !drained; {
			select {
			case f := <-flushed:
				commit = max(commit, f)
			default:
				drained = true
			}
		}
		n := min(pgwal.LSN(walproto.MaxWALPerAppend), end-pos)
		if err := prop.Append(pos, wal[pos-start:pos-start+n], commit, 0); err != nil {
			t.Fatal(err)
		}
		pos += n
	}
	for commit < end {
		f, ok := <-flushed
		if !ok {
			t.Fatal("proposer connection ended")
		}
		commit = max(commit, f)
	}
	took := time.Since(began)
	if err := prop.Append(end, nil, end, 0); err != nil {
		t.Fatal(err)
	}
	return took
}

// streamVerified reads a raw stream from start until it has received all
// of wal: every XLogData must continue where the last ended, stay within
// its wal_end and carry wal's bytes. spans, if not nil, collects the
// messages' [start, end).
func streamVerified(ctx context.Context, r *reader, start pgwal.LSN, wal []byte, spans *[][2]pgwal.LSN) error {
	end := start + pgwal.LSN(len(wal))
	for pos := start; pos < end; {
		m, err := r.next(ctx)
		if err != nil {
			return fmt.Errorf("reader at %s: %w", pos, err)
		}
		if m.tag != 'w' {
			continue
		}
		e := m.walStart + pgwal.LSN(len(m.data))
		switch {
		case m.walStart != pos || e > m.walEnd || e > end:
			return fmt.Errorf("XLogData [%s, %s) wal_end %s at position %s", m.walStart, e, m.walEnd, pos)
		case !bytes.Equal(m.data, wal[pos-start:e-start]):
			return fmt.Errorf("XLogData [%s, %s) differs from the pushed WAL", m.walStart, e)
		}
		if spans != nil {
			*spans = append(*spans, [2]pgwal.LSN{m.walStart, e})
		}
		pos = e
	}
	return nil
}

// startReaders attaches n streaming readers from start; wait returns
// once all received wal, with the first error.
func startReaders(ctx context.Context, t testing.TB, addr string, start pgwal.LSN, wal []byte, n int) (wait func() error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		r := dialReader(ctx, t, addr, fmt.Sprintf("bench-%d", i))
		if err := startStream(ctx, r.c, fmt.Sprintf("START_REPLICATION PHYSICAL %s", start)); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := streamVerified(ctx, r, start, wal, nil); err != nil {
				errs <- fmt.Errorf("reader %d: %w", i, err)
			}
		}()
	}
	return func() error {
		wg.Wait()
		close(errs)
		return <-errs
	}
}

// readerProcEnv names the helper process's job: "addr start walfile n
// repeat": n concurrent readers, repeat times over.
const readerProcEnv = "WALKEEPER_BENCH_READER_PROC"

// readersReady is the line the helper process prints once every stream
// has started.
const readersReady = "walkeeper bench readers ready"

// TestBenchReplicationReaderProcess is not a test: it is the helper
// process of TestBenchReplicationIngest, re-executed from the test
// binary, that runs its readers outside walkeeper's process.
func TestBenchReplicationReaderProcess(t *testing.T) {
	spec := os.Getenv(readerProcEnv)
	if spec == "" {
		t.Skip("helper process of TestBenchReplicationIngest")
	}
	f := strings.Fields(spec)
	if len(f) != 5 {
		t.Fatalf("%s=%q", readerProcEnv, spec)
	}
	start, err := pgwal.ParseLSN(f[1])
	if err != nil {
		t.Fatal(err)
	}
	n, err1 := strconv.Atoi(f[3])
	repeat, err2 := strconv.Atoi(f[4])
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	wal := mustRead(t, f[2])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for i := range repeat {
		wait := startReaders(ctx, t, f[0], start, wal, n)
		if i == 0 {
			fmt.Println(readersReady)
		}
		if err := wait(); err != nil {
			t.Fatal(err)
		}
	}
}

// readerProcess is a running helper process.
type readerProcess struct {
	cmd  *exec.Cmd
	out  bytes.Buffer // stdout after the ready line, and stderr
	rest io.Reader
}

// startReaderProcess runs n readers of addr in a helper process (under
// nice -n 19 if nice), repeat times over, and returns once the first n
// have started streaming.
func startReaderProcess(t testing.TB, addr string, start pgwal.LSN, walFile string, n, repeat int, nice bool) *readerProcess {
	t.Helper()
	args := []string{os.Args[0], "-test.run=^TestBenchReplicationReaderProcess$", "-test.count=1"}
	if nice {
		args = append([]string{"nice", "-n", "19"}, args...)
	}
	rp := &readerProcess{cmd: exec.Command(args[0], args[1:]...)}
	rp.cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %s %d %d", readerProcEnv, addr, start, walFile, n, repeat))
	rp.cmd.Stderr = &rp.out
	stdout, err := rp.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := rp.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(stdout)
	for {
		line, err := br.ReadString('\n')
		if strings.TrimSpace(line) == readersReady {
			break
		}
		if err != nil {
			_ = rp.cmd.Wait()
			t.Fatalf("reader process ended before its readers started: %v\n%s%s", err, line, rp.out.String())
		}
	}
	rp.rest = br
	return rp
}

// wait waits for the helper to finish and returns its CPU time.
func (rp *readerProcess) wait() (time.Duration, error) {
	var stdout bytes.Buffer
	_, _ = io.Copy(&stdout, rp.rest)
	if err := rp.cmd.Wait(); err != nil {
		return 0, fmt.Errorf("reader process: %w\n%s%s", err, stdout.String(), rp.out.String())
	}
	ru, ok := rp.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, errors.New("no rusage of the reader process")
	}
	return rusageCPU(ru), nil
}

func rusageCPU(ru *syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// selfCPU is this process's user+system CPU time so far.
func selfCPU(t testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return rusageCPU(&ru)
}
