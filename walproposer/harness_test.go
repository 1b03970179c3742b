package walproposer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/server"
)

var (
	testTenant   = ids.MustParse("cf0480929707ee75372337efaa5ecf96")
	testTimeline = ids.MustParse("112ded66422aa5e953e5440fa5427ac4")
)

// syncConf makes the primary wait for the walproposer on every COMMIT and
// keep WAL for lagging walkeepers.
var syncConf = []string{
	"synchronous_standby_names = 'walproposer'",
	"wal_keep_size = '512MB'",
	"max_wal_senders = 20",
	"wal_sender_timeout = '10s'",
}

// keeper is an in-process walkeeper that can be stopped and restarted on
// the same address and data directory.
type keeper struct {
	t      *testing.T
	id     uint64
	dir    string
	addr   string
	http   string
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan error
}

func startKeepers(t *testing.T, n int) []*keeper {
	ks := make([]*keeper, n)
	for i := range ks {
		ks[i] = &keeper{t: t, id: uint64(i + 1), dir: t.TempDir(), addr: "127.0.0.1:0"}
		ks[i].start()
		t.Cleanup(ks[i].stop)
	}
	return ks
}

func (k *keeper) start() {
	k.t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	ready := make(chan server.Addrs, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := server.Config{DataDir: k.dir, ID: k.id, ListenPG: k.addr, ListenHTTP: "127.0.0.1:0", NoSync: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(a server.Addrs) { ready <- a }}
	var err error
	for attempt := 0; attempt < 50; attempt++ { // the old socket may linger briefly
		go func() { done <- server.Run(ctx, cfg) }()
		select {
		case a := <-ready:
			k.addr, k.http, k.cancel, k.done = a.PG.String(), a.HTTP.String(), cancel, done
			return
		case err = <-done:
			time.Sleep(100 * time.Millisecond)
		case <-time.After(10 * time.Second):
			k.t.Fatal("walkeeper did not start")
		}
	}
	cancel()
	k.t.Fatalf("walkeeper %d: %v", k.id, err)
}

func (k *keeper) stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cancel == nil {
		return
	}
	k.cancel()
	select {
	case <-k.done:
	case <-time.After(10 * time.Second):
		k.t.Errorf("walkeeper %d did not stop", k.id)
	}
	k.cancel = nil
}

// status runs TIMELINE_STATUS: flush_lsn, commit_lsn.
func (k *keeper) status(ctx context.Context) (flush, commit pgwal.LSN, err error) {
	return timelineStatus(ctx, k.addr)
}

// timelineStatus runs TIMELINE_STATUS on the walkeeper at addr.
func timelineStatus(ctx context.Context, addr string) (flush, commit pgwal.LSN, err error) {
	cfg, err := pgconn.ParseConfig(fmt.Sprintf("host=127.0.0.1 port=%s user=x dbname=x sslmode=disable", strings.Split(addr, ":")[1]))
	if err != nil {
		return 0, 0, err
	}
	cfg.RuntimeParams["options"] = fmt.Sprintf("-c tenant_id=%s timeline_id=%s", testTenant, testTimeline)
	c, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close(context.Background())
	res, err := c.Exec(ctx, "TIMELINE_STATUS").ReadAll()
	if err != nil {
		return 0, 0, err
	}
	if len(res) == 0 || len(res[0].Rows) == 0 {
		return 0, 0, errors.New("no timeline")
	}
	row := res[0].Rows[0]
	if flush, err = pgwal.ParseLSN(string(row[0])); err != nil {
		return 0, 0, err
	}
	commit, err = pgwal.ParseLSN(string(row[1]))
	return flush, commit, err
}

func addrs(ks []*keeper) []string {
	var out []string
	for _, k := range ks {
		out = append(out, k.addr)
	}
	return out
}

// testLogger logs to the test output when -v is given.
func testLogger(t *testing.T) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// runProposer runs a Proposer until the test ends (or the returned stop).
func runProposer(t *testing.T, cfg Config) (*Proposer, func()) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	cfg.TenantID, cfg.TimelineID = testTenant, testTimeline
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := p.Run(ctx); done <- err }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("Run did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return p, stop
}

func waitElected(t *testing.T, p *Proposer) Status {
	t.Helper()
	pgtest.WaitFor(t, 30*time.Second, "election", func() bool { return p.Status().Elected })
	return p.Status()
}

