package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/pgwire"
)

// smallWAL makes the primary write a little more than one segment of WAL
// after a WAL switch, ending with another switch, and returns its bytes
// from the first record of the first segment to the last boundary.
func smallWAL(t testing.TB, p *primary) (pgwal.LSN, []byte) {
	t.Helper()
	p.Psql(t, "create table if not exists s (id int, v text)")
	start := p.switchWAL(t)
	p.Psql(t, "insert into s select g, repeat(md5(g::text), 30) from generate_series(1, 18000) g")
	p.Psql(t, "select pg_switch_wal()")
	end := p.lsn(t, "pg_current_wal_flush_lsn()")
	end -= pgwal.LSN(end.SegmentOffset(segSize))
	if end-start <= segSize {
		t.Fatalf("WAL [%s, %s) does not cross a segment", start, end)
	}
	return start, readWAL(t, p, start, end)
}

// pushCommitted starts a walkeeper, pushes wal and waits until it is all
// committed.
func pushCommitted(ctx context.Context, t testing.TB, p *primary, start pgwal.LSN, wal []byte, copyWAL bool) string {
	t.Helper()
	addr, prop, _ := replServer(ctx, t, p, start, replOpts{noSync: true, copyWAL: copyWAL})
	pushWAL(ctx, t, prop, wal, start)
	end := start + pgwal.LSN(len(wal))
	pgtest.WaitFor(t, 10*time.Second, "commit_lsn "+end.String(), func() bool { return commitLSN(ctx, t, addr) >= end })
	return addr
}

// TestReplicationSendfile: over TCP a raw Commit-mode stream sends WAL with
// sendfile (pgwire counts the bytes), and the messages, bounds and bytes,
// are the same as with zero-copy sends off. A stream from the segment
// start gets the synthetic bytes before timeline_start_lsn copied.
func TestReplicationSendfile(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	p := startPrimary(t)
	start, wal := smallWAL(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	spans := map[bool][][2]pgwal.LSN{}
	for _, copyWAL := range []bool{false, true} {
		addr := pushCommitted(ctx, t, p, start, wal, copyWAL)
		sf0, cp0 := pgwire.SendFileStats()
		r := dialReader(ctx, t, addr, "sendfile")
		if err := startStream(ctx, r.c, fmt.Sprintf("START_REPLICATION PHYSICAL %s", start)); err != nil {
			t.Fatal(err)
		}
		var got [][2]pgwal.LSN
		if err := streamVerified(ctx, r, start, wal, &got); err != nil {
			t.Fatalf("copyWAL %t: %v", copyWAL, err)
		}
		spans[copyWAL] = got
		sf, cp := pgwire.SendFileStats()
		switch {
		case cp != cp0:
			t.Fatalf("copyWAL %t: %d bytes copied by SendFile", copyWAL, cp-cp0)
		case !copyWAL && sf-sf0 < uint64(len(wal)):
			t.Fatalf("sendfile moved %d bytes of the %d streamed", sf-sf0, len(wal))
		case copyWAL && sf != sf0:
			t.Fatalf("with zero-copy off, sendfile moved %d bytes", sf-sf0)
		}
		if copyWAL {
			continue
		}

		// From the segment start: 40 synthetic bytes, copied, then files.
		segStart := start - pgwal.LSN(start.SegmentOffset(segSize))
		r2 := dialReader(ctx, t, addr, "prefix")
		if err := startStream(ctx, r2.c, fmt.Sprintf("START_REPLICATION PHYSICAL %s", segStart)); err != nil {
			t.Fatal(err)
		}
		m, err := r2.next(ctx)
		for err == nil && m.tag != 'w' {
			m, err = r2.next(ctx)
		}
		if err != nil || m.walStart != segStart || len(m.data) != int(start-segStart) {
			t.Fatalf("first message from the segment start: [%s,+%d), %v; want [%s, %s)", m.walStart, len(m.data), err, segStart, start)
		}
		if err := streamVerified(ctx, r2, start, wal, nil); err != nil {
			t.Fatalf("after the prefix: %v", err)
		}
	}
	a, b := spans[false], spans[true]
	if len(a) != len(b) {
		t.Fatalf("%d messages with sendfile, %d without", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("message %d: [%s, %s) with sendfile, [%s, %s) without", i, a[i][0], a[i][1], b[i][0], b[i][1])
		}
	}
	t.Logf("%d messages, %d bytes [%s, %s): same with and without sendfile", len(a), len(wal), start, start+pgwal.LSN(len(wal)))
}

// BenchmarkReplicationSender: one raw Commit-mode stream of committed WAL
// (two segments of PostgreSQL 15 WAL) to one client in a helper process,
// with zero-copy sends and with the copying path. An op is one whole
// stream on a new connection. server-cpu-ms/MiB is this process's
// (walkeeper's) user+system CPU per MiB streamed, client-cpu-ms/MiB the
// helper's (which also checks every byte).
func BenchmarkReplicationSender(b *testing.B) {
	p := startPrimary(b)
	start, wal := smallWAL(b, p)
	walFile := filepath.Join(b.TempDir(), "wal")
	if err := os.WriteFile(walFile, wal, 0o600); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, copyWAL := range []bool{false, true} {
		addr := pushCommitted(ctx, b, p, start, wal, copyWAL)
		name := "sendfile"
		if copyWAL {
			name = "copy"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(wal)))
			cpu0 := selfCPU(b)
			proc := startReaderProcess(b, addr, start, walFile, 1, b.N, false)
			client, err := proc.wait()
			if err != nil {
				b.Fatal(err)
			}
			server := selfCPU(b) - cpu0
			mib := float64(b.N) * float64(len(wal)) / (1 << 20)
			b.ReportMetric(float64(server.Microseconds())/1000/mib, "server-cpu-ms/MiB")
			b.ReportMetric(float64(client.Microseconds())/1000/mib, "client-cpu-ms/MiB")
		})
	}
}
