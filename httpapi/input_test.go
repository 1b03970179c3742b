package httpapi

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startSlowBody sends the headers of a request with a body and only the
// first byte of that body, and keeps the connection open: a client on a
// slow or stalled link. The connection is closed at cleanup.
func startSlowBody(t *testing.T, e *env, method, path string) {
	t.Helper()
	nc, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	fmt.Fprintf(nc, "%s %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", method, path)
	sleepMs(200) // let the handler start and block reading the body
}

// A request whose body is still arriving must not keep its timeline from
// being deleted: the DELETE waits for every user of the timeline's gate,
// so the membership and term_bump handlers read their body before they
// enter it. Before, they entered it first, and a client that stalled
// mid-body held the deletion (and the server's shutdown, which waits for
// the same gate) for as long as it liked.
func TestSlowBodyDoesNotBlockDelete(t *testing.T) {
	t.Parallel()
	for _, route := range []string{"/membership", "/term_bump"} {
		t.Run(strings.TrimPrefix(route, "/"), func(t *testing.T) {
			e := newEnv(t, false)
			e.create(ttA)
			method := "POST"
			if route == "/membership" {
				method = "PUT"
			}
			startSlowBody(t, e, method, tlPath+route)

			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "DELETE", e.srv.URL+tlPath, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("DELETE while a %s body is still arriving: %v", route, err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("DELETE = %d", resp.StatusCode)
			}
		})
	}
}

// A create request whose commit_lsn (start_lsn when commit_lsn is absent)
// cannot be a record boundary is bad input, refused before anything is
// written: 400 with {"msg"}, not the 500 of a timeline that failed to load
// after its directory was renamed into place.
func TestCreateCommitNotRecordBoundaryIs400(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	tests := []struct{ name, start, commit string }{
		{"start mid-word, no commit", "0/1000001", ""},
		{"start in the long page header, no commit", "0/1000010", ""},
		{"commit mid-word", "0/1000028", "0/1000029"},
	}
	for _, tt := range tests {
		b := strings.Replace(createBody, `"0/1000028"`, `"`+tt.start+`"`, 1)
		if tt.commit == "" {
			b = strings.Replace(b, `,"commit_lsn":"0/2000000"`, ``, 1)
		} else {
			b = strings.Replace(b, `"0/2000000"`, `"`+tt.commit+`"`, 1)
		}
		if r := e.do("POST", "/v1/tenant/timeline", b, ""); r.status != 400 || !strings.Contains(string(r.body), `"msg":`) {
			t.Errorf("%s: %d %s, want 400", tt.name, r.status, r.body)
		}
	}
}

// debug_dump's per-part flags default to dump_all but an explicit value
// wins (Neon: dump_control_file.unwrap_or(dump_all), and so on), so
// dump_all=true&dump_disk_content=false leaves the disk content out.
func TestDebugDumpExplicitFalseBeatsDumpAll(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.create(ttA)
	r := e.mustDo("GET", "/v1/debug_dump?dump_all=true&dump_disk_content=false&dump_control_file=false&dump_memory=false&dump_wal_last_modified=false", "", "", 200)
	for _, part := range []string{`"disk_content"`, `"control_file"`, `"memory"`, `"wal_last_modified"`} {
		if strings.Contains(string(r.body), part) {
			t.Errorf("%s dumped although asked not to: %s", part, r.body)
		}
	}
}
