package proposer

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/walproto"
)

// maxMessageSize bounds a safekeeper message body; the largest is a
// VoteResponse with a long term history, far below this.
const maxMessageSize = 1 << 20

// Config says where and how to connect.
type Config struct {
	Addr       string // host:port of the safekeeper's pg listener
	TenantID   ids.TenantID
	TimelineID ids.TimelineID
	// Token, if set, is sent as the password (a Neon JWT) when the server
	// asks for one.
	Token string
	// ProtoVersion is 2 or 3; zero means 3.
	ProtoVersion uint32
	// AllowTimelineCreation is sent as allow_timeline_creation. Note the zero
	// value sends 'false' (what the walproposer sends with generations on);
	// set it to true for a safekeeper that should create the timeline.
	AllowTimelineCreation bool
	// AppName, if set, is sent as application_name (the walproposer sends none).
	AppName string
	// User, if set, is the startup user name; otherwise libpq's default
	// (PGUSER or the OS user) is sent, which the safekeeper ignores.
	User string
}

// Conn is one START_WAL_PUSH connection in COPY mode.
//
// One goroutine may send (Send, SendRaw, Elect, Append) while another
// receives (Receive, ReceiveRaw); Greet and Vote both send and receive, so
// do not mix them with a concurrent receiver. Sends are serialized with each
// other, and so are receives.
type Conn struct {
	cfg     Config
	version uint32
	conn    net.Conn

	sendMu  sync.Mutex
	sendBuf []byte
	iov     [2][]byte   // header and WAL of a gathered send (writeCopyData)
	bufs    net.Buffers // the writev list over iov, a field so it is not allocated per send

	recvMu sync.Mutex
	fe     *pgproto3.Frontend

	stateMu    sync.Mutex
	generation uint32
	term       uint64

	closeOnce sync.Once
	closed    chan struct{}
	closeErr  error
}

// Dial connects, authenticates, sends START_WAL_PUSH and waits for
// CopyBothResponse. An ErrorResponse before the switch is returned as a
// wrapped *pgconn.PgError.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	if cfg.ProtoVersion == 0 {
		cfg.ProtoVersion = walproto.Version3
	}
	if err := walproto.CheckVersion(cfg.ProtoVersion); err != nil {
		return nil, fmt.Errorf("proposer: %w", err)
	}
	pgcfg, err := pgConfig(cfg)
	if err != nil {
		return nil, err
	}
	pc, err := pgconn.ConnectConfig(ctx, pgcfg)
	if err != nil {
		return nil, fmt.Errorf("proposer: connect %s: %w", cfg.Addr, err)
	}
	hc, err := pc.Hijack()
	if err != nil {
		pc.Close(context.Background())
		return nil, fmt.Errorf("proposer: %w", err)
	}
	hc.Frontend.SetMaxBodyLen(maxMessageSize)
	c := &Conn{cfg: cfg, version: cfg.ProtoVersion, conn: hc.Conn, fe: hc.Frontend, closed: make(chan struct{})}
	if err := c.startWALPush(ctx); err != nil {
		c.conn.Close()
		return nil, err
	}
	return c, nil
}

// pgConfig builds the libpq settings the walproposer uses: dbname=replication,
// options='-c timeline_id=<hex> tenant_id=<hex>', no TLS. Everything pgconn
// took from the environment (PGHOST, PGSSLMODE, .pgpass...) except the user
// name is overridden.
func pgConfig(cfg Config) (*pgconn.Config, error) {
	host, portText, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("proposer: address %q: %w", cfg.Addr, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("proposer: port in %q: %w", cfg.Addr, err)
	}
	pgcfg, err := pgconn.ParseConfig("sslmode=disable")
	if err != nil {
		return nil, fmt.Errorf("proposer: %w", err)
	}
	pgcfg.Host = host
	pgcfg.Port = uint16(port)
	pgcfg.Database = "replication"
	if cfg.User != "" {
		pgcfg.User = cfg.User
	}
	pgcfg.Password = cfg.Token
	pgcfg.TLSConfig = nil
	pgcfg.Fallbacks = nil
	pgcfg.ValidateConnect = nil
	pgcfg.AfterConnect = nil
	pgcfg.RuntimeParams = map[string]string{
		"options": fmt.Sprintf("-c timeline_id=%s tenant_id=%s", cfg.TimelineID, cfg.TenantID),
	}
	if cfg.AppName != "" {
		pgcfg.RuntimeParams["application_name"] = cfg.AppName
	}
	return pgcfg, nil
}

func (c *Conn) startWALPush(ctx context.Context) error {
	stop := c.deadlineOnCancel(ctx)
	defer stop()
	q := walproto.StartWALPushQuery(c.version, c.cfg.AllowTimelineCreation)
	buf, err := (&pgproto3.Query{String: q}).Encode(nil)
	if err == nil {
		_, err = c.conn.Write(buf)
	}
	if err != nil {
		return c.ctxErr(ctx, fmt.Errorf("proposer: send START_WAL_PUSH: %w", err))
	}
	for {
		msg, err := c.fe.Receive()
		if err != nil {
			return c.ctxErr(ctx, fmt.Errorf("proposer: START_WAL_PUSH: %w", err))
		}
		switch m := msg.(type) {
		case *pgproto3.CopyBothResponse:
			return nil
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("proposer: START_WAL_PUSH: %w", pgconn.ErrorResponseToPgError(m))
		case *pgproto3.NoticeResponse, *pgproto3.ParameterStatus:
		default:
			return fmt.Errorf("%w: %T in reply to START_WAL_PUSH", ErrUnexpectedMessage, msg)
		}
	}
}

// deadlineOnCancel makes a cancelled ctx interrupt blocked I/O; the returned
// func undoes it and must be called before the next I/O.
func (c *Conn) deadlineOnCancel(ctx context.Context) func() {
	if ctx.Done() == nil {
		return func() {}
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		c.conn.SetReadDeadline(time.Unix(1, 0))
		close(fired)
	})
	return func() {
		if !stop() {
			<-fired
			c.conn.SetReadDeadline(time.Time{})
		}
	}
}

func (c *Conn) ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return err
}

// Version is the protocol version in use.
func (c *Conn) Version() uint32 { return c.version }

// Close ends the stream with CopyDone and Terminate and closes the socket.
// It does not wait for the server's reply. A blocked Receive returns
// ErrClosed. It is idempotent and safe to call from any goroutine.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		// The deadline also frees a Send stuck on a server that stopped reading.
		c.conn.SetWriteDeadline(time.Now().Add(time.Second))
		c.sendMu.Lock()
		c.conn.Write([]byte{'c', 0, 0, 0, 4, 'X', 0, 0, 0, 4}) // CopyDone, Terminate
		c.sendMu.Unlock()
		if err := c.conn.Close(); err != nil && !strings.Contains(err.Error(), "use of closed") {
			c.closeErr = err
		}
	})
	return c.closeErr
}
