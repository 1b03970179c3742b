package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/proposer"
	"github.com/walkeeper/walkeeper/walproto"
)

// IngestRange is the stretch of w the ingest benchmarks stream: from a
// record start in the first segment to the start of the final XLOG_SWITCH.
// Ending there (not at End) matters: after a switch record the flush_lsn
// jumps to the next segment start before the zero padding has even been
// sent, which would make the last megabytes look free.
func (w *WAL) IngestRange() (from, to pgwal.LSN) {
	return w.RecordAtOrAfter(w.Base + 3*pgwal.XLogBlockSize + 1000), w.Switches[len(w.Switches)-1]
}

// IngestResult is one pipelined ingest run.
type IngestResult struct {
	Bytes   int64
	Elapsed time.Duration // first append sent → flush_lsn of the last byte received
	Acks    int           // AppendResponses: one per WAL fdatasync of the server
	// Election is how long the server took to apply the election before
	// the ingest (see Ingest); not part of Elapsed.
	Election time.Duration
}

// MBps is the throughput in MB/s (10^6 bytes).
func (r IngestResult) MBps() float64 { return float64(r.Bytes) / r.Elapsed.Seconds() / 1e6 }

// Ingest streams w[from, to) over c, already elected at from, in appends of
// chunk bytes (128 KiB as the walproposer sends them) without waiting for
// replies, and times it until the AppendResponse covering to.
//
// ProposerElected has no reply, and the server's work on it (on a new
// timeline: the first segment, the truncation to the streaming start and
// the control file, each made durable) would otherwise run inside the
// timed ingest: 8–10 ms of a 36 MB ingest on the machines here, paid once
// per election and not per byte (the baseline's file, likewise, is
// created and preallocated before its timer). So Ingest first sends a
// heartbeat and waits for its AppendResponse, which the server sends only
// after applying everything before it; that wait is Election.
func Ingest(ctx context.Context, c *proposer.Conn, w *WAL, from, to pgwal.LSN, chunk int) (IngestResult, error) {
	r := IngestResult{Bytes: int64(to - from)}
	t0 := time.Now()
	if _, err := AwaitApplied(ctx, c, from); err != nil {
		return r, err
	}
	r.Election = time.Since(t0)
	begin := time.Now()
	_, err := Stream(ctx, c, w, from, to, StreamOptions{
		Chunks: FixedChunks(chunk),
		OnAck:  func(walproto.AppendResponse) error { r.Acks++; return nil },
	})
	r.Elapsed = time.Since(begin)
	return r, err
}

// AwaitApplied sends a heartbeat (an AppendRequest without WAL) at pos,
// where the connection's WAL ends, and returns its AppendResponse: the
// server processes a connection's messages in order, so every message
// sent before it, ProposerElected (which has no reply) among them, has
// then been applied.
func AwaitApplied(ctx context.Context, c *proposer.Conn, pos pgwal.LSN) (walproto.AppendResponse, error) {
	if err := c.Append(pos, nil, 0, 0); err != nil {
		return walproto.AppendResponse{}, err
	}
	return proposer.Expect[walproto.AppendResponse](ctx, c)
}

// CommitFrom is where the commit-latency benchmarks start: the first
// record after the middle XLOG_SWITCH, in a run of small heap-insert
// records.
func (w *WAL) CommitFrom() pgwal.LSN {
	return w.RecordAtOrAfter(w.Switches[0] + 1)
}

// CommitLatency sends n small appends of w one at a time, starting at from,
// each at least size bytes and ending at a record boundary (so that each
// completes a record and must be fdatasynced before it is acknowledged),
// and returns how long each took to its AppendResponse and its size.
func CommitLatency(ctx context.Context, c *proposer.Conn, w *WAL, from pgwal.LSN, n, size int) ([]time.Duration, []int, error) {
	lat := make([]time.Duration, 0, n)
	sizes := make([]int, 0, n)
	pos := from
	for i := 0; i < n; i++ {
		end := w.RecordAtOrAfter(pos + pgwal.LSN(size))
		begin := time.Now()
		if err := c.Append(pos, w.Bytes(pos, end), 0, 0); err != nil {
			return lat, sizes, err
		}
		ar, err := proposer.Expect[walproto.AppendResponse](ctx, c)
		if err != nil {
			return lat, sizes, err
		}
		lat = append(lat, time.Since(begin))
		if ar.FlushLSN < end-24 {
			return lat, sizes, fmt.Errorf("append up to %s acknowledged only up to %s", end, ar.FlushLSN)
		}
		sizes = append(sizes, int(end-pos))
		pos = end
	}
	return lat, sizes, nil
}

// baselineFile is a plain file preallocated with fallocate, as walkeeper
// preallocates its segments, and made durable before timing starts.
func baselineFile(dir string, size int64) (*os.File, error) {
	f, err := os.CreateTemp(dir, "baseline-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
		f.Close()
		return nil, fmt.Errorf("fallocate: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// BaselineIngest writes data into a preallocated file in dir in writes of
// chunk bytes and does syncs fdatasyncs spread evenly over them, the last
// one after the last write (none when syncs is 0). It is what the ingest
// would cost with no network, protocol, decoding or consensus at all.
func BaselineIngest(dir string, data []byte, chunk, syncs int) (time.Duration, error) {
	f, err := baselineFile(dir, int64(len(data)))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	chunks := (len(data) + chunk - 1) / chunk
	begin := time.Now()
	for i := 0; i < chunks; i++ {
		off := i * chunk
		if _, err := f.WriteAt(data[off:min(off+chunk, len(data))], int64(off)); err != nil {
			return 0, err
		}
		if (i+1)*syncs/chunks > i*syncs/chunks {
			if err := syscall.Fdatasync(int(f.Fd())); err != nil {
				return 0, err
			}
		}
	}
	return time.Since(begin), nil
}

// BaselineCommit times one write of each size in turn, each followed by
// fdatasync, into a preallocated file in dir; data holds the bytes.
func BaselineCommit(dir string, data []byte, sizes []int) ([]time.Duration, error) {
	f, err := baselineFile(filepath.Clean(dir), int64(len(data)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	lat := make([]time.Duration, 0, len(sizes))
	off := 0
	for _, n := range sizes {
		begin := time.Now()
		if _, err := f.WriteAt(data[off:off+n], int64(off)); err != nil {
			return nil, err
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(begin))
		off += n
	}
	return lat, nil
}

// Percentile is the p-th percentile (0–100) of d, nearest rank.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// Median of a set of figures.
func Median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := slices.Clone(x)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// TransportCeiling sends data over a loopback TCP connection in chunk-byte
// writes to a reader that pwrites it into a preallocated file in dir, with
// no framing, protocol, decoding or fsync, and times it until the reader
// has written the last byte. It is a reference for what any networked
// receiver on this machine can reach, not a goal.
func TransportCeiling(dir string, data []byte, chunk int) (time.Duration, error) {
	f, err := baselineFile(dir, int64(len(data)))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		buf := make([]byte, chunk)
		for off := 0; off < len(data); {
			n, err := io.ReadFull(c, buf[:min(chunk, len(data)-off)])
			if err != nil {
				done <- err
				return
			}
			if _, err := f.WriteAt(buf[:n], int64(off)); err != nil {
				done <- err
				return
			}
			off += n
		}
		done <- nil
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	begin := time.Now()
	for off := 0; off < len(data); off += chunk {
		if _, err := c.Write(data[off:min(off+chunk, len(data))]); err != nil {
			return 0, err
		}
	}
	if err := <-done; err != nil {
		return 0, err
	}
	return time.Since(begin), nil
}
