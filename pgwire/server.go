package pgwire

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/walkeeper/walkeeper/auth"
	"github.com/walkeeper/walkeeper/pgwal"
)

// Connection limits.
const (
	// DefaultReadTimeout drops a connection that sends nothing for this long.
	DefaultReadTimeout = 10 * time.Minute
	// MaxMessageBodyLen bounds every frontend message body: a query, or a
	// CopyData carrying a 128 KiB AppendRequest plus its header, with room
	// to spare. A larger declared length closes the connection before any
	// allocation.
	MaxMessageBodyLen = 1 << 20
)

// ErrShutdown may be wrapped by a handler's error before COPY: the client
// gets ErrorResponse 57P01 "shutdown" and the connection is closed.
var ErrShutdown = errors.New("shutdown")

// Handler executes the commands pgwire routes. Before a handler calls
// cb.Start, a returned error becomes ErrorResponse(XX000, err.Error()) plus
// ReadyForQuery and the session continues; after it, see CopyBoth.
type Handler interface {
	// IdentifySystem answers IDENTIFY_SYSTEM; an error (e.g. the timeline
	// was not found) is sent as an ErrorResponse.
	IdentifySystem(ctx context.Context, s *Session) (IdentifySystemRow, error)
	// TimelineStatus answers TIMELINE_STATUS; a nil row means the timeline
	// does not exist (no rows, not an error).
	TimelineStatus(ctx context.Context, s *Session) (*TimelineStatusRow, error)
	// StartWALPush serves START_WAL_PUSH; it calls cb.Start when ready.
	StartWALPush(ctx context.Context, s *Session, opts WALPushOptions, cb *CopyBoth) error
	// StartReplication serves START_REPLICATION; it calls cb.Start when ready.
	StartReplication(ctx context.Context, s *Session, opts ReplicationOptions, cb *CopyBoth) error
}

// Session is what a handler knows about its connection. It is read-only
// for handlers.
type Session struct {
	StartupOptions
	ConnID     uint64
	RemoteAddr net.Addr
	// Claims are the token's claims, nil under trust auth.
	Claims *auth.Claims
	// Logger carries conn_id (and the timeline, once known).
	Logger *slog.Logger
}

// Config configures a Server.
type Config struct {
	Handler Handler
	// Auth validates tokens; nil means trust.
	Auth *auth.Validator
	// TenantOnly accepts only tenant-scoped tokens (--listen-pg-tenant-only).
	TenantOnly bool
	Logger     *slog.Logger // nil discards
	// ReadTimeout defaults to DefaultReadTimeout; it also bounds each write.
	ReadTimeout time.Duration
	// WalSegmentSize is SHOW wal_segment_size (default 16 MiB).
	WalSegmentSize uint64
	// DataDirMode is SHOW data_directory_mode (default 0700).
	DataDirMode os.FileMode
	// Traffic, if set, counts every connection's bytes (see TrafficFunc).
	Traffic TrafficFunc
}

// Server accepts libpq connections and serves each in its own goroutine.
type Server struct {
	cfg    Config
	log    *slog.Logger
	nextID *atomic.Uint64
	wg     sync.WaitGroup
}

// connIDs is shared by every Server of the process, so conn_id is unique in
// the log even with several listeners.
var connIDs atomic.Uint64

// NewServer returns a Server; zero Config fields take their defaults.
func NewServer(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.WalSegmentSize == 0 {
		cfg.WalSegmentSize = pgwal.DefaultSegmentSize
	}
	if cfg.DataDirMode == 0 {
		cfg.DataDirMode = 0o700
	}
	return &Server{cfg: cfg, log: cfg.Logger, nextID: &connIDs}
}

// Serve accepts connections on l until ctx is cancelled, then closes l and
// every connection it accepted, waits for their goroutines and returns nil.
// It returns an error if Accept fails for another reason.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	defer s.wg.Wait()
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// EMFILE and friends pass; back off instead of spinning.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed, retrying", "err", err, "backoff", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		c := s.newConn(nc)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.serve(ctx)
		}()
	}
}
