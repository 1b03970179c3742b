package proposer

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/walkeeper/walkeeper/walproto"
)

// Send encodes m in the connection's version and sends it as one CopyData.
func (c *Conn) Send(m walproto.ProposerMessage) error {
	if a, ok := m.(walproto.AppendRequest); ok {
		return c.sendAppend(&a)
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	b := append(c.sendBuf[:0], 'd', 0, 0, 0, 0)
	return c.writeCopyData(walproto.AppendProposerMessage(b, c.version, m), nil, m.Tag())
}

// sendAppend sends an AppendRequest. One with gatherMin bytes of WAL or
// more goes out as its framed header and its WAL, from where it lies, in
// one writev: the same bytes, without copying up to 128 KiB a message
// into the send buffer first.
func (c *Conn) sendAppend(a *walproto.AppendRequest) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	b := append(c.sendBuf[:0], 'd', 0, 0, 0, 0)
	if len(a.WAL) < gatherMin {
		return c.writeCopyData(walproto.AppendAppendRequest(b, c.version, *a), nil, a.Tag())
	}
	hdr := *a
	hdr.WAL = nil
	return c.writeCopyData(walproto.AppendAppendRequest(b, c.version, hdr), a.WAL, a.Tag())
}

// gatherMin is the least WAL an AppendRequest carries for Send to send it
// from where it lies instead of copying it behind the header.
const gatherMin = 4 << 10

// SendRaw sends payload as one CopyData, whatever it holds (for tests that
// feed a safekeeper malformed messages).
func (c *Conn) SendRaw(payload []byte) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	b := append(append(c.sendBuf[:0], 'd', 0, 0, 0, 0), payload...)
	return c.writeCopyData(b, nil, 0)
}

// writeCopyData fills in the length of a CopyData framed in b and
// followed by tail (may be empty) and writes both; tag names the message
// in errors (0 for raw). sendMu is held.
func (c *Conn) writeCopyData(b, tail []byte, tag byte) error {
	select {
	case <-c.closed:
		return ErrClosed
	default:
	}
	binary.BigEndian.PutUint32(b[1:], uint32(len(b)-1+len(tail)))
	c.sendBuf = b
	var err error
	if len(tail) == 0 {
		_, err = c.conn.Write(b)
	} else {
		c.iov = [2][]byte{b, tail}
		c.bufs = c.iov[:]
		_, err = c.bufs.WriteTo(c.conn)
		c.iov = [2][]byte{} // keep no reference to the caller's WAL
	}
	if err != nil {
		if tag == 0 {
			return fmt.Errorf("proposer: send raw message: %w", err)
		}
		return fmt.Errorf("proposer: send %q message: %w", tag, err)
	}
	return nil
}

// ReceiveRaw returns the payload of the next CopyData from the server, copied.
// An ErrorResponse is returned as a wrapped *pgconn.PgError, CopyDone as
// ErrStreamEnded. When ctx ends first it returns ctx's error, and the
// connection stays usable: a message half read is finished by the next call.
func (c *Conn) ReceiveRaw(ctx context.Context) ([]byte, error) {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	stop := c.deadlineOnCancel(ctx)
	defer stop()
	for {
		msg, err := c.fe.Receive()
		if err != nil {
			select {
			case <-c.closed:
				return nil, ErrClosed
			default:
			}
			return nil, c.ctxErr(ctx, fmt.Errorf("proposer: receive: %w", err))
		}
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			return append([]byte(nil), m.Data...), nil
		case *pgproto3.ErrorResponse:
			return nil, fmt.Errorf("proposer: safekeeper: %w", pgconn.ErrorResponseToPgError(m))
		case *pgproto3.CopyDone:
			return nil, ErrStreamEnded
		case *pgproto3.NoticeResponse, *pgproto3.ParameterStatus:
		default:
			return nil, fmt.Errorf("%w: %T in COPY stream", ErrUnexpectedMessage, msg)
		}
	}
}

// Receive returns the next safekeeper message, parsed as strictly as the
// walproposer does (walproto.ParseAcceptorMessage). Errors are those of
// ReceiveRaw or the parser's.
func (c *Conn) Receive(ctx context.Context) (walproto.AcceptorMessage, error) {
	b, err := c.ReceiveRaw(ctx)
	if err != nil {
		return nil, err
	}
	m, err := walproto.ParseAcceptorMessage(c.version, b)
	if err != nil {
		return nil, fmt.Errorf("proposer: %w", err)
	}
	return m, nil
}
