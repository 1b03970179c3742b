package proposer

import "errors"

var (
	// ErrUnexpectedMessage: the server sent a message the protocol does not
	// allow at this point (e.g. no CopyBothResponse, or a VoteResponse when a
	// greeting was expected).
	ErrUnexpectedMessage = errors.New("unexpected message from safekeeper")
	// ErrStreamEnded: the server ended the COPY stream with CopyDone.
	ErrStreamEnded = errors.New("safekeeper ended the COPY stream")
	// ErrClosed: the Conn was closed.
	ErrClosed = errors.New("proposer connection closed")
)

// Server errors (ErrorResponse) are returned as *pgconn.PgError, wrapped;
// use errors.As to read Code (SQLSTATE) and Message.
