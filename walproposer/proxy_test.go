package walproposer

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/pgwal"
)

// flushReport is a flush_lsn a walkeeper sent in an AppendResponse, and
// when the proxy saw it.
type flushReport struct {
	at    time.Time
	flush pgwal.LSN
}

// tapProxy sits between the walproposer and one walkeeper and records,
// from the bytes on the wire, every AppendResponse flush_lsn increase with
// the time it passed. It is an observer independent of the walproposer.
type tapProxy struct {
	addr    string
	target  string
	mu      sync.Mutex
	reports []flushReport
}

func startTapProxy(t *testing.T, target string) *tapProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tapProxy{addr: l.Addr().String(), target: target}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *tapProxy) serve(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	go func() { io.Copy(server, client); server.Close() }()
	r := bufio.NewReader(server)
	hdr := make([]byte, 5)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[1:])) - 4
		if n < 0 || n > 1<<24 {
			return
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		// v3 AppendResponse: 'a', generation u32, term u64, flush_lsn u64, ...
		if hdr[0] == 'd' && n >= 21 && body[0] == 'a' {
			p.record(pgwal.LSN(binary.BigEndian.Uint64(body[13:21])))
		}
		if _, err := client.Write(append(hdr, body...)); err != nil {
			return
		}
	}
}

func (p *tapProxy) record(flush pgwal.LSN) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.reports) == 0 || flush > p.reports[len(p.reports)-1].flush {
		p.reports = append(p.reports, flushReport{now, flush})
	}
}

// reportedBy says whether the walkeeper had reported a flush of at least
// lsn at or before t.
func (p *tapProxy) reportedBy(lsn pgwal.LSN, t time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := sort.Search(len(p.reports), func(i int) bool { return p.reports[i].flush >= lsn })
	return i < len(p.reports) && !p.reports[i].at.After(t)
}
