package walproto

import "errors"

// Sentinel errors. Parsers wrap them with the message and field they were
// reading; test with errors.Is.
var (
	// ErrShortMessage: the message ends before a field it must contain.
	ErrShortMessage = errors.New("message is not complete")
	// ErrTrailingBytes: bytes remain after a complete message (proposer-side
	// parsing only; the safekeeper ignores them).
	ErrTrailingBytes = errors.New("unexpected bytes after message")
	// ErrUnknownTag: the tag names no message of this direction.
	ErrUnknownTag = errors.New("unknown message tag")
	// ErrUnsupportedVersion: the protocol version is neither 2 nor 3.
	ErrUnsupportedVersion = errors.New("unsupported protocol version")
	// ErrAppendTooLarge: an AppendRequest carries more than MaxWALPerAppend bytes.
	ErrAppendTooLarge = errors.New("AppendRequest is longer than MAX_SEND_SIZE (131072)")
	// ErrAppendRange: an AppendRequest's begin_lsn is after its end_lsn.
	ErrAppendRange = errors.New("begin_lsn > end_lsn in AppendRequest")
	// ErrMalformed: a field has a value the format does not allow (bad id
	// text, invalid UTF-8, duplicate member, wrong feedback value length...).
	ErrMalformed = errors.New("malformed message")
	// ErrBadCommand: START_WAL_PUSH options that cannot be parsed.
	ErrBadCommand = errors.New("failed to parse START_WAL_PUSH command")
)
