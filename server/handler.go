package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/walkeeper/walkeeper/acceptor"
	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/interpreted"
	"github.com/walkeeper/walkeeper/interpreted/shard"
	"github.com/walkeeper/walkeeper/metrics"
	"github.com/walkeeper/walkeeper/pgwire"
	"github.com/walkeeper/walkeeper/replication"
	"github.com/walkeeper/walkeeper/timeline"
	"github.com/walkeeper/walkeeper/walproto"
)

// ErrNotImplemented is returned for commands a later issue will serve.
var ErrNotImplemented = errors.New("not implemented yet")

// handler serves the libpq commands over the timeline registry.
type handler struct {
	reg     *timeline.Registry
	metrics *metrics.Metrics
	log     *slog.Logger
	// heapLayout is Config.InterpretedHeapLayout.
	heapLayout interpreted.HeapLayout
	// hub shares interpreted readers between shards (nil: no fan-out).
	hub *replication.ReaderHub
	// zeroCopy is Config.ReplicationSendfile.
	zeroCopy replication.ZeroCopyMode
	// yieldMax is Config.ReplicationYieldMax with its default applied.
	yieldMax time.Duration
}

var _ pgwire.Handler = (*handler)(nil)

// notFound is Neon's GlobalTimelines "not found" text.
func notFound(s *pgwire.Session) error {
	return fmt.Errorf("Timeline %s was not found in global map", s.TTID) //nolint:staticcheck // exact wire text
}

// lookup finds the session's timeline; a missing one gets Neon's text.
func (h *handler) lookup(s *pgwire.Session) (*timeline.Timeline, error) {
	tl, err := h.reg.Get(s.TTID)
	if errors.Is(err, timeline.ErrNotFound) {
		return nil, notFound(s)
	}
	return tl, err
}

// query counts a command in safekeeper_pg_queries_{received,finished}_total;
// call the returned func when it finishes.
func (h *handler) query(name string) func() {
	h.metrics.PGQueriesReceived.WithLabelValues(name).Inc()
	return func() { h.metrics.PGQueriesFinished.WithLabelValues(name).Inc() }
}

func (h *handler) IdentifySystem(ctx context.Context, s *pgwire.Session) (pgwire.IdentifySystemRow, error) {
	defer h.query(metrics.QueryIdentifySystem)()
	tl, err := h.lookup(s)
	if err != nil {
		return pgwire.IdentifySystemRow{}, err
	}
	st := tl.Status()
	// Recovery connections (a walproposer or a peer safekeeper) read up to
	// flush_lsn; everyone else only up to commit_lsn (§4.1).
	pos := st.CommitLSN
	if s.IsRecovery() {
		pos = st.FlushLSN
	}
	return pgwire.IdentifySystemRow{SystemID: tl.State().Server.SystemID, XLogPos: pos}, nil
}

func (h *handler) TimelineStatus(ctx context.Context, s *pgwire.Session) (*pgwire.TimelineStatusRow, error) {
	defer h.query(metrics.QueryTimelineStatus)()
	tl, err := h.reg.Get(s.TTID)
	if err != nil {
		return nil, nil // no such timeline: no rows, not an error (§4.2)
	}
	st := tl.Status()
	return &pgwire.TimelineStatusRow{FlushLSN: st.FlushLSN, CommitLSN: st.CommitLSN}, nil
}

// StartReplication serves a vanilla START_REPLICATION from the timeline's
// watches and WAL (replication.md §2–§5). Serve sends CopyBothResponse and
// the stream's terminal message itself, so everything it returns ends the
// connection silently.
func (h *handler) StartReplication(ctx context.Context, s *pgwire.Session, opts pgwire.ReplicationOptions, cb *pgwire.CopyBoth) error {
	defer h.query(metrics.QueryStartReplication)()
	tl, err := h.lookup(s)
	if err != nil {
		return err
	}
	var ic *replication.InterpretedConfig
	if s.Protocol.Kind == pgwire.ProtocolInterpreted {
		if ic, err = h.interpretedConfig(s, tl); err != nil {
			return err
		}
	}
	release, err := tl.Enter()
	if err != nil {
		return err
	}
	defer release()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(tl.Context(), cancel)
	defer stop()

	addr := ""
	if s.RemoteAddr != nil {
		addr = s.RemoteAddr.String()
	}
	info := replication.SenderInfo{Kind: replication.KindVanilla, TTID: s.TTID, Addr: addr,
		ConnID: uint32(s.ConnID), AppName: s.AppName}
	if ic != nil {
		info.Kind = replication.KindInterpreted
		info.Shard = replication.ShardIdentity{Number: ic.Shard.Number, Count: ic.Shard.Count, StripeSize: ic.Shard.StripeSize}
	}
	cfg := replication.Config{
		Command:     replication.Command{StartLSN: opts.StartLSN, Term: opts.Term, HasTerm: opts.HasTerm},
		Info:        info,
		Senders:     tl.WalSenders(),
		CommitLSN:   tl.CommitLSNWatch(),
		Computes:    tl.NumWALReceivers,
		Flush:       tl.TermFlushLSNWatch(),
		WithTerm:    tl.WithTermReadLocked,
		OpenReader:  tl.OpenWALReader,
		SegmentSize: uint64(tl.State().Server.WalSegSize),
		WALReaders:  h.metrics.WALReaders,
		Logger:      s.Logger,
		ZeroCopy:    h.zeroCopy,

		IngestBacklog: tl.IngestBacklog(),
		YieldMax:      h.yieldMax,
		YieldSeconds:  h.metrics.ReplicationYield,
	}
	if ic != nil {
		err = replication.ServeInterpreted(ctx, cfg, *ic, replStream{cb})
	} else {
		err = replication.Serve(ctx, cfg, replStream{cb})
	}
	if !cb.Started() {
		return err // a Config error: an ordinary query error
	}
	if err != nil {
		return fmt.Errorf("%w: %v", pgwire.ErrCloseSilently, err)
	}
	return nil
}

