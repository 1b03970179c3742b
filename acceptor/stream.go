package acceptor

// Stream is one START_WAL_PUSH connection after CopyBothResponse, as the
// pgwire handler provides it: each message either way is one CopyData
// payload (walproposer-protocol.md §1.6).
//
// Recv is called by one goroutine, Send and SendError by one other (never
// at the same time as each other); Interrupt may be called from any
// goroutine at any time.
type Stream interface {
	// Recv returns the next CopyData payload. The slice may be overwritten
	// by the next Recv. It returns io.EOF when the client ended the stream
	// cleanly (CopyDone, CopyFail, Terminate or EOF).
	Recv() ([]byte, error)
	// Send writes one CopyData message and flushes it to the network. It
	// must not keep payload after returning.
	Send(payload []byte) error
	// SendError writes ErrorResponse(S=ERROR, C=XX000, M=msg) and flushes.
	SendError(msg string) error
	// Interrupt makes a blocked and every later Recv return an error
	// promptly without closing the write side, so that an ErrorResponse
	// can still be sent (for a net.Conn: SetReadDeadline in the past).
	Interrupt()
}

// OwnedStream is a Stream that can hand over each payload: RecvOwned returns
// a slice nobody else will touch again, so the session parses it in place
// instead of copying it (one copy less per AppendRequest on the ingest
// path). It follows Recv's rules otherwise.
type OwnedStream interface {
	Stream
	RecvOwned() ([]byte, error)
}

// Recycler is an OwnedStream that takes payloads back for reuse: after an
// AppendRequest has been processed (its WAL written, or refused) the
// session hands its payload to Recycle and never touches it again. Other
// messages are not recycled, since what they parse into may alias them.
type Recycler interface {
	Recycle(payload []byte)
}
