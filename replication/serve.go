package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/walkeeper/walkeeper/internal/backlog"
	"github.com/walkeeper/walkeeper/internal/watch"
	"github.com/walkeeper/walkeeper/pgwal"
)

// IdleTimeout is POLL_STATE_TIMEOUT: how long a sender waits for new WAL
// before it checks the stop rule and sends a keepalive.
const IdleTimeout = time.Second

// TermLSN is the Flush-mode end watch value: the acceptor's last_log_term
// and flush_lsn, published together.
type TermLSN struct {
	Term uint64
	LSN  pgwal.LSN
}

// Config is everything one vanilla START_REPLICATION needs from its
// timeline. Only watches and callbacks are shared with the acceptor, so a
// slow sender never slows it down.
type Config struct {
	Command Command    // the parsed START_REPLICATION; Command.Mode() picks the end watch
	Info    SenderInfo // registered in Senders for the stream's lifetime
	Senders *WalSenders

	// CommitLSN is the in-memory commit_lsn watch (Commit mode; required).
	// Its value never exceeds flush_lsn and never decreases.
	CommitLSN *watch.Value[pgwal.LSN]
	// Computes returns how many walproposers (and peer-recovery receivers)
	// push WAL to the timeline now: the stop rule's num_walreceivers
	// (Commit mode; required).
	Computes func() int

	// Flush is the (last_log_term, flush_lsn) watch (Flush mode; required).
	Flush *watch.Value[TermLSN]
	// WithTerm runs read while holding the timeline's shared-state read
	// lock if the acceptor's current term equals term; otherwise it returns
	// &TermError{Requested: term, Current: <term>, Acquire: true} without
	// calling read. It returns read's error. (Flush mode; required.)
	WithTerm func(term uint64, read func() error) error

	// OpenReader opens a WAL reader at start; if it is an io.Closer, Serve
	// closes it when the stream ends. It runs after
	// CopyBothResponse, so its errors ("Requested streaming from X, which
	// is before the start of the timeline Y...") reach the client as
	// ErrorResponse XX000 (§3.6). Required.
	OpenReader func(start pgwal.LSN) (WALReader, error)

	SegmentSize uint64        // WAL segment size; 0 means 16 MiB
	IdleTimeout time.Duration // 0 means IdleTimeout (1 s); tests shorten it
	// WALReaders is safekeeper_wal_readers (labels kind, target); nil to skip.
	WALReaders *prometheus.GaugeVec
	Logger     *slog.Logger     // nil discards
	Now        func() time.Time // nil means time.Now

	// IngestBacklog is the work queued for the timeline's WalAcceptors
	// (acceptor sessions count into it). While it is above zero a sender
	// holds back before each chunk, for at most YieldMax in all until it
	// has caught up again (see yielder). Nil, or YieldMax <= 0, never
	// yields; nor does a Flush-mode (recovery) stream.
	IngestBacklog *backlog.Counter
	YieldMax      time.Duration
	// YieldSeconds counts the time spent holding back; nil to skip.
	YieldSeconds prometheus.Counter

	// ZeroCopy says when a Commit-mode raw stream over a FileStream, with
	// a WALFileReader, sends WAL with sendfile (see ZeroCopyMode).
	ZeroCopy ZeroCopyMode
}

