package server

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Shutdown must finish even while an HTTP client is stalled in the middle
// of a request: http.Server.Shutdown gives up after httpShutdownTimeout
// without closing the connection, so Run now closes what is left. Before,
// a membership request stalled mid-body held the timeline's gate, which
// Registry.Close waits for, and Run never returned.
func TestShutdownWithStalledHTTPBody(t *testing.T) {
	addrs, stop := startRun(t, Config{DataDir: t.TempDir(), ID: 1, NoSync: true, LogOutput: io.Discard})
	base := "http://" + addrs.HTTP.String()
	body := `{"tenant_id":"cf0480929707ee75372337efaa5ecf96","timeline_id":"112ded66422aa5e953e5440fa5427ac4",
 "mconf":{"generation":1,"members":[{"id":1,"host":"sk1","pg_port":5454}],"new_members":null},
 "pg_version":150004,"start_lsn":"0/1000028"}`
	resp, err := http.Post(base+"/v1/tenant/timeline", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("create: %d", resp.StatusCode)
	}

	nc, err := net.Dial("tcp", addrs.HTTP.String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	fmt.Fprintf(nc, "PUT /v1/tenant/cf0480929707ee75372337efaa5ecf96/timeline/112ded66422aa5e953e5440fa5427ac4/membership HTTP/1.1\r\n"+
		"Host: x\r\nContent-Length: 1000\r\n\r\n{")
	time.Sleep(200 * time.Millisecond)

	if err := stop(); err != nil {
		t.Fatalf("Run with a stalled HTTP request: %v", err)
	}
}