// interpretedConfig turns the session's protocol and shard startup options
// (already validated by pgwire, §1.2) into the interpreted reader's settings.
func (h *handler) interpretedConfig(s *pgwire.Session, tl *timeline.Timeline) (*replication.InterpretedConfig, error) {
	if s.Shard == nil {
		return nil, errors.New("interpreted protocol without shard parameters")
	}
	id, err := shard.NewIdentity(s.Shard.Number, s.Shard.Count, s.Shard.StripeSize)
	if err != nil {
		return nil, err
	}
	format, err := interpreted.ParseFormat(s.Protocol.Format)
	if err != nil {
		return nil, err
	}
	return &replication.InterpretedConfig{
		Shard: id,
		Encoding: interpreted.Encoding{Format: format,
			Compression: interpreted.Compression{Zstd: s.Protocol.Zstd, Level: s.Protocol.ZstdLevel}},
		Interp:     interpreted.Config{PGVersion: tl.State().Server.PGVersion, HeapLayout: h.heapLayout},
		Hub:        h.hub,
		HubContext: tl.Context(),
	}, nil
}

// replStream adapts a pgwire CopyBoth to replication.Stream.
type replStream struct{ cb *pgwire.CopyBoth }

func (r replStream) Start() error { return r.cb.Start() }

func (r replStream) Receive() ([]byte, error) {
	p, err := r.cb.Receive()
	if errors.Is(err, pgwire.ErrCopyFail) {
		return nil, fmt.Errorf("%w: %v", replication.ErrCopyFail, err)
	}
	return p, err
}

func (r replStream) Send(p []byte) error                  { return r.cb.Send(p) }
func (r replStream) SendError(sqlstate, msg string) error { return r.cb.SendError(sqlstate, msg) }

// SendFile makes replStream a replication.FileStream: raw WAL goes from
// the segment file to the socket with sendfile.
func (r replStream) SendFile(header []byte, f *os.File, off int64, n int) error {
	err := r.cb.SendFile(header, f, off, n)
	if errors.Is(err, pgwire.ErrNoSendfile) {
		return fmt.Errorf("%w: %v", replication.ErrNoZeroCopy, err)
	}
	return err
}
func (r replStream) SendCopyDone() error { return r.cb.SendCopyDone() }
func (r replStream) Close() error        { return r.cb.Close() }

// StartWALPush switches to CopyBoth and runs an acceptor Session. As in
// Neon, CopyBothResponse goes out before the first proposer message is
// read, so an unsupported proto_version or a missing timeline is reported
// inside the COPY stream (walproposer-protocol §1.5).
func (h *handler) StartWALPush(ctx context.Context, s *pgwire.Session, opts pgwire.WALPushOptions, cb *pgwire.CopyBoth) error {
	defer h.query(metrics.QueryStartWALPush)()
	if err := cb.Start(); err != nil {
		return err
	}
	h.metrics.WALReceivers.Inc()
	defer h.metrics.WALReceivers.Dec()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// A cancelled session (timeline deleted, server stopping) closes the
	// connection, which also frees a Send stuck on a client that stopped
	// reading. stop() runs first on a normal return, so the final CopyDone
	// pgwire sends after us still goes out.
	stop := context.AfterFunc(ctx, func() { cb.Close() })
	defer stop()

	stream := &copyStream{cb: cb}
	var release func()
	defer func() {
		if release != nil {
			release()
		}
	}()
	var sess *acceptor.Session
	sess = &acceptor.Session{
		Stream:       stream,
		ProtoVersion: opts.ProtoVersion,
		Logger:       s.Logger,
		Metrics: &acceptor.SessionMetrics{
			QueueDepth:      h.metrics.ReceiverQueueDepth,
			QueueDepthTotal: h.metrics.ReceiverQueueDepthAll,
			QueueSizeTotal:  h.metrics.ReceiverQueueSizeAll,
		},
		Open: func(_ context.Context, g *walproto.ProposerGreeting) (*acceptor.Core, error) {
			tl, err := h.openForPush(s, opts, g)
			if err != nil {
				return nil, err
			}
			if release, err = tl.Enter(); err != nil {
				return nil, err
			}
			stopWatch := context.AfterFunc(tl.Context(), func() { cancel(timeline.ErrCancelled) })
			// Count this compute for the walsender stop rule and relay
			// pageserver feedback into its AppendResponses (§5.1). Run
			// starts the writer only after Open returns.
			fb, unsubscribe := tl.WalSenders().SubscribeFeedback()
			streaming, done := tl.AddWALReceiver(s.ConnID)
			sess.OnElected = streaming
			leave := release
			// stopWatch drops the hook from the timeline's context: without
			// it every connection would stay referenced until the timeline
			// is deleted.
			release = func() { stopWatch(); done(); unsubscribe(); leave() }
			sess.Feedback = fb
			sess.Backlog = tl.IngestBacklog()
			return tl.Core(), nil
		},
	}
	err := sess.Run(ctx)
	if stream.copyFail != nil {
		return stream.copyFail // answered with ErrorResponse 00000
	}
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	// The acceptor already sent the ErrorResponse for a rule or decode
	// error; connection failures, cancellation and TimelineNoCreate end
	// without one.
	return fmt.Errorf("%w: %v", pgwire.ErrCloseSilently, err)
}

