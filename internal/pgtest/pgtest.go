// Package pgtest starts throwaway PostgreSQL 15 servers for tests: initdb
// and pg_ctl in a temporary directory, on a free loopback port, as an
// unprivileged OS user when the test runs as root. It also finds the real
// client tools (psql, pg_waldump, pg_receivewal, pgbench).
//
// Tests skip when the binaries are absent, except under CI=true, where a
// missing PostgreSQL is a failure: .ci/run installs it.
package pgtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Superuser is the database superuser initdb creates.
const Superuser = "postgres"

var (
	binDirOnce sync.Once
	binDir     string
	binDirErr  error
)

// BinDir finds the directory holding PostgreSQL 15's server binaries:
// $PG_BINDIR, then /usr/lib/postgresql/15/bin, then `pg_config --bindir`.
func BinDir() (string, error) {
	binDirOnce.Do(func() {
		candidates := []string{os.Getenv("PG_BINDIR"), "/usr/lib/postgresql/15/bin"}
		if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
			candidates = append(candidates, strings.TrimSpace(string(out)))
		}
		for _, dir := range candidates {
			if dir == "" {
				continue
			}
			if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
				binDir = dir
				return
			}
		}
		binDirErr = fmt.Errorf("PostgreSQL 15 binaries not found (set PG_BINDIR or install postgresql-15)")
	})
	return binDir, binDirErr
}

// Require returns the binary directory, or skips the test when PostgreSQL is
// not installed. Under CI=true it fails instead.
func Require(t testing.TB) string {
	t.Helper()
	dir, err := BinDir()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	return dir
}

// Bin returns the path of a PostgreSQL program, skipping like Require.
func Bin(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(Require(t), name)
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// osUser is the unprivileged account PostgreSQL runs as when we are root.
type osUser struct {
	uid, gid uint32
	home     string
}

func unprivileged() (*osUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &osUser{uid: uint32(uid), gid: uint32(gid), home: u.HomeDir}, nil
	}
	return nil, fmt.Errorf("running as root and no unprivileged user (postgres, nobody) exists")
}

// Command builds a command that runs as the unprivileged PostgreSQL user
// when the test runs as root, and as the current user otherwise.
func Command(ctx context.Context, t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	u, err := unprivileged()
	if err != nil {
		t.Fatal(err)
	}
	if u != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid}}
		cmd.Env = append(os.Environ(), "HOME="+os.TempDir())
		cmd.Dir = os.TempDir()
	}
	return cmd
}

// OwnedDir makes a fresh directory under the system temp dir that the
// PostgreSQL user owns, and removes it when the test ends. Use it for data
// directories of standbys and for pg_basebackup targets.
func OwnedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "walkeeper-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	u, err := unprivileged()
	if err != nil {
		t.Fatal(err)
	}
	if u != nil {
		if err := os.Chown(dir, int(u.uid), int(u.gid)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func run(t testing.TB, cmd *exec.Cmd) string {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out.String())
	}
	return out.String()
}

// Options tune a new cluster.
type Options struct {
	// Conf lines are appended to postgresql.conf.
	Conf []string
	// HBA lines are prepended to pg_hba.conf.
	HBA []string
	// InitArgs are extra initdb arguments.
	InitArgs []string
}

// Cluster is a running PostgreSQL server owned by one test.
type Cluster struct {
	BinDir  string
	BaseDir string // owned by the PostgreSQL user; holds data and the socket
	DataDir string
	Port    int
	t       testing.TB
	stopped bool
}

// Start runs initdb and starts a server. It is stopped when the test ends.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c := &Cluster{BinDir: Require(t), BaseDir: OwnedDir(t), t: t}
	c.DataDir = filepath.Join(c.BaseDir, "data")
	ctx := context.Background()
	args := append([]string{"-D", c.DataDir, "-U", Superuser, "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"}, opts.InitArgs...)
	run(t, Command(ctx, t, filepath.Join(c.BinDir, "initdb"), args...))
	conf := []string{
		"listen_addresses = '127.0.0.1'",
		fmt.Sprintf("unix_socket_directories = '%s'", c.BaseDir),
		"wal_level = replica",
		"max_wal_senders = 10",
		"max_connections = 50",
		"shared_buffers = 32MB",
		"fsync = off",
		"logging_collector = off",
	}
	c.appendFile("postgresql.conf", append(conf, opts.Conf...))
	if len(opts.HBA) > 0 {
		hba := filepath.Join(c.DataDir, "pg_hba.conf")
		old, err := os.ReadFile(hba)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(hba, []byte(strings.Join(opts.HBA, "\n")+"\n"+string(old)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c.startOnFreePort()
	t.Cleanup(c.Stop)
	return c
}

func (c *Cluster) appendFile(name string, lines []string) {
	f, err := os.OpenFile(filepath.Join(c.DataDir, name), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("\n" + strings.Join(lines, "\n") + "\n"); err != nil {
		c.t.Fatal(err)
	}
}

// startOnFreePort starts the server, retrying with another port if the one
// picked was taken in the meantime.
func (c *Cluster) startOnFreePort() {
	var lastErr string
	for attempt := 0; attempt < 5; attempt++ {
		c.Port = FreePort(c.t)
		cmd := Command(context.Background(), c.t, filepath.Join(c.BinDir, "pg_ctl"), "start", "-w", "-t", "60",
			"-D", c.DataDir, "-l", filepath.Join(c.BaseDir, "server.log"), "-o", fmt.Sprintf("-p %d", c.Port))
		out, err := cmd.CombinedOutput()
		if err == nil {
			return
		}
		log, _ := os.ReadFile(filepath.Join(c.BaseDir, "server.log"))
		lastErr = fmt.Sprintf("%v\n%s\n%s", err, out, log)
		if !strings.Contains(string(log), "could not bind") && !strings.Contains(string(log), "in use") {
			break
		}
	}
	c.t.Fatalf("pg_ctl start: %s", lastErr)
}

// Stop stops the server (fast shutdown). It is safe to call twice.
func (c *Cluster) Stop() {
	if c.stopped {
		return
	}
	c.stopped = true
	cmd := Command(context.Background(), c.t, filepath.Join(c.BinDir, "pg_ctl"), "stop", "-w", "-m", "fast", "-D", c.DataDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Logf("pg_ctl stop: %v\n%s", err, out)
	}
}

// ConnString is a libpq connection string for database db.
func (c *Cluster) ConnString(db string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable", c.Port, Superuser, db)
}

// Connect opens a pgconn connection to the postgres database.
func (c *Cluster) Connect(ctx context.Context) (*pgconn.PgConn, error) {
	return pgconn.Connect(ctx, c.ConnString("postgres"))
}

// Psql runs SQL through the real psql binary and returns its unaligned,
// tuples-only output with the trailing newline removed.
func (c *Cluster) Psql(t testing.TB, sql string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(c.BinDir, "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-d", c.ConnString("postgres"), "-c", sql)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("psql %q: %v\n%s", sql, err, stderr.String())
	}
	return strings.TrimRight(stdout.String(), "\n")
}

// WALDir is the server's pg_wal directory.
func (c *Cluster) WALDir() string { return filepath.Join(c.DataDir, "pg_wal") }

// WaitFor polls cond every 50ms until it holds or the timeout passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
