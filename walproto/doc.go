// Package walproto encodes and decodes the messages the Neon walproposer and
// a safekeeper exchange inside the START_WAL_PUSH COPY stream, byte for byte,
// in both protocol versions: 2 (little-endian C structs sent raw, with a u64
// tag) and 3 (big-endian, one tag byte). Each message is one CopyData payload.
//
// The acceptor (safekeeper) side uses ParseProposerMessage and
// AppendAcceptorMessage; it ignores trailing bytes after a parsed message, as
// the reference safekeeper does. The proposer side uses AppendProposerMessage
// and ParseAcceptorMessage, which is strict like the real walproposer
// (pq_getmsgend): a missing or extra byte is an error.
//
// The package owns only the wire format. It holds no state, does no I/O and
// knows nothing about terms, timelines or storage; libpq framing is pgwire's.
package walproto

import (
	"fmt"

	"github.com/walkeeper/walkeeper/pgwal"
)

// Protocol versions, as sent in START_WAL_PUSH's proto_version option.
const (
	// Version2 sends C structs as they are (little-endian, u64 tags).
	Version2 uint32 = 2
	// Version3 is big-endian with a one-byte tag; it carries generations.
	Version3 uint32 = 3
	// DefaultVersion is what the safekeeper assumes when START_WAL_PUSH has
	// no proto_version option.
	DefaultVersion = Version2
)

// MaxWALPerAppend is MAX_SEND_SIZE, the most WAL bytes one AppendRequest may
// carry.
const MaxWALPerAppend = pgwal.MaxSendSize

// Message tags (the first byte in v3, the low byte of a u64 in v2).
const (
	TagGreeting        byte = 'g'
	TagVote            byte = 'v'
	TagProposerElected byte = 'e'
	TagAppend          byte = 'a'
)

// CheckVersion returns nil for a supported protocol version and an error
// wrapping ErrUnsupportedVersion otherwise. The Append* functions panic on an
// unsupported version, so check a version from the network before using it.
func CheckVersion(version uint32) error {
	if version != Version2 && version != Version3 {
		return fmt.Errorf("%w %d", ErrUnsupportedVersion, version)
	}
	return nil
}

func mustVersion(version uint32) {
	if err := CheckVersion(version); err != nil {
		panic("walproto: " + err.Error())
	}
}
