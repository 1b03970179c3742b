package replication

import (
	"errors"
	"os"
	"sync"

	"github.com/walkeeper/walkeeper/pgwal"
)

// Stream is the COPY BOTH sub-protocol of one connection, as the libpq
// backend (pgwire) provides it. Serve calls Receive from one goroutine and
// the other methods from another, never two senders at once.
type Stream interface {
	// Start sends CopyBothResponse.
	Start() error
	// Receive returns a copy of the next CopyData payload. It returns
	// io.EOF on CopyDone (Serve answers CopyDone), an error wrapping
	// ErrCopyFail on CopyFail, and any other error for anything else.
	// Terminate and end of input may also be io.EOF (the CopyDone answer
	// then goes to a closing socket, which is harmless); to send nothing
	// at all, wrap ErrClientGone, io.ErrUnexpectedEOF or net.ErrClosed.
	Receive() ([]byte, error)
	// Send writes one CopyData and flushes it. It must not keep payload
	// after returning.
	Send(payload []byte) error
	// SendError writes and flushes an ErrorResponse with S=ERROR and the
	// given C and M fields only.
	SendError(sqlstate, msg string) error
	// SendCopyDone writes and flushes CopyDone.
	SendCopyDone() error
	// Close closes the connection so that a blocked Receive or Send
	// returns. It must be idempotent. Serve calls it when the stream ends
	// or its context is cancelled: the connection is not reusable after a
	// replication stream.
	Close() error
}

var (
	// ErrCopyFail is what Stream.Receive wraps when the client sends CopyFail.
	ErrCopyFail = errors.New("received CopyFail")
	// ErrClientGone is what Stream.Receive may wrap for Terminate or a
	// connection the client closed: the stream ends without a message.
	ErrClientGone = errors.New("replication client gone")
)

// WALReader reads WAL as stored, page headers included (walstore provides
// it). ReadAt reads into p starting at lsn and may return fewer bytes than
// len(p): it never crosses a segment boundary or the timeline start, and it
// synthesises the bytes of the first segment before timeline_start_lsn.
// A short read returns a nil error (or io.EOF).
type WALReader interface {
	ReadAt(p []byte, lsn pgwal.LSN) (int, error)
}

var errFinished = errors.New("replication stream already finished")

// endKind says what goes to the client when a stream ends (§2.4).
type endKind int

const (
	endSilent   endKind = iota // client went away, or cancelled: send nothing
	endCopyDone                // client sent CopyDone: answer CopyDone
	endError                   // ErrorResponse with sqlstate and msg
)

type endReason struct {
	kind     endKind
	sqlstate string
	msg      string
	err      error // what Serve returns; nil for a normal end
}

// outStream serialises the two goroutines' writes and makes sure exactly
// one terminal message is sent, after which every Send fails.
type outStream struct {
	mu     sync.Mutex
	s      Stream
	done   bool
	reason endReason
}

func (o *outStream) send(p []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return errFinished
	}
	return o.s.Send(p)
}

// sendFile is send for FileStream.SendFile; fs is o.s.
func (o *outStream) sendFile(fs FileStream, header []byte, f *os.File, off int64, n int) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return errFinished
	}
	return fs.SendFile(header, f, off, n)
}

// finish records the first end reason and sends its terminal message; later
// calls do nothing. Errors writing the terminal message are ignored: the
// connection is closed next anyway.
func (o *outStream) finish(r endReason) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return
	}
	o.done, o.reason = true, r
	switch r.kind {
	case endCopyDone:
		_ = o.s.SendCopyDone()
	case endError:
		_ = o.s.SendError(r.sqlstate, r.msg)
	}
}

func (o *outStream) result() (endReason, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.reason, o.done
}
