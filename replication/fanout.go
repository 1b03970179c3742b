package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/walkeeper/walkeeper/internal/watch"
	"github.com/walkeeper/walkeeper/interpreted"
	"github.com/walkeeper/walkeeper/interpreted/shard"
	"github.com/walkeeper/walkeeper/pgwal"
)

// batchQueueCap is a fan-out sender's queue (§6.11 step 6): the shared
// reader waits on the slowest sender once two batches are queued for it.
const batchQueueCap = 2

// ReaderHub shares interpreted WAL readers between the sharded interpreted
// streams of a timeline (--wal-reader-fanout, replication.md §6.12): one
// decode and interpretation feeds every attached shard. Readers are keyed
// by the timeline's WalSenders registry. Safe for concurrent use.
type ReaderHub struct {
	maxDelta uint64 // --max-delta-for-fanout; 0: any distance
	mu       sync.Mutex
	readers  map[*WalSenders][]*sharedReader
	started  int // readers ever started, for tests and logs
}

// NewReaderHub returns an empty hub. A stream attaches to a running reader
// only if the reader's current_position is within maxDelta bytes of the
// stream's start (--max-delta-for-fanout; 0 means any distance).
func NewReaderHub(maxDelta uint64) *ReaderHub {
	return &ReaderHub{maxDelta: maxDelta, readers: map[*WalSenders][]*sharedReader{}}
}

// Started is how many shared readers the hub has started so far.
func (h *ReaderHub) Started() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.started
}

// Tasks is how many shared reader tasks run for the timeline whose
// walsender registry is key (safekeeper_interpreted_wal_reader_tasks).
// A nil hub (fan-out off) has none.
func (h *ReaderHub) Tasks(key *WalSenders) int {
	if h == nil {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.readers[key])
}

// sharedReader is one reader task with the senders attached to it.
type sharedReader struct {
	hub    *ReaderHub
	key    *WalSenders
	cancel context.CancelFunc
	done   chan struct{} // closed when the task ends; err is set before
	err    error
	// position is the Batcher's current_position, for attach decisions.
	position atomic.Uint64

	mu      sync.Mutex
	refs    int
	pending []*subscriber
	wake    chan struct{} // capacity 1: an attach is pending
}

// subscriber is one stream's end of a shared reader.
type subscriber struct {
	shard shard.Identity
	start pgwal.LSN
	ch    chan interpreted.Batch
	gone  chan struct{} // closed by the stream when it ends
}

// sharedReaderConfig is what a reader task needs from the first stream.
type sharedReaderConfig struct {
	ctx     context.Context // the timeline's lifetime
	commit  *watch.Value[pgwal.LSN]
	open    func(pgwal.LSN) (WALReader, error)
	segSize uint64
	interp  interpreted.Config
	start   pgwal.LSN
	logger  *slog.Logger
	yield   yielder // the decode yields to ingest like a sender
	// gauge, if set, counts the task while it runs: the fan-out's
	// safekeeper_wal_readers{kind="task"}, one per task however many
	// shards are attached to it (replication.md §8).
	gauge prometheus.Gauge
}