// exec runs one statement on c.
func execSQL(ctx context.Context, c *pgconn.PgConn, sql string) ([]*pgconn.Result, error) {
	return c.Exec(ctx, sql).ReadAll()
}

func mustExec(t *testing.T, c *pgconn.PgConn, sql string) []*pgconn.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := execSQL(ctx, c, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return res
}

// commitEnds reads the primary's WAL from start with pg_waldump and
// returns the end LSN (MAXALIGNed, as XactLastRecEnd) of each xid's COMMIT.
func commitEnds(t *testing.T, pg *pgtest.Cluster, start pgwal.LSN) map[uint32]pgwal.LSN {
	t.Helper()
	cmd := exec.Command(pgtest.Bin(t, "pg_waldump"), "-p", pg.WALDir(), "-s", start.String(), "-r", "Transaction")
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) { // it fails at the end of WAL, after printing
		t.Fatalf("pg_waldump: %v", err)
	}
	re := regexp.MustCompile(`len \(rec/tot\):\s*\d+/\s*(\d+), tx:\s*(\d+), lsn: ([0-9A-F]+/[0-9A-F]+), .*desc: COMMIT`)
	ends := map[uint32]pgwal.LSN{}
	for _, line := range strings.Split(string(out), "\n") {
		m := re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		tot, _ := strconv.Atoi(m[1])
		xid, _ := strconv.ParseUint(m[2], 10, 32)
		lsn, err := pgwal.ParseLSN(m[3])
		if err != nil {
			t.Fatal(err)
		}
		ends[uint32(xid)] = recordEnd(lsn, tot)
	}
	if len(ends) == 0 {
		t.Fatalf("pg_waldump found no commits from %s: %v\n%s", start, err, out)
	}
	return ends
}

// recordEnd is the MAXALIGNed end of a record of tot bytes at lsn, page
// headers included.
func recordEnd(lsn pgwal.LSN, tot int) pgwal.LSN {
	pos, rem := lsn, pgwal.LSN(tot)
	for {
		room := pgwal.LSN(pgwal.XLogBlockSize - pos.PageOffset())
		if rem <= room {
			return (pos + rem).Align8()
		}
		rem -= room
		pos += room
		if pos.SegmentOffset(pgwal.DefaultSegmentSize) == 0 {
			pos += pgwal.SizeOfXLogLongPHD
		} else {
			pos += pgwal.SizeOfXLogShortPHD
		}
	}
}

func pgbench(ctx context.Context, t *testing.T, pg *pgtest.Cluster, args ...string) *exec.Cmd {
	base := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(pg.Port), "-U", pgtest.Superuser}
	cmd := exec.CommandContext(ctx, pgtest.Bin(t, "pgbench"), append(base, append(args, "postgres")...)...)
	cmd.Env = append(os.Environ(), "PGSSLMODE=disable")
	return cmd
}

// walBytes reads WAL [from, to) from a walkeeper data directory.
func walBytes(t *testing.T, dataDir string, from, to pgwal.LSN) []byte {
	t.Helper()
	dir := filepath.Join(dataDir, testTenant.String(), testTimeline.String())
	var out []byte
	for pos := from; pos < to; {
		segNo := pos.SegmentNumber(pgwal.DefaultSegmentSize)
		name := filepath.Join(dir, pgwal.SegmentName(segNo, pgwal.DefaultSegmentSize))
		b, err := os.ReadFile(name)
		if errors.Is(err, os.ErrNotExist) {
			b, err = os.ReadFile(name + pgwal.PartialSuffix)
		}
		if err != nil {
			t.Fatalf("read WAL at %s: %v", pos, err)
		}
		off := pos.SegmentOffset(pgwal.DefaultSegmentSize)
		end := min(uint64(len(b)), off+uint64(to-pos))
		out = append(out, b[off:end]...)
		pos += pgwal.LSN(end - off)
	}
	return out
}

// sameWAL requires byte-identical WAL [from, to) in every data directory.
func sameWAL(t *testing.T, dirs []string, from, to pgwal.LSN) {
	t.Helper()
	first := walBytes(t, dirs[0], from, to)
	for i, d := range dirs[1:] {
		if !bytes.Equal(walBytes(t, d, from, to), first) {
			t.Fatalf("walkeeper %d's WAL [%s, %s) differs from walkeeper 1's", i+2, from, to)
		}
	}
}
