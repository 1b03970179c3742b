package pgwire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/jackc/pgx/v5/pgproto3"
)

// ErrMessageTooLarge is returned for a frontend message whose length word
// exceeds MaxMessageBodyLen.
var ErrMessageTooLarge = errors.New("message too large")

// frontendBufSize is the read buffer of a connection: big enough for a
// message header and the short messages of a session in one read, small
// enough that a CopyData payload is mostly read from the socket straight
// into the caller's buffer (see readCopyData).
const frontendBufSize = 8 << 10

// frontendReader frames the frontend messages that follow the startup
// packet: a type byte, a length word (itself included) and a body. It
// does what pgproto3.Backend.Receive does, with pgproto3's message types,
// and one thing more: a CopyData payload can be read straight into the
// caller's buffer (readCopyData), where pgproto3 first reads every message
// into its own buffer, from which the server then had to copy it.
//
// A message is read to its end or the connection is done: after an error
// (a read timeout included) the reader must not be used again.
type frontendReader struct {
	br      *bufio.Reader
	maxBody int
	body    []byte  // the last short message's body; messages alias it
	hdr     [5]byte // the header being read (a field: a local would escape to the heap)
}

func newFrontendReader(r io.Reader, maxBody int) *frontendReader {
	return &frontendReader{br: bufio.NewReaderSize(r, frontendBufSize), maxBody: maxBody}
}

// header reads a message's type and body length. A stream that ends
// between messages gives io.EOF, one that ends inside a message
// io.ErrUnexpectedEOF.
func (fr *frontendReader) header() (typ byte, n int, err error) {
	h := &fr.hdr
	if _, err := io.ReadFull(fr.br, h[:]); err != nil {
		return 0, 0, err
	}
	length := int64(int32(binary.BigEndian.Uint32(h[1:])))
	if length < 4 {
		return 0, 0, fmt.Errorf("%w: message %q with length word %d", ErrProtocol, h[0], length)
	}
	if length-4 > int64(fr.maxBody) {
		return 0, 0, fmt.Errorf("%w: message %q of %d bytes, at most %d allowed", ErrMessageTooLarge, h[0], length-4, fr.maxBody)
	}
	return h[0], int(length - 4), nil
}

// readBody reads an n-byte body into fr.body.
func (fr *frontendReader) readBody(n int) ([]byte, error) {
	var err error
	if fr.body, err = appendFull(fr.body[:0], fr.br, n); err != nil {
		return nil, err
	}
	if cap(fr.body) > shrinkAbove {
		// Keep no large buffer for the rest of the connection.
		b := fr.body
		fr.body = nil
		return b, nil
	}
	return fr.body, nil
}

// shrinkAbove is the largest body buffer a connection keeps between
// messages.
const shrinkAbove = 64 << 10

// receive reads the next message. It is valid until the next call.
func (fr *frontendReader) receive() (pgproto3.FrontendMessage, error) {
	typ, n, err := fr.header()
	if err != nil {
		return nil, err
	}
	return fr.decode(typ, n)
}

// decode reads the n-byte body of a message of type typ and decodes it.
func (fr *frontendReader) decode(typ byte, n int) (pgproto3.FrontendMessage, error) {
	var msg pgproto3.FrontendMessage
	switch typ {
	case 'B':
		msg = &pgproto3.Bind{}
	case 'C':
		msg = &pgproto3.Close{}
	case 'D':
		msg = &pgproto3.Describe{}
	case 'E':
		msg = &pgproto3.Execute{}
	case 'F':
		msg = &pgproto3.FunctionCall{}
	case 'f':
		msg = &pgproto3.CopyFail{}
	case 'd':
		msg = &pgproto3.CopyData{}
	case 'c':
		msg = &pgproto3.CopyDone{}
	case 'H':
		msg = &pgproto3.Flush{}
	case 'P':
		msg = &pgproto3.Parse{}
	case 'p':
		// Only cleartext passwords are asked for (the JWT).
		msg = &pgproto3.PasswordMessage{}
	case 'Q':
		msg = &pgproto3.Query{}
	case 'S':
		msg = &pgproto3.Sync{}
	case 'X':
		msg = &pgproto3.Terminate{}
	default:
		return nil, fmt.Errorf("%w: unknown message type %q", ErrProtocol, typ)
	}
	body, err := fr.readBody(n)
	if err != nil {
		return nil, err
	}
	if err := msg.Decode(body); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	return msg, nil
}

// readCopyData reads an n-byte CopyData payload (its header already read)
// and appends it to dst. Beyond what the read buffer already holds, the
// bytes go from the socket straight into dst.
func (fr *frontendReader) readCopyData(dst []byte, n int) ([]byte, error) {
	return appendFull(dst, fr.br, n)
}

// growStep is the most appendFull allocates ahead of the bytes read, so
// that a client declaring a large message and sending nothing does not
// make the server hold the whole declared size.
const growStep = 64 << 10

// appendFull reads exactly n bytes from r and appends them to dst. Into
// spare capacity it reads in one go (the pooled receive buffers have room
// for any AppendRequest); beyond it, it grows dst at most growStep ahead
// of what has arrived.
func appendFull(dst []byte, r io.Reader, n int) ([]byte, error) {
	for n > 0 {
		k := n
		if spare := cap(dst) - len(dst); k > spare {
			k = max(spare, min(k, growStep))
			dst = slices.Grow(dst, k)
		}
		if _, err := io.ReadFull(r, dst[len(dst):len(dst)+k]); err != nil {
			return nil, unexpectedEOF(err)
		}
		dst = dst[:len(dst)+k]
		n -= k
	}
	return dst, nil
}

// unexpectedEOF reports a stream that ended inside a message.
func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
