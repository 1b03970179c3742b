package httpapi

import (
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// routeAccess is every route with the scope it needs (§4.2/§4.3). The
// deletions come last: the timeline is gone afterwards.
var routeAccess = []struct {
	method, path, body string
	kind               string // "open", "tenant", "node"
}{
	{"GET", "/v1/status", "", "open"},
	{"GET", "/metrics", "", "open"},
	{"GET", "/profile/cpu?seconds=1", "", "open"},
	{"GET", "/profile/heap", "", "open"},
	{"GET", "/v1/utilization", "", "node"},
	{"GET", "/v1/tenant/timeline", "", "node"},
	{"POST", "/v1/tenant/timeline", createBody, "tenant"},
	{"GET", tlPath, "", "tenant"},
	{"POST", tlPath + "/checkpoint", "", "node"},
	{"POST", tlPath + "/term_bump", `{"term":null}`, "tenant"},
	{"PUT", tlPath + "/membership", `{"generation":2,"members":[{"id":1,"host":"a","pg_port":1}],"new_members":null}`, "tenant"},
	{"GET", tlPath + "/digest?from_lsn=0/1000028&until_lsn=0/1000028", "", "tenant"},
	{"GET", "/v1/debug_dump", "", "node"},
	{"DELETE", tlPath, "", "tenant"},
	{"DELETE", "/v1/tenant/cf0480929707ee75372337efaa5ecf96", "", "tenant"},
}

func TestAuthMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	sk := e.sk()
	own := e.token(jwt.MapClaims{"scope": "tenant", "tenant_id": tenantA.String()})
	other := e.token(jwt.MapClaims{"scope": "tenant", "tenant_id": tenantB.String()})
	noTenant := e.token(jwt.MapClaims{"scope": "tenant"})
	pageserver := e.token(jwt.MapClaims{"scope": "pageserverapi"})
	e.mustDo("POST", "/v1/tenant/timeline", createBody, sk, 200)

	for _, rt := range routeAccess {
		name := rt.method + " " + rt.path
		check := func(who, token string, ok bool, deny int) {
			t.Helper()
			r := e.do(rt.method, rt.path, rt.body, token)
			if ok && (r.status == 401 || r.status == 403) {
				t.Errorf("%s with %s: refused %d %s", name, who, r.status, r.body)
			}
			if !ok && r.status != deny {
				t.Errorf("%s with %s: %d %s, want %d", name, who, r.status, r.body, deny)
			}
		}
		switch rt.kind {
		case "open":
			check("no token", "", true, 0)
			check("garbage token", "garbage", true, 0)
		case "tenant":
			check("no token", "", false, 401)
			check("garbage token", "garbage", false, 401)
			check("another tenant", other, false, 403)
			check("tenant without tenant_id", noTenant, false, 403)
			check("pageserverapi", pageserver, false, 403)
			check("own tenant", own, true, 0)
			check("safekeeperdata", sk, true, 0)
		case "node":
			check("no token", "", false, 401)
			check("own tenant", own, false, 403)
			check("pageserverapi", pageserver, false, 403)
			check("safekeeperdata", sk, true, 0)
		}
	}
}

// The allow-list is matched on the path only: a query string naming an
// open path opens nothing else.
func TestAuthAllowListIgnoresQuery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	for _, p := range []string{
		"/v1/tenant/timeline?x=/metrics",
		"/v1/tenant/timeline?/v1/status",
		"/v1/utilization?path=/profile/heap",
		"/v1/debug_dump?/metrics",
		"/v1/status/../tenant/timeline",
		"/metrics/../v1/tenant/timeline",
	} {
		if r := e.do("GET", p, "", ""); r.status != 401 {
			t.Errorf("GET %s without token = %d %s, want 401", p, r.status, r.body)
		}
	}
	// Malformed Authorization headers are 401 too.
	for _, h := range []string{"Basic abc", "Bearer ", "bearer x"} {
		req := e.srv.URL + "/v1/tenant/timeline"
		r := doHeader(t, req, h)
		if r != 401 {
			t.Errorf("Authorization %q = %d, want 401", h, r)
		}
	}
}
