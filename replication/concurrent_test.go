package replication

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/internal/watch"
	"github.com/walkeeper/walkeeper/pgwal"
)

// commitCheckedWAL fails the test if any read reaches beyond the commit
// watch at the moment of the read: Commit mode must never expose
// uncommitted WAL.
type commitCheckedWAL struct {
	*fakeWAL
	commit *watch.Value[pgwal.LSN]
}

func (w commitCheckedWAL) ReadAt(p []byte, lsn pgwal.LSN) (int, error) {
	if end := lsn + pgwal.LSN(len(p)); end > w.commit.Get() {
		w.t.Errorf("read up to %s beyond commit_lsn %s", end, w.commit.Get())
	}
	return w.fakeWAL.ReadAt(p, lsn)
}

// acceptor advances flush_lsn and then commit_lsn (never above flush) in
// random unaligned steps until final, recording the longest Set.
func acceptor(wal *fakeWAL, commit *watch.Value[pgwal.LSN], rng *rand.Rand, final pgwal.LSN, maxSet *atomic.Int64) {
	flushed := pgwal.LSN(wal.flushed.Load())
	for c := commit.Get(); c < final; {
		flushed = min(final, flushed+pgwal.LSN(1+rng.IntN(300_000)))
		wal.flushed.Store(uint64(flushed))
		c = min(flushed, c+pgwal.LSN(1+rng.IntN(300_000)))
		begin := time.Now()
		commit.Set(c)
		if d := time.Since(begin).Nanoseconds(); d > maxSet.Load() {
			maxSet.Store(d)
		}
		if rng.IntN(4) == 0 {
			time.Sleep(time.Duration(rng.IntN(500)) * time.Microsecond)
		}
	}
}

// consume reads XLogData from f until final, checking every invariant of
// §3.3 against the commit watch, and returns the hash of the WAL received.
// A non-nil progress makes the client slow and publishes its position.
func consume(t *testing.T, f *fakeStream, start, final pgwal.LSN, segSize uint64, commit *watch.Value[pgwal.LSN], progress *atomic.Uint64) [32]byte {
	h := sha256.New()
	pos := start
	for pos < final {
		e := f.next(t)
		if e.kind != 'd' {
			t.Errorf("got %v", e)
			return [32]byte{}
		}
		if e.data[0] == TagKeepalive {
			continue
		}
		hd, data, err := ParseXLogData(e.data)
		if err != nil {
			t.Error(err)
			return [32]byte{}
		}
		end := hd.WALStart + pgwal.LSN(len(data))
		switch {
		case hd.WALStart != pos:
			t.Errorf("gap: got %s, want %s", hd.WALStart, pos)
		case len(data) == 0 || len(data) > pgwal.MaxSendSize:
			t.Errorf("chunk of %d bytes", len(data))
		case end > hd.WALEnd || hd.WALEnd > commit.Get():
			t.Errorf("chunk [%s,%s) wal_end %s commit %s", hd.WALStart, end, hd.WALEnd, commit.Get())
		case uint64(hd.WALStart)/segSize != uint64(end-1)/segSize:
			t.Errorf("chunk [%s,%s) crosses a segment", hd.WALStart, end)
		case end < hd.WALEnd && end%pgwal.XLogBlockSize != 0:
			t.Errorf("chunk [%s,%s) stops short of wal_end %s off a page boundary", hd.WALStart, end, hd.WALEnd)
		}
		if t.Failed() {
			return [32]byte{}
		}
		checkWAL(t, hd.WALStart, data)
		h.Write(data)
		pos = end
		if progress != nil {
			progress.Store(uint64(pos))
			time.Sleep(20 * time.Millisecond)
		}
	}
	f.fail(io.EOF) // CopyDone; keep reading until the server's CopyDone, as a client does
	for e := f.next(t); e.kind != 'c'; e = f.next(t) {
		if e.kind != 'd' {
			t.Errorf("got %v while waiting for CopyDone", e)
			break
		}
	}
	return [32]byte(h.Sum(nil))
}

