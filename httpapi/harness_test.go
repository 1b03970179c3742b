package httpapi

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/walkeeper/walkeeper/auth"
	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/metrics"
	"github.com/walkeeper/walkeeper/timeline"
)

var update = flag.Bool("update", false, "rewrite testdata/*.json golden files")

const nodeID = 1

var (
	tenantA = ids.MustParse("cf0480929707ee75372337efaa5ecf96")
	tenantB = ids.MustParse("de200bd42b49cc1814412c7e592dd6e9")
	tlA     = ids.MustParse("112ded66422aa5e953e5440fa5427ac4")
	tlB     = ids.MustParse("212ded66422aa5e953e5440fa5427ac4")
	ttA     = ids.TTID{Tenant: tenantA, Timeline: tlA}
	ttB     = ids.TTID{Tenant: tenantA, Timeline: tlB}
)

// env is an API over a real registry in a temp dir, optionally with auth.
type env struct {
	t    *testing.T
	dir  string
	reg  *timeline.Registry
	srv  *httptest.Server
	priv ed25519.PrivateKey // nil without auth
}

func newEnv(t *testing.T, withAuth bool) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir()}
	e.reg = timeline.NewRegistry(timeline.Config{DataDir: e.dir, NodeID: nodeID, NoSync: true})
	if _, err := e.reg.Load(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.reg.Close)
	cfg := Config{NodeID: nodeID, Registry: e.reg, Metrics: metrics.New(),
		Info: NodeInfo{Workdir: "/data", ListenPGAddr: "127.0.0.1:5454", ListenHTTPAddr: "127.0.0.1:7676", NoSync: true}}
	if withAuth {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		e.priv, cfg.Auth = priv, auth.NewValidator([]ed25519.PublicKey{pub})
	}
	e.srv = httptest.NewServer(New(cfg))
	t.Cleanup(e.srv.Close)
	return e
}

// token signs claims with the env's key.
func (e *env) token(claims jwt.MapClaims) string {
	e.t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(e.priv)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) sk() string { return e.token(jwt.MapClaims{"scope": "safekeeperdata"}) }

type response struct {
	status int
	body   []byte
	header http.Header
}

// do sends a request; token "" sends no Authorization header.
func (e *env) do(method, path, body, token string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, body: b, header: resp.Header}
}

// mustDo is do expecting a status.
func (e *env) mustDo(method, path, body, token string, want int) response {
	e.t.Helper()
	r := e.do(method, path, body, token)
	if r.status != want {
		e.t.Fatalf("%s %s = %d %s, want %d", method, path, r.status, r.body, want)
	}
	return r
}

// create makes a timeline through the registry.
func (e *env) create(ttid ids.TTID) *timeline.Timeline {
	e.t.Helper()
	st, err := controlfile.New(ttid, controlfile.Configuration{}, controlfile.ServerInfo{PGVersion: 150004, SystemID: 42, WalSegSize: 16 << 20},
		0, 0, time.Unix(1700000000, 0))
	if err != nil {
		e.t.Fatal(err)
	}
	tl, err := e.reg.Create(st)
	if err != nil {
		e.t.Fatal(err)
	}
	return tl
}

// volatile fields are replaced before golden comparison.
var (
	volatile   = regexp.MustCompile(`"(start_time|finish_time|modified|wal_last_modified)":"[^"]*"`)
	creationTS = regexp.MustCompile(`"creation_ts":\{[^}]*\}`)
)

// golden compares a JSON body with testdata/<name>.json (indented), or
// rewrites it under -update.
func golden(t *testing.T, name string, body []byte) {
	t.Helper()
	body = volatile.ReplaceAll(body, []byte(`"$1":"<time>"`))
	body = creationTS.ReplaceAll(body, []byte(`"creation_ts":"<time>"`))
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(body), "", "  "); err != nil {
		t.Fatalf("%s: invalid JSON %q: %v", name, body, err)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("%s differs from %s:\n%s", name, path, buf.Bytes())
	}
}
