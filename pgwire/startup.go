package pgwire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Startup packet limits (PostgreSQL's MAX_STARTUP_PACKET_LENGTH; the
// smallest packet is a length word plus a request code).
const (
	MinStartupPacketLen = 8
	MaxStartupPacketLen = 10000
)

// Request codes of the special startup packets (pqcomm.h).
const (
	cancelRequestCode = 1234<<16 | 5678
	sslRequestCode    = 1234<<16 | 5679
	gssEncRequestCode = 1234<<16 | 5680
	reservedMajor     = 1234
)

// Startup errors. Any of them closes the connection without an
// ErrorResponse (walproposer-protocol §1.2 step 4).
var (
	ErrStartupLength = errors.New("invalid startup packet length")
	ErrStartupPacket = errors.New("malformed startup packet")
	ErrDirectTLS     = errors.New("direct SSL negotiation but no TLS support")
	ErrCancelRequest = errors.New("unexpected CancelRequest message during handshake")
)

// readStartupPacket reads one length-prefixed startup packet and parses it.
// It never allocates more than MaxStartupPacketLen bytes.
func readStartupPacket(r io.Reader) (pgproto3.FrontendMessage, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	if hdr[0] == 0x16 { // a TLS ClientHello record
		return nil, ErrDirectTLS
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n < MinStartupPacketLen || n > MaxStartupPacketLen {
		return nil, fmt.Errorf("%w: %d", ErrStartupLength, n)
	}
	pkt := make([]byte, n)
	copy(pkt, hdr[:])
	if _, err := io.ReadFull(r, pkt[4:]); err != nil {
		return nil, err
	}
	return ParseStartupPacket(pkt)
}

// ParseStartupPacket parses a whole startup packet, length word included:
// a StartupMessage, SSLRequest, GSSEncRequest or CancelRequest. The result
// does not alias pkt.
func ParseStartupPacket(pkt []byte) (pgproto3.FrontendMessage, error) {
	if len(pkt) < MinStartupPacketLen || len(pkt) > MaxStartupPacketLen {
		return nil, fmt.Errorf("%w: %d", ErrStartupLength, len(pkt))
	}
	if n := binary.BigEndian.Uint32(pkt); int(n) != len(pkt) {
		return nil, fmt.Errorf("%w: length word %d, packet %d", ErrStartupLength, n, len(pkt))
	}
	body := pkt[4:]
	code := binary.BigEndian.Uint32(body)
	var msg pgproto3.FrontendMessage
	switch {
	case code == cancelRequestCode:
		msg = &pgproto3.CancelRequest{}
	case code == sslRequestCode:
		msg = &pgproto3.SSLRequest{}
	case code == gssEncRequestCode:
		msg = &pgproto3.GSSEncRequest{}
	case code>>16 == reservedMajor:
		return nil, fmt.Errorf("%w: unrecognized request code %d", ErrStartupPacket, code&0xffff)
	default:
		if !utf8.Valid(body[4:]) {
			return nil, fmt.Errorf("%w: StartupMessage params: invalid utf-8", ErrStartupPacket)
		}
		msg = &pgproto3.StartupMessage{}
	}
	if err := msg.Decode(body); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStartupPacket, err)
	}
	return msg, nil
}