func serveAsync(t *testing.T, cfg Config, f *fakeStream) chan error {
	done := make(chan error, 1)
	go func() { done <- Serve(t.Context(), cfg, f) }()
	if e := f.next(t); e.kind != 'W' {
		t.Fatalf("first message %v", e)
	}
	return done
}

// TestCommitModeNeverBeyondCommit is a property test: for random starts and
// random commit movements, every byte sent is committed, contiguous,
// correct, chunked by the rules, and the stream reaches the final commit.
func TestCommitModeNeverBeyondCommit(t *testing.T) {
	const segSize = 1 << 20
	for seed := range uint64(6) {
		t.Run("", func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			const base, size = pgwal.LSN(3 << 20), 4 << 20
			final := base + size
			wal := newFakeWAL(t, base, size, segSize)
			start := base + pgwal.LSN(rng.IntN(1<<20))
			wal.flushed.Store(uint64(start))
			commit := watch.New(start)
			f := newFakeStream(4)
			cfg := Config{Command: Command{StartLSN: start}, Senders: NewWalSenders(RegistryOptions{}),
				CommitLSN: commit, Computes: func() int { return 1 }, SegmentSize: segSize, IdleTimeout: 5 * time.Millisecond,
				OpenReader: func(pgwal.LSN) (WALReader, error) { return commitCheckedWAL{wal, commit}, nil }}
			done := serveAsync(t, cfg, f)
			var maxSet atomic.Int64
			go acceptor(wal, commit, rng, final, &maxSet)
			got := consume(t, f, start, final, segSize, commit, nil)
			want := sha256.Sum256(wal.data[start-base:])
			if got != want {
				t.Fatal("received WAL differs")
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestManySendersOneWatch: 30 senders share one commit watch and one WAL
// while the acceptor keeps advancing; they all receive identical bytes, and
// a deliberately slow client never slows the acceptor's Sets.
func TestManySendersOneWatch(t *testing.T) {
	const senders, segSize = 30, 1 << 20
	const base, size = pgwal.LSN(1 << 20), 3 << 20
	final := base + size
	wal := newFakeWAL(t, base, size, segSize)
	wal.flushed.Store(uint64(base))
	commit := watch.New(base)
	reg := NewWalSenders(RegistryOptions{})
	var wg sync.WaitGroup
	sums := make([][32]byte, senders)
	var dones []chan error
	var slowPos atomic.Uint64 // sender 0's client reads slowly
	for i := range senders {
		f := newFakeStream(2)
		cfg := Config{Command: Command{StartLSN: base}, Info: SenderInfo{ConnID: uint32(i)}, Senders: reg,
			CommitLSN: commit, Computes: func() int { return 1 }, SegmentSize: segSize, IdleTimeout: 20 * time.Millisecond,
			OpenReader: func(pgwal.LSN) (WALReader, error) { return commitCheckedWAL{wal, commit}, nil }}
		dones = append(dones, serveAsync(t, cfg, f))
		wg.Add(1)
		go func() {
			defer wg.Done()
			var progress *atomic.Uint64
			if i == 0 {
				progress = &slowPos
			}
			sums[i] = consume(t, f, base, final, segSize, commit, progress)
		}()
	}
	if n := reg.Len(); n != senders {
		t.Fatalf("%d registered, want %d", n, senders)
	}
	var maxSet atomic.Int64
	acceptorDone := make(chan pgwal.LSN, 1)
	go func() {
		acceptor(wal, commit, rand.New(rand.NewPCG(7, 7)), final, &maxSet)
		acceptorDone <- pgwal.LSN(slowPos.Load())
	}()
	wg.Wait()
	for i := range senders {
		if err := <-dones[i]; err != nil {
			t.Errorf("sender %d: %v", i, err)
		}
	}
	want := sha256.Sum256(wal.data)
	for i, s := range sums {
		if !bytes.Equal(s[:], want[:]) {
			t.Fatalf("sender %d received different WAL", i)
		}
	}
	// Set has no blocking operation; the observable proof is that the
	// acceptor got to the end while the slow client was far behind.
	slowAt := <-acceptorDone
	if slowAt > final-size/2 {
		t.Errorf("the slow client was at %s when the acceptor reached %s: the acceptor waited for it", slowAt, final)
	}
	t.Logf("acceptor done with the slow client at %s of %s; longest commit Set %v (includes preemption)",
		slowAt, final, time.Duration(maxSet.Load()))
	if n := reg.Len(); n != 0 {
		t.Fatalf("%d slots left", n)
	}
}

// discardStream counts what Serve sends and ends the stream (as a client
// CopyDone) once want bytes of WAL went out.
type discardStream struct {
	want, got int
	end       chan struct{}
	once      sync.Once
}

func (d *discardStream) Start() error { return nil }
func (d *discardStream) Send(p []byte) error {
	if p[0] == TagXLogData {
		d.got += len(p) - XLogDataHeaderSize
		if d.got >= d.want {
			d.once.Do(func() { close(d.end) })
		}
	}
	return nil
}
func (d *discardStream) SendError(string, string) error { return nil }
func (d *discardStream) SendCopyDone() error            { return nil }
func (d *discardStream) Close() error                   { return nil }
func (d *discardStream) Receive() ([]byte, error) {
	<-d.end
	return nil, io.EOF
}

// shortReader returns at most max bytes per read, to fix the message size.
type shortReader struct {
	WALReader
	max int
}

func (r shortReader) ReadAt(p []byte, lsn pgwal.LSN) (int, error) {
	return r.WALReader.ReadAt(p[:min(len(p), r.max)], lsn)
}

// BenchmarkServe measures the send loop: bytes/s of WAL through a stream
// that discards, one 16 MiB segment per iteration, for several message
// sizes (full MaxSendSize chunks, and short reads of 8 and 32 KiB), in
// Commit and Flush mode.
func BenchmarkServe(b *testing.B) {
	const size = pgwal.DefaultSegmentSize
	wal := newFakeWAL(b, 0, size, size)
	commit := watch.New(pgwal.LSN(size))
	flush := watch.New(TermLSN{Term: 1, LSN: size})
	withTerm := func(term uint64, read func() error) error { return read() }
	for _, mode := range []Mode{ModeCommit, ModeFlush} {
		for _, msg := range []int{8 << 10, 32 << 10, pgwal.MaxSendSize} {
			b.Run(fmt.Sprintf("%s/msg=%dKiB", mode, msg>>10), func(b *testing.B) {
				b.SetBytes(size)
				b.ReportAllocs()
				for b.Loop() {
					d := &discardStream{want: size, end: make(chan struct{})}
					cfg := Config{Command: Command{StartLSN: 0, Term: 1, HasTerm: mode == ModeFlush},
						Senders: NewWalSenders(RegistryOptions{}), CommitLSN: commit, Computes: func() int { return 1 },
						Flush: flush, WithTerm: withTerm,
						OpenReader: func(pgwal.LSN) (WALReader, error) { return shortReader{wal, msg}, nil }}
					if err := Serve(context.Background(), cfg, d); err != nil {
						b.Fatal(err)
					}
					if d.got != size {
						b.Fatalf("sent %d", d.got)
					}
				}
			})
		}
	}
}

// BenchmarkServeBaseline is the floor BenchmarkServe is read against: the
// same 16 MiB copied out of the fake WAL in MaxSendSize pieces with a
// header, and nothing else.
func BenchmarkServeBaseline(b *testing.B) {
	const size = pgwal.DefaultSegmentSize
	wal := newFakeWAL(b, 0, size, size)
	buf := make([]byte, XLogDataHeaderSize+pgwal.MaxSendSize)
	d := &discardStream{want: 1 << 62}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		for pos := 0; pos < size; pos += pgwal.MaxSendSize {
			n, _ := wal.ReadAt(buf[XLogDataHeaderSize:], pgwal.LSN(pos))
			putXLogDataHeader(buf, XLogDataHeader{WALStart: pgwal.LSN(pos)})
			_ = d.Send(buf[:XLogDataHeaderSize+n])
		}
	}
}
