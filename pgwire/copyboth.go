package pgwire

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Errors of a CopyBoth stream.
var (
	// ErrCopyFail is returned by Receive when the client sent CopyFail.
	ErrCopyFail = errors.New("received CopyFail")
	// ErrProtocol is returned for a message that is not allowed where it came.
	ErrProtocol = errors.New("protocol violation")
	// ErrNotStarted is returned by Receive and Send before Start.
	ErrNotStarted = errors.New("COPY stream not started")
	// ErrCloseSilently may be wrapped by a handler's error to end the stream
	// without an ErrorResponse (e.g. timeline missing and creation not
	// allowed, or shutdown).
	ErrCloseSilently = errors.New("stream closed without error response")
)

// CopyBoth is a connection switched (or about to switch) to CopyBoth mode,
// handed to START_WAL_PUSH and START_REPLICATION handlers. One goroutine
// may Receive while another sends; every method is safe for that. After the
// handler returns, the connection is closed.
type CopyBoth struct {
	c          *conn
	started    atomic.Bool
	recvMu     sync.Mutex
	gotDone    atomic.Bool // client sent CopyDone
	sentDone   atomic.Bool
	sentError  atomic.Bool
	closeOnce  sync.Once
	closeError error
}

// Start sends CopyBothResponse (no columns, text format). Until Start, a
// handler's error is reported as a normal ErrorResponse and the session
// continues.
func (cb *CopyBoth) Start() error {
	if cb.started.Swap(true) {
		return nil
	}
	return cb.c.w.send(&pgproto3.CopyBothResponse{})
}

// Started reports whether Start was called.
func (cb *CopyBoth) Started() bool { return cb.started.Load() }

// Receive returns the payload of the next CopyData message, copied so it may
// cross goroutines. It returns io.EOF when the client ends the stream with
// CopyDone, Terminate or by closing the connection, and an error wrapping
// ErrCopyFail for CopyFail.
func (cb *CopyBoth) Receive() ([]byte, error) {
	return cb.ReceiveAppend(nil)
}

// ReceiveAppend is Receive appending the payload to dst, so a caller can
// reuse buffers; the result never aliases pgwire's read buffer.
func (cb *CopyBoth) ReceiveAppend(dst []byte) ([]byte, error) {
	if !cb.started.Load() {
		return nil, ErrNotStarted
	}
	cb.recvMu.Lock()
	defer cb.recvMu.Unlock()
	if cb.gotDone.Load() {
		return nil, io.EOF
	}
	typ, n, err := cb.c.fr.header()
	if err == nil && typ == 'd' {
		dst, err = cb.c.fr.readCopyData(dst, n)
	}
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, io.EOF
		}
		return nil, err
	}
	if typ == 'd' {
		return dst, nil
	}
	msg, err := cb.c.fr.decode(typ, n)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, io.EOF
		}
		return nil, err
	}
	switch m := msg.(type) {
	case *pgproto3.CopyDone:
		cb.gotDone.Store(true)
		return nil, io.EOF
	case *pgproto3.Terminate:
		return nil, io.EOF
	case *pgproto3.CopyFail:
		return nil, fmt.Errorf("%w: %s", ErrCopyFail, m.Message)
	default:
		return nil, fmt.Errorf("%w: unexpected %T in COPY stream", ErrProtocol, msg)
	}
}

// Send writes one CopyData message and flushes it.
func (cb *CopyBoth) Send(payload []byte) error {
	if !cb.started.Load() {
		return ErrNotStarted
	}
	return cb.c.w.sendCopyData(payload)
}

// SendError writes an ErrorResponse with the given SQLSTATE and message
// inside the stream (before Start, return an error from the handler
// instead). The stream ends after it; pgwire then sends nothing more.
func (cb *CopyBoth) SendError(sqlstate, msg string) error {
	if !cb.started.Load() {
		return ErrNotStarted
	}
	cb.sentError.Store(true)
	return cb.c.w.send(errorResponse{code: sqlstate, msg: msg})
}

// SendCopyDone answers the client's CopyDone (or ends the server's half).
func (cb *CopyBoth) SendCopyDone() error {
	if !cb.started.Load() {
		return ErrNotStarted
	}
	if cb.sentDone.Swap(true) {
		return nil
	}
	return cb.c.w.send(&pgproto3.CopyDone{})
}

// InterruptReceive makes a blocked and every later Receive return an error
// wrapping ErrInterrupted, without closing the connection: the handler can
// still send an ErrorResponse. Safe to call from any goroutine.
func (cb *CopyBoth) InterruptReceive() { cb.c.r.interrupt() }

// Close closes the connection. It is idempotent and unblocks Receive and
// Send in other goroutines.
func (cb *CopyBoth) Close() error {
	cb.closeOnce.Do(func() { cb.closeError = cb.c.close() })
	return cb.closeError
}

// finish ends the stream after the handler returned err: CopyDone back after
// the client's CopyDone, ErrorResponse 00000 for CopyFail, XX000 for other
// errors unless the handler already sent one or asked for silence.
func (cb *CopyBoth) finish(err error) {
	switch {
	case cb.gotDone.Load() && (err == nil || errors.Is(err, io.EOF)):
		_ = cb.SendCopyDone()
	case err == nil || errors.Is(err, io.EOF) || cb.sentError.Load() || errors.Is(err, ErrCloseSilently):
	case errors.Is(err, ErrCopyFail):
		_ = cb.SendError(SQLStateSuccess, ErrCopyFail.Error())
	default:
		_ = cb.SendError(SQLStateInternalError, err.Error())
	}
	_ = cb.Close()
}
