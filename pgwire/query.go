package pgwire

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/walkeeper/walkeeper/replication"
)

// query runs one query (Neon handler.rs process_query): datestyle, command
// parse, SHOW, tenant/timeline presence, permission check, then the
// command. ReadyForQuery follows unless the query ended the connection (a
// COPY stream or shutdown) or came from Execute (rfq false). done means
// the connection must close.
func (c *conn) query(ctx context.Context, q string, rfq bool) (done bool) {
	done = c.runQuery(ctx, q)
	if !done && rfq {
		c.w.queue(readyForQuery)
	}
	return done
}

func (c *conn) runQuery(ctx context.Context, q string) (done bool) {
	cmd, err := ParseCommand(q)
	if err != nil {
		c.log.Info("query failed", "query", q, "err", err)
		c.w.queue(errorResponse{code: SQLStateInternalError, msg: err.Error()})
		return false
	}
	switch cmd.Kind {
	case CmdSetDatestyle:
		c.w.queue(&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")})
		return false
	case CmdShow:
		c.w.queue(c.show(cmd.Show)...)
		return false
	case CmdTimelineHistory:
		// A standby asks only for timelines above 1; none exists here.
		code, msg := replication.TimelineHistoryError(q)
		c.w.queue(errorResponse{code: code, msg: msg})
		return false
	}
	c.log.Info("got query", "query", q)
	if msg := c.checkAccess(); msg != "" {
		c.w.queue(errorResponse{code: SQLStateInternalError, msg: msg})
		return false
	}
	switch cmd.Kind {
	case CmdIdentifySystem:
		row, err := c.srv.cfg.Handler.IdentifySystem(ctx, c.sess)
		if err != nil {
			return c.commandError(err)
		}
		c.w.queue(identifySystemMessages(row)...)
	case CmdTimelineStatus:
		row, err := c.srv.cfg.Handler.TimelineStatus(ctx, c.sess)
		if err != nil {
			return c.commandError(err)
		}
		c.w.queue(timelineStatusMessages(row)...)
	case CmdStartWALPush, CmdStartReplication:
		return c.copyBoth(ctx, cmd)
	}
	return false
}

// checkAccess returns the error text for a query the session may not run:
// ids missing from the startup options, or a token that does not grant
// this tenant (walproposer-protocol §1.4 steps 3 and 4).
func (c *conn) checkAccess() string {
	switch {
	case !c.sess.HasTenant:
		return MsgTenantRequired
	case !c.sess.HasTimeline:
		return MsgTimelineRequired
	}
	if c.srv.cfg.Auth == nil {
		return ""
	}
	if err := c.sess.Claims.CheckTenant(c.sess.TTID.Tenant); err != nil {
		c.log.Info("permission denied", "err", err)
		return MsgJWTError
	}
	return ""
}

// commandError reports a handler's error before COPY.
func (c *conn) commandError(err error) (done bool) {
	if errors.Is(err, ErrShutdown) {
		c.w.queue(errorResponse{code: SQLStateAdminShutdown, msg: "shutdown"})
		_ = c.w.flush()
		return true
	}
	c.log.Info("query failed", "err", err)
	c.w.queue(errorResponse{code: SQLStateInternalError, msg: err.Error()})
	return false
}

// copyBoth hands the connection to a streaming handler. If the handler
// fails before Start, the error is an ordinary ErrorResponse; once started,
// the stream is finished and the connection closed.
func (c *conn) copyBoth(ctx context.Context, cmd Command) (done bool) {
	if err := c.w.flush(); err != nil {
		return true
	}
	cb := &CopyBoth{c: c}
	var err error
	if cmd.Kind == CmdStartWALPush {
		err = c.srv.cfg.Handler.StartWALPush(ctx, c.sess, cmd.WALPush, cb)
	} else {
		err = c.srv.cfg.Handler.StartReplication(ctx, c.sess, cmd.Replication, cb)
	}
	if !cb.Started() {
		if err == nil {
			err = errors.New("handler returned without starting COPY")
		}
		return c.commandError(err)
	}
	if err != nil {
		c.log.Info("COPY stream ended", "err", err)
	} else {
		c.log.Info("COPY stream ended")
	}
	cb.finish(err)
	return true
}

// show answers the SHOW variables pg_receivewal asks for.
func (c *conn) show(name string) []encoder {
	switch name {
	case ShowWalSegmentSize:
		return showMessages(name, FormatBytesGUC(c.srv.cfg.WalSegmentSize))
	default:
		return showMessages(name, FormatFileMode(c.srv.cfg.DataDirMode))
	}
}