// attach adds a subscriber for s at start to a running reader of key, or
// starts one. The returned release detaches it.
func (h *ReaderHub) attach(key *WalSenders, cfg sharedReaderConfig, s shard.Identity) (*sharedReader, *subscriber, func()) {
	sub := &subscriber{shard: s, start: cfg.start, ch: make(chan interpreted.Batch, batchQueueCap), gone: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	var r *sharedReader
	for _, c := range h.readers[key] {
		select {
		case <-c.done:
			continue // a failed reader is not attachable
		default:
		}
		if pos := pgwal.LSN(c.position.Load()); h.maxDelta != 0 && max(pos, cfg.start)-min(pos, cfg.start) > pgwal.LSN(h.maxDelta) {
			continue // too far from this stream's start
		}
		r = c
		break
	}
	if r == nil {
		r = startReader(cfg)
		r.position.Store(uint64(cfg.start))
		r.hub, r.key = h, key
		h.readers[key] = append(h.readers[key], r)
		h.started++
		cfg.logger.Info("starting shared interpreted WAL reader", "start_lsn", cfg.start)
	}
	r.subscribe(sub)
	var once sync.Once
	return r, sub, func() { once.Do(func() { close(sub.gone); h.release(r) }) }
}

// startReader starts a reader task at cfg.start that lives until cfg.ctx
// ends or its last subscriber leaves.
func startReader(cfg sharedReaderConfig) *sharedReader {
	ctx, cancel := context.WithCancel(cfg.ctx)
	r := &sharedReader{cancel: cancel, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	go r.run(ctx, cfg)
	return r
}

// subscribe queues sub for the reader task to add.
func (r *sharedReader) subscribe(sub *subscriber) {
	r.mu.Lock()
	r.refs++
	r.pending = append(r.pending, sub)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// privateReader starts a reader task for one stream (§6.11 without
// fan-out): the reader decodes and interprets while the stream's sender
// encodes, compresses and sends.
func privateReader(cfg sharedReaderConfig, s shard.Identity) (*sharedReader, *subscriber, func()) {
	sub := &subscriber{shard: s, start: cfg.start, ch: make(chan interpreted.Batch, batchQueueCap), gone: make(chan struct{})}
	r := startReader(cfg)
	r.subscribe(sub)
	return r, sub, func() { close(sub.gone); r.cancel() }
}

// release drops one reference; the last one stops the task.
func (h *ReaderHub) release(r *sharedReader) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r.mu.Lock()
	r.refs--
	last := r.refs == 0
	r.mu.Unlock()
	if !last {
		return
	}
	r.cancel()
	rs := h.readers[r.key]
	for i, c := range rs {
		if c == r {
			rs = append(rs[:i], rs[i+1:]...)
			break
		}
	}
	if len(rs) == 0 {
		delete(h.readers, r.key)
	} else {
		h.readers[r.key] = rs
	}
}

// run is the reader task (§6.11, §6.12 step 3): it reads WAL up to
// commit_lsn, feeds one Batcher and hands every sender its batch.
func (r *sharedReader) run(ctx context.Context, cfg sharedReaderConfig) {
	if cfg.gauge != nil {
		cfg.gauge.Inc()
		defer cfg.gauge.Dec()
	}
	err := r.loop(ctx, cfg)
	if err != nil && ctx.Err() == nil {
		cfg.logger.Error("shared interpreted WAL reader failed", "err", err)
	}
	r.err = err
	close(r.done)
}

func (r *sharedReader) loop(ctx context.Context, cfg sharedReaderConfig) error {
	b, err := interpreted.NewBatcher(cfg.start, cfg.interp)
	if err != nil {
		return err
	}
	wal, err := cfg.open(cfg.start)
	if err != nil {
		return err
	}
	defer closeReader(wal)
	subs := map[interpreted.SenderID]*subscriber{}
	pos := cfg.start
	buf := make([]byte, pgwal.MaxSendSize)
	for {
		if p, err := r.takeAttaches(b, subs); err != nil {
			return err
		} else if p.Valid {
			pos = p.Value // reset: restart the raw stream at the new sender's start
			r.position.Store(uint64(pos))
		}
		end, changed := cfg.commit.Load()
		if end <= pos {
			cfg.yield.caughtUp()
			select {
			case <-changed:
			case <-r.wake:
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		cfg.yield.wait(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		ce := chunkEnd(pos, end, cfg.segSize)
		n, err := wal.ReadAt(buf[:ce-pos], pos)
		if errors.Is(err, io.EOF) && n > 0 {
			err = nil
		}
		if err == nil && (n <= 0 || n > int(ce-pos)) {
			err = fmt.Errorf("WAL reader returned %d bytes at %s for a read of %d", n, pos, ce-pos)
		}
		if err != nil {
			return err
		}
		batches, err := b.Process(interpreted.Chunk{Data: buf[:n], WALStartLSN: pos, WALEndLSN: pos + pgwal.LSN(n), AvailableWALEndLSN: end})
		if err != nil {
			return err
		}
		pos += pgwal.LSN(n)
		r.position.Store(uint64(b.Position()))
		for _, bt := range batches {
			sub := subs[bt.Sender]
			select {
			case sub.ch <- bt:
			case <-sub.gone:
				b.RemoveSender(bt.Sender)
				delete(subs, bt.Sender)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// takeAttaches adds pending subscribers and drops departed ones. It
// returns the new position if an attach reset the reader.
func (r *sharedReader) takeAttaches(b *interpreted.Batcher, subs map[interpreted.SenderID]*subscriber) (interpreted.Option[pgwal.LSN], error) {
	var reset interpreted.Option[pgwal.LSN]
	for id, s := range subs {
		select {
		case <-s.gone:
			b.RemoveSender(id)
			delete(subs, id)
		default:
		}
	}
	r.mu.Lock()
	pending := r.pending
	r.pending = nil
	r.mu.Unlock()
	for _, s := range pending {
		id, rs, err := b.AddSender(s.shard, s.start)
		if err != nil {
			return reset, err
		}
		subs[id] = s
		if rs {
			reset = interpreted.Some(s.start)
		}
	}
	return reset, nil
}

// serveReaderTask is serveCopy for a Commit-mode interpreted stream: a
// reader task (shared through ic.Hub, or private) decodes and interprets,
// and this stream's sender encodes and sends what it queues.
func serveReaderTask(ctx context.Context, cfg *Config, slot *Sender, out *outStream, stream Stream, ic *InterpretedConfig) error {
	rcfg := sharedReaderConfig{ctx: ctx, commit: cfg.CommitLSN, open: cfg.OpenReader, segSize: cfg.SegmentSize,
		interp: ic.Interp, start: cfg.Command.StartLSN, logger: cfg.Logger, yield: newYielder(cfg)}
	var (
		r       *sharedReader
		sub     *subscriber
		release func()
	)
	target := cfg.readerTarget()
	if ic.fanout(cfg) {
		// The task counts itself, labelled by the stream that starts it.
		rcfg.ctx = ic.HubContext
		if m := cfg.WALReaders; m != nil {
			rcfg.gauge = m.WithLabelValues("task", target)
		}
		r, sub, release = ic.Hub.attach(cfg.Senders, rcfg, ic.Shard)
	} else {
		r, sub, release = privateReader(rcfg, ic.Shard)
		if m := cfg.WALReaders; m != nil {
			gauge := m.WithLabelValues("future", target)
			gauge.Inc()
			defer gauge.Dec()
		}
	}
	defer release()
	g, gctx := errgroup.WithContext(ctx)
	stop := context.AfterFunc(gctx, func() { _ = stream.Close() })
	defer stop()
	s := &sender{cfg: cfg, slot: slot, out: out, pos: cfg.Command.StartLSN, interp: &interpState{enc: ic.Encoding}}
	g.Go(func() error { return s.runFanout(gctx, r, sub) })
	g.Go(func() error { return readReplies(gctx, stream, slot, out, cfg.Logger) })
	waitErr := g.Wait()
	if res, ok := out.result(); ok {
		return res.err
	}
	if ctx.Err() != nil {
		return nil
	}
	return waitErr
}

// runFanout sends the batches the shared reader queues for this stream,
// and a keepalive (after the stop check, §5.2) whenever IdleTimeout passes
// without one (§6.2).
func (s *sender) runFanout(ctx context.Context, r *sharedReader, sub *subscriber) error {
	timer := time.NewTimer(s.cfg.IdleTimeout)
	defer timer.Stop()
	st := s.interp
	for {
		select {
		case bt := <-sub.ch:
			var err error
			if st.msg, err = st.enc.AppendMessage(st.msg[:0], &bt); err != nil {
				return s.stop(ctx, *internalError(fmt.Errorf("encode interpreted batch: %w", err)))
			}
			if err := s.out.send(st.msg); err != nil {
				return s.stop(ctx, endReason{kind: endSilent, err: err})
			}
			s.pos = bt.WALEndLSN
			timer.Reset(s.cfg.IdleTimeout)
		case <-timer.C:
			if res := s.checkStop(); res != nil {
				return s.stop(ctx, *res)
			}
			k := AppendKeepalive(st.msg[:0], Keepalive{WALEnd: s.cfg.CommitLSN.Get(), SendTime: PGTimestamp(s.cfg.Now()), ReplyRequested: true})
			if err := s.out.send(k); err != nil {
				return s.stop(ctx, endReason{kind: endSilent, err: err})
			}
			timer.Reset(s.cfg.IdleTimeout)
		case <-r.done:
			return s.stop(ctx, endReason{kind: endError, sqlstate: SQLStateInternal, msg: ErrInterpretedReader.Error(),
				err: fmt.Errorf("%w: %v", ErrInterpretedReader, r.err)})
		case <-ctx.Done():
			return errStreamEnded
		}
	}
}
