package pgwire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/walkeeper/walkeeper/auth"
)

// ErrAuth is returned by the handshake when a token is refused.
var ErrAuth = errors.New("JWT authentication failed")

// ErrInterrupted is returned by reads after CopyBoth.InterruptReceive.
var ErrInterrupted = errors.New("receive interrupted")

// deadlineReader re-arms the read deadline before every read, giving the
// connection an inactivity timeout. Once interrupted, every read fails.
type deadlineReader struct {
	nc          net.Conn
	timeout     time.Duration
	interrupted atomic.Bool
	io          *traffic // counts the bytes read; nil: not counted
}

func (r *deadlineReader) Read(p []byte) (int, error) {
	_ = r.nc.SetReadDeadline(time.Now().Add(r.timeout))
	// Checked after arming the deadline: an interrupt that lands before
	// this check is seen here, one after it moves the deadline to the past
	// and the read's deadline error is reported as the interrupt.
	if r.interrupted.Load() {
		return 0, ErrInterrupted
	}
	n, err := r.nc.Read(p)
	r.io.addRead(n)
	if err != nil && r.interrupted.Load() {
		return n, ErrInterrupted
	}
	return n, err
}

// interrupt makes a blocked and every later Read fail promptly.
func (r *deadlineReader) interrupt() {
	r.interrupted.Store(true)
	_ = r.nc.SetReadDeadline(time.Unix(1, 0))
}

// conn is one client connection.
type conn struct {
	srv       *Server
	nc        net.Conn
	r         *deadlineReader
	fr        *frontendReader
	w         *writer
	log       *slog.Logger
	sess      *Session
	closeOnce sync.Once
	unnamed   string // query of the last Parse (extended protocol)
}

func (s *Server) newConn(nc net.Conn) *conn {
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	id := s.nextID.Add(1)
	c := &conn{
		srv: s,
		nc:  nc,
		r:   &deadlineReader{nc: nc, timeout: s.cfg.ReadTimeout},
		w:   newWriter(nc, s.cfg.ReadTimeout),
		log: s.log.With("conn_id", id),
	}
	tr := newTraffic(s.cfg.Traffic)
	c.r.io, c.w.io = tr, tr
	c.fr = newFrontendReader(c.r, MaxMessageBodyLen)
	c.sess = &Session{ConnID: id, RemoteAddr: nc.RemoteAddr(), Logger: c.log}
	return c
}

func (c *conn) close() error {
	var err error
	c.closeOnce.Do(func() { err = c.nc.Close() })
	return err
}

// serve runs the connection to its end and closes it.
func (c *conn) serve(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { c.close() })
	defer stop()
	defer c.close()
	c.log.Debug("connection accepted", "remote", c.sess.RemoteAddr)
	if err := c.handshake(); err != nil {
		c.logEnd("handshake failed", err)
		return
	}
	err := c.loop(ctx)
	if ctx.Err() != nil {
		c.log.Info("connection closed by shutdown")
		return
	}
	c.logEnd("connection closed", err)
}

func (c *conn) logEnd(what string, err error) {
	switch {
	case err == nil:
		c.log.Debug(what)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		c.log.Debug(what, "err", err)
	default:
		c.log.Info(what, "err", err)
	}
}

// handshake answers SSL/GSS requests with 'N', reads the StartupMessage and
// authenticates. Every error closes the connection; only a refused token
// gets an ErrorResponse first.
func (c *conn) handshake() error {
	for {
		msg, err := readStartupPacket(c.r)
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.SSLRequest, *pgproto3.GSSEncRequest:
			n, err := c.nc.Write([]byte{'N'})
			c.w.io.addWrite(n)
			if err != nil {
				return err
			}
		case *pgproto3.CancelRequest:
			return ErrCancelRequest
		case *pgproto3.StartupMessage:
			opts, err := ParseStartupParams(m.Parameters)
			if err != nil {
				return err
			}
			c.sess.StartupOptions = opts
			c.w.io.relabel(c.srv.cfg.Traffic, opts)
			if opts.HasTenant || opts.HasTimeline {
				c.log = c.log.With("ttid", opts.TTID.String())
				c.sess.Logger = c.log
			}
			if c.srv.cfg.Auth == nil {
				return c.w.send(trustStartupMessages()...)
			}
			return c.authenticate()
		default:
			return fmt.Errorf("%w: %T during startup", ErrProtocol, msg)
		}
	}
}

// authenticate asks for a cleartext password and validates it as a JWT.
func (c *conn) authenticate() error {
	if err := c.w.send(&pgproto3.AuthenticationCleartextPassword{}); err != nil {
		return err
	}
	msg, err := c.fr.receive()
	if err != nil {
		return err
	}
	pw, ok := msg.(*pgproto3.PasswordMessage)
	if !ok {
		return fmt.Errorf("%w: unexpected %T while waiting for password", ErrProtocol, msg)
	}
	claims, err := c.checkToken(pw.Password)
	if err != nil {
		_ = c.w.send(errorResponse{code: SQLStateInternalError, msg: MsgJWTError})
		return err
	}
	c.sess.Claims = claims
	return c.w.send(jwtOKMessages()...)
}

func (c *conn) checkToken(token string) (*auth.Claims, error) {
	claims, err := c.srv.cfg.Auth.Validate(token)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAuth, err)
	}
	if c.srv.cfg.TenantOnly && claims.Scope != auth.ScopeTenant {
		return nil, fmt.Errorf("%w: passed JWT token is for full access, but only tenant scope is allowed", ErrAuth)
	}
	if claims.Scope == auth.ScopeTenant && !claims.HasTenant {
		return nil, fmt.Errorf("%w: jwt token scope is Tenant, but tenant id is missing", ErrAuth)
	}
	return claims, nil
}

// loop reads messages until Terminate, EOF, a protocol error or a COPY
// stream ends the connection.
func (c *conn) loop(ctx context.Context) error {
	for {
		msg, err := c.fr.receive()
		if err != nil {
			return err
		}
		done, err := c.dispatch(ctx, msg)
		if err != nil || done {
			return err
		}
		if err := c.w.flush(); err != nil {
			return err
		}
	}
}

// dispatch handles one message; done means the connection must close.
func (c *conn) dispatch(ctx context.Context, msg pgproto3.FrontendMessage) (done bool, err error) {
	switch m := msg.(type) {
	case *pgproto3.Query:
		done := c.query(ctx, m.String, true)
		return done, nil
	case *pgproto3.Terminate:
		return true, nil
	case *pgproto3.Parse:
		c.unnamed = m.Query
		c.w.queue(&pgproto3.ParseComplete{})
	case *pgproto3.Describe:
		c.w.queue(&pgproto3.ParameterDescription{}, &pgproto3.NoData{})
	case *pgproto3.Bind:
		c.w.queue(&pgproto3.BindComplete{})
	case *pgproto3.Close:
		c.w.queue(&pgproto3.CloseComplete{})
	case *pgproto3.Execute:
		return c.query(ctx, c.unnamed, false), nil
	case *pgproto3.Sync:
		c.w.queue(readyForQuery)
	case *pgproto3.Flush:
	default:
		return true, fmt.Errorf("%w: unexpected message %T", ErrProtocol, msg)
	}
	return false, nil
}