func (c *Config) setDefaults() error {
	if c.SegmentSize == 0 {
		c.SegmentSize = pgwal.DefaultSegmentSize
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = IdleTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	switch {
	case c.Senders == nil || c.OpenReader == nil:
		return errors.New("replication: Config needs Senders and OpenReader")
	case c.Command.Mode() == ModeCommit && (c.CommitLSN == nil || c.Computes == nil):
		return errors.New("replication: Commit mode needs CommitLSN and Computes")
	case c.Command.Mode() == ModeFlush && (c.Flush == nil || c.WithTerm == nil):
		return errors.New("replication: Flush mode needs Flush and WithTerm")
	case c.SegmentSize%pgwal.XLogBlockSize != 0:
		return fmt.Errorf("replication: segment size %d is not a multiple of the page size", c.SegmentSize)
	}
	return nil
}

// end returns the current end of WAL, the current term (Flush mode) and a
// channel closed when either changes.
func (c *Config) end() (pgwal.LSN, uint64, <-chan struct{}) {
	if c.Command.Mode() == ModeFlush {
		v, ch := c.Flush.Load()
		return v.LSN, v.Term, ch
	}
	v, ch := c.CommitLSN.Load()
	return v, 0, ch
}

// Serve runs one vanilla START_REPLICATION stream (replication.md §2.3,
// §3, §4) until the client or the server ends it, or ctx is cancelled
// (timeline shutdown). The caller has resolved the timeline and parsed the
// command; Serve registers the slot, sends CopyBothResponse, opens the
// reader, then streams WAL while a second goroutine consumes the client's
// replies. It sends the terminal message itself (CopyDone, or an
// ErrorResponse with 00000 or XX000) and always closes the stream before
// returning; the caller must not send ReadyForQuery.
//
// A Config error is returned before anything is sent, so the caller can
// answer it as an ordinary query error. Otherwise Serve returns nil for a
// normal end (CopyDone, client gone, stop rule, cancellation) and the
// cause of an abnormal one, already reported to the client if possible.
func Serve(ctx context.Context, cfg Config, stream Stream) error {
	return serve(ctx, cfg, stream, nil)
}

// serve runs a vanilla stream, or an interpreted one when ic is not nil.
func serve(ctx context.Context, cfg Config, stream Stream, ic *InterpretedConfig) error {
	if err := cfg.setDefaults(); err != nil {
		return err
	}
	slot := cfg.Senders.Register(cfg.Info)
	defer slot.Unregister()
	log := cfg.Logger.With("tenant_id", cfg.Info.TTID.Tenant, "timeline_id", cfg.Info.TTID.Timeline,
		"conn_id", cfg.Info.ConnID, "application_name", cfg.Info.AppName)
	start := cfg.Command.StartLSN
	endPos, _, _ := cfg.end()
	if endPos < start {
		log.Info("requested start_pos is ahead of available WAL end_pos", "start_pos", start, "end_pos", endPos)
	}
	log.Info(fmt.Sprintf("starting streaming from %s, available WAL ends at %s, recovery=%t",
		start, endPos, cfg.Command.Mode() == ModeFlush), "protocol", cfg.Info.Kind)

	defer stream.Close()
	if err := stream.Start(); err != nil {
		return fmt.Errorf("send CopyBothResponse: %w", err)
	}
	out := &outStream{s: stream}
	err := serveCopy(ctx, &cfg, slot, out, stream, ic)
	log.Info("finished streaming to "+cfg.Info.Addr, "feedback", fmt.Sprintf("%+v", slot.Feedback()), "err", err)
	return err
}

func serveCopy(ctx context.Context, cfg *Config, slot *Sender, out *outStream, stream Stream, ic *InterpretedConfig) error {
	// Every stream opens a reader at its own start first, as Neon's
	// start_replication does before it fans out: a start the timeline
	// cannot serve (before its first segment, say) then fails this stream
	// alone, with the reader's own message, and never reaches a shared
	// reader task that other shards stream from.
	reader, err := cfg.OpenReader(cfg.Command.StartLSN)
	if err != nil {
		out.finish(*internalError(err))
		return err
	}
	if ic != nil && cfg.Command.Mode() == ModeCommit {
		closeReader(reader) // the reader task opens its own
		return serveReaderTask(ctx, cfg, slot, out, stream, ic)
	}
	defer closeReader(reader)
	g, gctx := errgroup.WithContext(ctx)
	stop := context.AfterFunc(gctx, func() { _ = stream.Close() })
	defer stop()
	s := &sender{cfg: cfg, slot: slot, out: out, reader: reader, pos: cfg.Command.StartLSN}
	s.fileStream, s.files = zeroCopy(cfg, out, reader, ic != nil)
	if ic != nil {
		st, err := newInterpState(*ic, s.pos)
		if err != nil {
			out.finish(*internalError(err))
			return err
		}
		s.interp = st
	}
	g.Go(func() error { return s.run(gctx) })
	g.Go(func() error { return readReplies(gctx, stream, slot, out, cfg.Logger) })
	waitErr := g.Wait()
	if r, ok := out.result(); ok {
		return r.err
	}
	if ctx.Err() != nil {
		return nil // cancelled: nothing to say to the client
	}
	return waitErr
}

// closeReader closes r if it is an io.Closer.
func closeReader(r WALReader) {
	if c, ok := r.(io.Closer); ok {
		_ = c.Close()
	}
}

// readerTarget is the target label of safekeeper_wal_readers: the
// client's application_name, or "safekeeper" without one.
func (c *Config) readerTarget() string {
	if c.Info.AppName == "" {
		return "safekeeper"
	}
	return c.Info.AppName
}
