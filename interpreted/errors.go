package interpreted

import "errors"

var (
	// ErrBadWAL: a WAL record the interpreter cannot make sense of (short
	// main data, missing block reference, unknown NEON record, ...). The
	// reference safekeeper fails the reader on these (mostly by panicking);
	// walkeeper returns this error instead.
	ErrBadWAL = errors.New("cannot interpret WAL record")
	// ErrBadProtobuf: a protobuf batch that does not decode into the model
	// (missing next_record_lsn, batch or key, unknown ValueMeta type).
	ErrBadProtobuf = errors.New("invalid interpreted protobuf")
	// ErrBadMessage: a CopyData payload that is not an interpreted-records
	// message.
	ErrBadMessage = errors.New("invalid interpreted WAL message")
)