// openForPush finds the timeline of a START_WAL_PUSH session, creating it
// from the greeting when allow_timeline_creation is true (§3.2).
func (h *handler) openForPush(s *pgwire.Session, opts pgwire.WALPushOptions, g *walproto.ProposerGreeting) (*timeline.Timeline, error) {
	tl, err := h.reg.Get(s.TTID)
	if err == nil || !errors.Is(err, timeline.ErrNotFound) {
		return tl, err
	}
	if !opts.AllowTimelineCreation {
		return nil, fmt.Errorf("%w: %s", acceptor.ErrTimelineNoCreate, s.TTID)
	}
	server := controlfile.ServerInfo{PGVersion: g.PgVersion, SystemID: g.SystemID, WalSegSize: g.WalSegSize}
	st, err := controlfile.New(s.TTID, controlfile.Configuration{}, server, 0, 0, time.Now())
	if err != nil {
		return nil, err
	}
	return h.reg.Create(st)
}

// copyStream adapts a pgwire CopyBoth to the acceptor's Stream.
var _ acceptor.OwnedStream = (*copyStream)(nil)

type copyStream struct {
	cb       *pgwire.CopyBoth
	buf      []byte
	copyFail error
}

func (c *copyStream) Recv() ([]byte, error) {
	p, err := c.receive(c.buf[:0])
	if err == nil {
		c.buf = p
	}
	return p, err
}

// RecvOwned makes copyStream an acceptor.OwnedStream: pgwire copies each
// payload out of its read buffer into a slice the session keeps, taken
// from recvBufs.
func (c *copyStream) RecvOwned() ([]byte, error) {
	bp := recvBufs.Get().(*[]byte)
	p, err := c.receive((*bp)[:0])
	if err != nil || cap(p) != recvBufSize {
		recvBufs.Put(bp) // unused, or p outgrew it
		return p, err
	}
	*bp = nil
	recvPtrs.Put(bp)
	return p, nil
}

// Recycle makes copyStream an acceptor.Recycler: a processed
// AppendRequest's payload goes back to recvBufs for the next RecvOwned of
// any connection.
func (c *copyStream) Recycle(p []byte) {
	if cap(p) != recvBufSize {
		return
	}
	if scribbleRecycled {
		clear(p[:cap(p)])
	}
	bp := recvPtrs.Get().(*[]byte)
	*bp = p[:0]
	recvBufs.Put(bp)
}

// recvBufSize is the capacity of pooled receive buffers: an AppendRequest
// header plus the largest WAL it may carry (128 KiB), with room to spare.
// Larger messages get a buffer of their own that is not pooled.
const recvBufSize = walproto.MaxWALPerAppend + 4096

// recvBufs pools receive buffers across connections, so that ingesting
// WAL does not allocate (and the GC does not scan and zero) 128 KiB per
// AppendRequest; recvPtrs holds the empty *[]byte boxes, so that moving a
// buffer in and out of the pool allocates nothing either.
var (
	recvBufs = sync.Pool{New: func() any {
		b := make([]byte, 0, recvBufSize)
		return &b
	}}
	recvPtrs = sync.Pool{New: func() any { return new([]byte) }}
)

// scribbleRecycled makes Recycle zero every buffer it takes back, so that
// a test in which anything still read a recycled payload sees zeros
// instead of the WAL it expects (set by this package's TestMain).
var scribbleRecycled bool

func (c *copyStream) receive(dst []byte) ([]byte, error) {
	p, err := c.cb.ReceiveAppend(dst)
	if errors.Is(err, pgwire.ErrCopyFail) {
		c.copyFail = err
		return nil, io.EOF
	}
	return p, err
}

func (c *copyStream) Send(payload []byte) error { return c.cb.Send(payload) }

func (c *copyStream) SendError(msg string) error {
	return c.cb.SendError(pgwire.SQLStateInternalError, msg)
}

func (c *copyStream) Interrupt() { c.cb.InterruptReceive() }
