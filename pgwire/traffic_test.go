package pgwire

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// byteCount is a Counter for tests.
type byteCount struct{ n atomic.Int64 }

func (c *byteCount) Add(v float64) { c.n.Add(int64(v)) }

// trafficLog hands out one pair of counters per label set.
type trafficLog struct {
	mu    sync.Mutex
	pairs map[[2]string]*[2]byteCount
}

func (l *trafficLog) fn(clientAZ, appName string) (read, write Counter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := [2]string{clientAZ, appName}
	if l.pairs[k] == nil {
		l.pairs[k] = &[2]byteCount{}
	}
	p := l.pairs[k]
	return &p[0], &p[1]
}

func (l *trafficLog) get(clientAZ, appName string) (read, write int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.pairs[[2]string{clientAZ, appName}]
	if p == nil {
		return 0, 0
	}
	return p[0].n.Load(), p[1].n.Load()
}

// countingConn counts what a client sends and receives.
type countingConn struct {
	net.Conn
	read, written int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read += int64(n)
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written += int64(n)
	return n, err
}

// TestTrafficCounters: every byte of a connection is counted once, read
// and written as the client saw them written and read, under the labels
// of what the client said of itself from its startup packet on (Neon's
// safekeeper_pg_io_bytes_total): the SSL refusal and the startup packet
// under no labels, the rest under its availability_zone and
// application_name.
func TestTrafficCounters(t *testing.T) {
	log := &trafficLog{pairs: map[[2]string]*[2]byteCount{}}
	addr := startServer(t, Config{Traffic: log.fn, Handler: &fakeHandler{status: &TimelineStatusRow{}}})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cc := &countingConn{Conn: nc}
	c := &client{t: t, nc: cc}
	c.send(&pgproto3.SSLRequest{})
	c.expect([]byte{'N'})
	c.send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{
		"user": "u", "database": "replication", "application_name": "pageserver",
		"options": "-c availability_zone=az-1 tenant_id=" + tenantHex + " timeline_id=" + timelineHex}})
	fe := pgproto3.NewFrontend(cc, io.Discard)
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	receiveUntilReady := func() {
		for {
			m, err := fe.Receive()
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := m.(*pgproto3.ReadyForQuery); ok {
				return
			}
		}
	}
	receiveUntilReady()
	c.send(query("TIMELINE_STATUS"))
	receiveUntilReady()
	c.send(&pgproto3.Terminate{})
	c.expectClosed()

	// The server has closed the connection, so it has counted every byte.
	unlabelledRead, unlabelledWrite := log.get("", "")
	read, write := log.get("az-1", "pageserver")
	if unlabelledWrite != 1 || unlabelledRead < 8+1 {
		t.Errorf("before the startup packet: read %d, wrote %d; want the 8-byte SSLRequest and the startup packet read, the 'N' written",
			unlabelledRead, unlabelledWrite)
	}
	if read == 0 || write == 0 {
		t.Errorf("under the client's labels: read %d, wrote %d", read, write)
	}
	if got := unlabelledRead + read; got != cc.written {
		t.Errorf("server read %d bytes, the client wrote %d", got, cc.written)
	}
	if got := unlabelledWrite + write; got != cc.read {
		t.Errorf("server wrote %d bytes, the client read %d", got, cc.read)
	}
	if len(log.pairs) != 2 {
		t.Errorf("label sets %v, want two", log.pairs)
	}
}
