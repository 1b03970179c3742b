package pgwire

import (
	"encoding/binary"
	"errors"
	"os"
	"sync/atomic"
)

// ErrNoSendfile is returned by CopyBoth.SendFile, having sent nothing, when
// the connection cannot take file bytes without a copy (not a socket, TLS,
// not Linux, or the kernel refused sendfile on an earlier call), and for
// an empty range. The caller then sends the bytes with Send.
var ErrNoSendfile = errors.New("connection does not support sendfile")

// Payload bytes CopyBoth.SendFile moved, process-wide: with sendfile, and
// through a user-space copy when the kernel refused sendfile for a file.
// Tests and benchmarks read them with SendFileStats.
var sendfileBytes, copiedFileBytes atomic.Uint64

// SendFileStats returns how many payload bytes CopyBoth.SendFile has sent
// in this process with sendfile, and how many it had to copy instead.
func SendFileStats() (sendfile, copied uint64) {
	return sendfileBytes.Load(), copiedFileBytes.Load()
}

// SendFile writes one CopyData message whose payload is header followed by
// the n bytes of f at offset off, and flushes it. The file bytes go from
// the page cache to the socket with sendfile, never through user space.
// It returns ErrNoSendfile, having sent nothing, when the connection is
// not a plain socket. f's file offset is not used or moved. Once anything
// was sent, an error (including a file shorter than off+n) leaves the
// connection broken, as any failed Send does.
func (cb *CopyBoth) SendFile(header []byte, f *os.File, off int64, n int) error {
	if !cb.started.Load() {
		return ErrNotStarted
	}
	return cb.c.w.sendFile(header, f, off, n)
}

// copyDataHeader returns the 5-byte CopyData header of a payload of size n.
func copyDataHeader(n int) [5]byte {
	var hdr [5]byte
	hdr[0] = 'd'
	binary.BigEndian.PutUint32(hdr[1:], uint32(n+4))
	return hdr
}
