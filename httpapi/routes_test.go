package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/pgwal"
)

const tlPath = "/v1/tenant/cf0480929707ee75372337efaa5ecf96/timeline/112ded66422aa5e953e5440fa5427ac4"

// createBody is a create request with a membership configuration.
const createBody = `{"tenant_id":"cf0480929707ee75372337efaa5ecf96","timeline_id":"112ded66422aa5e953e5440fa5427ac4",
 "mconf":{"generation":1,"members":[{"id":1,"host":"sk1","pg_port":5454},{"id":2,"host":"sk2","pg_port":5454}],"new_members":null},
 "pg_version":150004,"system_id":7310000000000000001,"start_lsn":"0/1000028","commit_lsn":"0/2000000"}`

func TestStatusAndRequestID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	r := e.mustDo("GET", "/v1/status", "", "", 200)
	golden(t, "status", r.body)
	if len(r.header.Get(RequestIDHeader)) != 32 {
		t.Fatalf("generated request id %q", r.header.Get(RequestIDHeader))
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/status", nil)
	req.Header.Set(RequestIDHeader, "abc-123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get(RequestIDHeader); got != "abc-123" {
		t.Fatalf("request id not echoed: %q", got)
	}
	// Errors carry it too, and unknown routes answer {"msg"} 404.
	r = e.mustDo("GET", "/v1/nope", "", "", 404)
	if r.header.Get(RequestIDHeader) == "" || !strings.Contains(string(r.body), `"msg":`) {
		t.Fatalf("unknown route: %s %v", r.body, r.header)
	}
}

func TestMetricsRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	r := e.mustDo("GET", "/metrics", "", "", 200)
	for _, name := range []string{"safekeeper_write_wal_seconds", "safekeeper_flush_wal_seconds", "go_goroutines"} {
		if !strings.Contains(string(r.body), name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

func TestCreateListStatusDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	r := e.mustDo("POST", "/v1/tenant/timeline", createBody, "", 200)
	if strings.TrimSpace(string(r.body)) != "null" {
		t.Fatalf("create answered %s", r.body)
	}
	e.mustDo("POST", "/v1/tenant/timeline", createBody, "", 200) // idempotent
	e.create(ttB)
	golden(t, "timeline_list", e.mustDo("GET", "/v1/tenant/timeline", "", "", 200).body)
	golden(t, "utilization", e.mustDo("GET", "/v1/utilization", "", "", 200).body)

	// A compute is connected and has been elected.
	tl, err := e.reg.Get(ttA)
	if err != nil {
		t.Fatal(err)
	}
	streaming, remove := tl.AddWALReceiver(17)
	streaming()
	golden(t, "timeline_status", e.mustDo("GET", tlPath, "", "", 200).body)
	remove()

	// The control file on disk has the creation state of §3.2.
	st, err := controlfile.Load(e.reg.Dir(ttA))
	if err != nil {
		t.Fatal(err)
	}
	if st.TimelineStartLSN != 0x1000028 || st.CommitLSN != 0x2000000 || st.BackupLSN != 0x1000028 ||
		st.Server.WalSegSize != pgwal.DefaultSegmentSize || len(st.Acceptor.TermHistory) != 1 || st.MConf.Generation != 1 {
		t.Fatalf("created state %+v", st)
	}

	r = e.mustDo("DELETE", tlPath+"?only_local=true", "", "", 200)
	golden(t, "timeline_delete", r.body)
	if _, err := os.Stat(e.reg.Dir(ttA)); !os.IsNotExist(err) {
		t.Fatalf("directory still there: %v", err)
	}
	if r := e.mustDo("DELETE", tlPath, "", "", 200); string(bytes.TrimSpace(r.body)) != `{"dir_existed":false}` {
		t.Fatalf("second delete %s", r.body)
	}
	e.mustDo("GET", tlPath, "", "", 404)
	// The tombstone keeps it from coming back.
	e.mustDo("POST", "/v1/tenant/timeline", createBody, "", 409)
}

func TestCreateErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	tests := []struct{ name, body string }{
		{"not json", `{`},
		{"missing mconf", `{"tenant_id":"cf0480929707ee75372337efaa5ecf96","timeline_id":"112ded66422aa5e953e5440fa5427ac4","pg_version":150004,"start_lsn":"0/0"}`},
		{"bad lsn", strings.Replace(createBody, `"0/1000028"`, `"zz"`, 1)},
		{"bad id", strings.Replace(createBody, `"cf0480929707ee75372337efaa5ecf96"`, `"cf04"`, 1)},
		{"commit below start", strings.Replace(createBody, `"0/2000000"`, `"0/10"`, 1)},
		{"no pg version", strings.Replace(createBody, `150004`, `0`, 1)},
	}
	for _, tt := range tests {
		r := e.do("POST", "/v1/tenant/timeline", tt.body, "")
		if r.status != 400 || !strings.Contains(string(r.body), `"msg":`) {
			t.Errorf("%s: %d %s", tt.name, r.status, r.body)
		}
	}
}

func TestTimelineRouteErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.create(ttA)
	unknown := "/v1/tenant/cf0480929707ee75372337efaa5ecf96/timeline/ffffffffffffffffffffffffffffffff"
	tests := []struct {
		method, path, body string
		want               int
	}{
		{"GET", unknown, "", 404},
		{"GET", "/v1/tenant/xyz/timeline/112ded66422aa5e953e5440fa5427ac4", "", 400},
		{"POST", unknown + "/checkpoint", "", 404},
		{"POST", unknown + "/term_bump", "{}", 404},
		{"GET", unknown + "/digest?from_lsn=0/0&until_lsn=0/0", "", 404},
		{"GET", tlPath + "/digest?from_lsn=0/0", "", 400},
		{"GET", tlPath + "/digest?from_lsn=0/0&until_lsn=zz", "", 400},
		{"GET", tlPath + "/digest?from_lsn=0/10&until_lsn=0/8", "", 400},
		{"GET", tlPath + "/digest?from_lsn=0/0&until_lsn=0/1000", "", 400}, // beyond flush_lsn
		{"DELETE", tlPath, "x", 400},
		{"DELETE", tlPath + "?only_local=maybe", "", 400},
		{"DELETE", "/v1/tenant/cf0480929707ee75372337efaa5ecf96?only_local=maybe", "", 400},
		{"PUT", tlPath + "/membership", "{", 400},
		{"POST", tlPath + "/term_bump", "{", 400},
		{"GET", "/v1/debug_dump?bogus=1", "", 400},
		{"GET", "/profile/cpu?seconds=61", "", 400},
		{"GET", "/profile/cpu?format=svg", "", 400},
		{"GET", "/profile/heap?format=jemalloc", "", 400},
	}
	for _, tt := range tests {
		r := e.do(tt.method, tt.path, tt.body, "")
		if r.status != tt.want || !json.Valid(r.body) || !strings.Contains(string(r.body), `"msg":`) {
			t.Errorf("%s %s = %d %s, want %d with {\"msg\"}", tt.method, tt.path, r.status, r.body, tt.want)
		}
	}
}

func TestDeleteTenant(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.create(ttA)
	e.create(ttB)
	r := e.mustDo("DELETE", "/v1/tenant/cf0480929707ee75372337efaa5ecf96", "", "", 200)
	golden(t, "tenant_delete", r.body)
	golden(t, "timeline_list_empty", e.mustDo("GET", "/v1/tenant/timeline", "", "", 200).body)
	e.mustDo("POST", "/v1/tenant/timeline", createBody, "", 409)
}

