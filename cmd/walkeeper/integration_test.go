package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/walkeeper/walkeeper/auth"
	"github.com/walkeeper/walkeeper/internal/e2e"
	"github.com/walkeeper/walkeeper/internal/pgtest"
)

const (
	tenantHex   = "cf0480929707ee75372337efaa5ecf96"
	timelineHex = "112ded66422aa5e953e5440fa5427ac4"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// walkeeperBin builds cmd/walkeeper once per test run.
func walkeeperBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		if buildDir, buildErr = os.MkdirTemp("", "walkeeper-bin-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "walkeeper")
		out, err := exec.Command(goBin, "build", "-race", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is a running walkeeper binary.
type proc struct {
	cmd          *exec.Cmd
	dataDir      string
	pg, http     string
	pgTenantOnly string
	stdout       *e2e.SyncBuffer
	exited       chan error
}

// startWalkeeper runs the binary with JSON logs on port 0 and reads the
// bound addresses from its "walkeeper listening" line.
func startWalkeeper(t *testing.T, args ...string) *proc {
	t.Helper()
	bin := walkeeperBin(t)
	dataDir := filepath.Join(t.TempDir(), "data") // created by walkeeper, mode 0700
	args = append([]string{"-D", dataDir, "--id", "1", "--no-sync", "--log-format=json",
		"--listen-pg", "127.0.0.1:0", "--listen-http=127.0.0.1:0"}, args...)
	p := &proc{cmd: exec.Command(bin, args...), dataDir: dataDir, stdout: &e2e.SyncBuffer{}, exited: make(chan error, 1)}
	pr, pw := io.Pipe()
	p.cmd.Stdout = pw
	var stderr e2e.SyncBuffer
	p.cmd.Stderr = &stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait(); pw.Close() }()
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		found := false
		for sc.Scan() {
			line := sc.Text()
			p.stdout.Write([]byte(line + "\n"))
			if !found && strings.Contains(line, "walkeeper listening: ") {
				var rec struct{ PG, HTTP, PGTenantOnly string }
				var raw map[string]any
				err := json.Unmarshal([]byte(line), &raw)
				if err == nil {
					rec.PG, _ = raw["pg"].(string)
					rec.HTTP, _ = raw["http"].(string)
					rec.PGTenantOnly, _ = raw["pg_tenant_only"].(string)
					p.pg, p.http, p.pgTenantOnly = rec.PG, rec.HTTP, rec.PGTenantOnly
				}
				found = true
				ready <- err
			}
		}
		if !found {
			ready <- fmt.Errorf("walkeeper exited before listening; stderr: %s", stderr.String())
		}
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		t.Fatal("walkeeper did not start")
	}
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// stop signals the process and requires a clean exit (status 0).
func (p *proc) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		p.exited <- err
		if err != nil {
			t.Fatalf("walkeeper exit after %v: %v\n%s", sig, err, p.stdout.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("walkeeper did not exit after %v", sig)
	}
}

// psqlResult is one psql run.
type psqlResult struct {
	stdout, stderr string
	code           int
}

// psql runs the real psql against addr with the given options and
// password (empty: none), one -c per command, errors not stopping it.
func psql(t *testing.T, addr, options, password string, cmds ...string) psqlResult {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	conn := fmt.Sprintf("host=%s port=%s dbname=replication sslmode=prefer connect_timeout=10", host, port)
	if options != "" {
		conn += fmt.Sprintf(" options='%s'", options)
	}
	args := []string{"-X", "-A", "-w", "-v", "ON_ERROR_STOP=0", conn}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, pgtest.Bin(t, "psql"), args...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "PGUSER=walkeeper_test", "PGAPPNAME=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return psqlResult{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

var ttidOptions = "-c tenant_id=" + tenantHex + " timeline_id=" + timelineHex

// TestPsqlAgainstBinary drives the real walkeeper binary with the real psql:
// one session runs every admin command, including failing ones, and keeps
// going after each error.
func TestPsqlAgainstBinary(t *testing.T) {
	pgtest.Require(t)
	p := startWalkeeper(t)
	r := psql(t, p.pg, ttidOptions, "",
		"TIMELINE_STATUS",
		"IDENTIFY_SYSTEM",
		"NO_SUCH_COMMAND",
		"set datestyle to ISO",
		"SHOW wal_segment_size",
		"SHOW data_directory_mode",
		"TIMELINE_STATUS",
	)
	wantOut := "flush_lsn|commit_lsn\n(0 rows)\n" +
		"SELECT 1\n" +
		"wal_segment_size\n16MB\n(1 row)\n" +
		"data_directory_mode\n0700\n(1 row)\n" +
		"flush_lsn|commit_lsn\n(0 rows)\n"
	if r.stdout != wantOut {
		t.Errorf("psql stdout:\n%s\nwant:\n%s", r.stdout, wantOut)
	}
	wantErr := "ERROR:  Timeline " + tenantHex + "/" + timelineHex + " was not found in global map\n" +
		"ERROR:  unsupported command NO_SUCH_COMMAND\n"
	if r.stderr != wantErr {
		t.Errorf("psql stderr:\n%s\nwant:\n%s", r.stderr, wantErr)
	}
	if r.code != 0 {
		t.Errorf("psql exit %d", r.code)
	}

	r = psql(t, p.pg, "", "", "TIMELINE_STATUS")
	if r.code != 1 || r.stderr != "ERROR:  tenantid is required\n" {
		t.Errorf("without ids: exit %d, stderr %q", r.code, r.stderr)
	}
	r = psql(t, p.pg, "-c tenant_id="+tenantHex, "", "IDENTIFY_SYSTEM")
	if r.code != 1 || r.stderr != "ERROR:  timelineid is required\n" {
		t.Errorf("without timeline: exit %d, stderr %q", r.code, r.stderr)
	}
	// A second process on the same data directory is refused by the
	// pid-file lock; a mismatching --id is refused too.
	for _, args := range [][]string{{"--id", "1"}, {"--id", "2"}} {
		out, err := exec.Command(walkeeperBin(t), append([]string{"-D", p.dataDir, "--listen-pg=127.0.0.1:0", "--listen-http=127.0.0.1:0"}, args...)...).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "data directory is in use by another process") {
			t.Errorf("second walkeeper %v: %v\n%s", args, err, out)
		}
	}
	if !strings.Contains(p.stdout.String(), `"conn_id":`) {
		t.Errorf("no conn_id in logs:\n%s", p.stdout.String())
	}
	p.stop(t, syscall.SIGTERM)

	// After a clean exit the id is kept; a different --id is refused.
	out, err := exec.Command(walkeeperBin(t), "-D", p.dataDir, "--id", "2", "--listen-pg=127.0.0.1:0", "--listen-http=127.0.0.1:0").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "--id does not match the stored node id") {
		t.Errorf("restart with another id: %v\n%s", err, out)
	}
	if id, err := os.ReadFile(filepath.Join(p.dataDir, "safekeeper.id")); err != nil || string(id) != "1" {
		t.Errorf("safekeeper.id %q %v", id, err)
	}
}

// keyPair is an Ed25519 key with its public half written as PEM.
type keyPair struct {
	priv    ed25519.PrivateKey
	pemPath string
}

func newKeyPair(t *testing.T, dir, name string) keyPair {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	data, err := auth.MarshalPublicKey(pub) // x509.MarshalPKIXPublicKey, PEM "PUBLIC KEY"
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return keyPair{priv: priv, pemPath: path}
}

func (k keyPair) token(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const jwtRefused = "ERROR:  JWT authentication error"

// TestPsqlJWT is the auth matrix with psql's PGPASSWORD carrying the token.
func TestPsqlJWT(t *testing.T) {
	pgtest.Require(t)
	keys := newKeyPair(t, t.TempDir(), "auth_public_key.pem")
	stranger := newKeyPair(t, t.TempDir(), "other.pem")
	p := startWalkeeper(t, "--pg-auth-public-key-path", keys.pemPath,
		"--listen-pg-tenant-only=127.0.0.1:0", "--pg-tenant-only-auth-public-key-path", keys.pemPath)

	hs256, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"scope": "safekeeperdata"}).SignedString([]byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	tenantTok := keys.token(t, jwt.MapClaims{"scope": "tenant", "tenant_id": tenantHex})
	skTok := keys.token(t, jwt.MapClaims{"scope": "safekeeperdata"})
	tests := []struct {
		name, addr, token string
		ok                bool
		wantErr           string
		code              int
	}{
		{name: "tenant token", addr: p.pg, token: tenantTok, ok: true},
		{name: "safekeeperdata token", addr: p.pg, token: skTok, ok: true},
		{name: "tenant token with exp", addr: p.pg, token: keys.token(t, jwt.MapClaims{"scope": "tenant", "tenant_id": tenantHex, "exp": time.Now().Add(time.Hour).Unix()}), ok: true},
		// libpq itself refuses to send an empty password, so the server's
		// JWT error for an empty token is pinned in pgwire's wire tests.
		{name: "no token", addr: p.pg, token: "", wantErr: "no password supplied", code: 2},
		{name: "garbage token", addr: p.pg, token: "not-a-jwt", wantErr: jwtRefused, code: 2},
		{name: "another tenant's token", addr: p.pg, token: keys.token(t, jwt.MapClaims{"scope": "tenant", "tenant_id": timelineHex}), wantErr: jwtRefused, code: 1},
		{name: "token signed by another key", addr: p.pg, token: stranger.token(t, jwt.MapClaims{"scope": "safekeeperdata"}), wantErr: jwtRefused, code: 2},
		{name: "expired token", addr: p.pg, token: keys.token(t, jwt.MapClaims{"scope": "safekeeperdata", "exp": time.Now().Add(-2 * time.Minute).Unix()}), wantErr: jwtRefused, code: 2},
		{name: "HS256 token", addr: p.pg, token: hs256, wantErr: jwtRefused, code: 2},
		{name: "admin scope", addr: p.pg, token: keys.token(t, jwt.MapClaims{"scope": "admin"}), wantErr: jwtRefused, code: 1},
		{name: "tenant-only: tenant token", addr: p.pgTenantOnly, token: tenantTok, ok: true},
		{name: "tenant-only: safekeeperdata refused", addr: p.pgTenantOnly, token: skTok, wantErr: jwtRefused, code: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := psql(t, tt.addr, ttidOptions, tt.token, "TIMELINE_STATUS")
			if tt.ok {
				if r.code != 0 || r.stdout != "flush_lsn|commit_lsn\n(0 rows)\n" {
					t.Fatalf("exit %d\nstdout %q\nstderr %q", r.code, r.stdout, r.stderr)
				}
				return
			}
			if r.code != tt.code || !strings.Contains(r.stderr, tt.wantErr) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", r.code, tt.code, r.stderr, tt.wantErr)
			}
		})
	}
	p.stop(t, syscall.SIGINT)
}