func TestCheckpointTermBumpMembership(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	tl := e.create(ttA)
	tl.Lock()
	tl.Control().SetCommitLSN(0x123)
	tl.Unlock()
	r := e.mustDo("POST", tlPath+"/checkpoint", "", "", 200)
	if strings.TrimSpace(string(r.body)) != "null" {
		t.Fatalf("checkpoint answered %s", r.body)
	}
	if st, _ := controlfile.Load(tl.Dir); st.CommitLSN != 0x123 {
		t.Fatalf("checkpoint did not persist commit_lsn: %s", st.CommitLSN)
	}

	bumps := []struct{ body, want string }{
		{"", `{"previous_term":0,"current_term":1}`},
		{`{"term":null}`, `{"previous_term":1,"current_term":2}`},
		{`{"term":5}`, `{"previous_term":2,"current_term":5}`},
		{`{"term":3}`, `{"previous_term":5,"current_term":5}`},
	}
	for _, b := range bumps {
		r := e.mustDo("POST", tlPath+"/term_bump", b.body, "", 200)
		if got := strings.TrimSpace(string(r.body)); got != b.want {
			t.Fatalf("term_bump %q = %s, want %s", b.body, got, b.want)
		}
	}
	if st, _ := controlfile.Load(tl.Dir); st.Acceptor.Term != 5 {
		t.Fatalf("term on disk %d", st.Acceptor.Term)
	}

	conf := func(gen int, members string) string {
		return `{"generation":` + itoa(gen) + `,"members":[` + members + `],"new_members":null}`
	}
	me := `{"id":1,"host":"sk1","pg_port":5454}`
	other := `{"id":2,"host":"sk2","pg_port":5454}`
	r = e.mustDo("PUT", tlPath+"/membership", conf(2, me+","+other), "", 200)
	golden(t, "membership", r.body)
	e.mustDo("PUT", tlPath+"/membership", conf(3, other), "", 403)
	e.mustDo("PUT", tlPath+"/membership", conf(1, me), "", 409)
	e.mustDo("PUT", tlPath+"/membership", conf(2, me), "", 200) // same generation: already there
	if st, _ := controlfile.Load(tl.Dir); st.MConf.Generation != 2 || len(st.MConf.Members) != 2 {
		t.Fatalf("mconf on disk %+v", st.MConf)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestDebugDump(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.mustDo("POST", "/v1/tenant/timeline", createBody, "", 200)
	e.create(ttB)
	r := e.mustDo("GET", "/v1/debug_dump?dump_all=true&timeline_id=112ded66422aa5e953e5440fa5427ac4", "", "", 200)
	golden(t, "debug_dump", r.body)
	r = e.mustDo("GET", "/v1/debug_dump", "", "", 200)
	golden(t, "debug_dump_ids", r.body)
}

// TestProfiles is not parallel: Go's CPU profiler is one per process, and
// TestAuthMatrix runs profiles too.
func TestProfiles(t *testing.T) {
	e := newEnv(t, false)
	r := e.mustDo("GET", "/profile/heap", "", "", 200)
	if len(r.body) < 2 || r.body[0] != 0x1f || r.body[1] != 0x8b {
		t.Fatalf("heap profile is not gzipped pprof: % x", r.body[:min(len(r.body), 8)])
	}
	// One CPU profile at a time: a second is 409, force=true takes over.
	first := make(chan response, 1)
	go func() { first <- e.do("GET", "/profile/cpu?seconds=3", "", "") }()
	waitProfiling(t, &e.srv.Config.Handler.(*API).profiler)
	e.mustDo("GET", "/profile/cpu?seconds=1", "", "", 409)
	r = e.mustDo("GET", "/profile/cpu?seconds=1&force=true", "", "", 200)
	if len(r.body) < 2 || r.body[0] != 0x1f || r.body[1] != 0x8b {
		t.Fatalf("cpu profile is not gzipped pprof")
	}
	if r := <-first; r.status != 200 {
		t.Fatalf("cancelled profile: %d %s", r.status, r.body)
	}
}

func waitProfiling(t *testing.T, p *profiler) {
	t.Helper()
	for range 500 {
		p.mu.Lock()
		running := p.done != nil
		p.mu.Unlock()
		if running {
			return
		}
		sleepMs(2)
	}
	t.Fatal("profile did not start")
}