// TestPsqlJWTKeyDirectory: a directory of two keys, the second one signs.
func TestPsqlJWTKeyDirectory(t *testing.T) {
	pgtest.Require(t)
	dir := t.TempDir()
	newKeyPair(t, dir, "a_first.pem")
	second := newKeyPair(t, dir, "b_second.pem")
	stranger := newKeyPair(t, t.TempDir(), "other.pem")
	p := startWalkeeper(t, "--pg-auth-public-key-path="+dir)
	r := psql(t, p.pg, ttidOptions, second.token(t, jwt.MapClaims{"scope": "safekeeperdata"}), "TIMELINE_STATUS")
	if r.code != 0 {
		t.Fatalf("second key refused: exit %d, %q", r.code, r.stderr)
	}
	r = psql(t, p.pg, ttidOptions, stranger.token(t, jwt.MapClaims{"scope": "safekeeperdata"}), "TIMELINE_STATUS")
	if r.code != 2 || !strings.Contains(r.stderr, jwtRefused) {
		t.Fatalf("stranger accepted: exit %d, %q", r.code, r.stderr)
	}
}

// TestPgReceivewalGetsToIdentifySystem: pg_receivewal asks SHOW
// wal_segment_size and SHOW data_directory_mode first (Neon's safekeeper
// refuses them); walkeeper answers, so it stops only at IDENTIFY_SYSTEM,
// where the timeline does not exist yet.
func TestPgReceivewalGetsToIdentifySystem(t *testing.T) {
	bin := pgtest.Bin(t, "pg_receivewal")
	p := startWalkeeper(t)
	host, port, _ := strings.Cut(p.pg, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-D", t.TempDir(), "-n", "--no-sync",
		"-d", fmt.Sprintf("host=%s port=%s options='%s'", host, port, ttidOptions)).CombinedOutput()
	want := `could not send replication command "IDENTIFY_SYSTEM": ERROR:  Timeline ` + tenantHex + "/" + timelineHex + " was not found in global map"
	if err == nil || !strings.Contains(string(out), want) {
		t.Fatalf("pg_receivewal: %v\n%s\nwant %q", err, out, want)
	}
}
