package replication

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/walkeeper/walkeeper/pgwal"
)

// ErrNoZeroCopy is what FileStream.SendFile returns, having sent nothing,
// when its connection cannot send file bytes without a copy. The stream
// then sends every later chunk through the copying path.
var ErrNoZeroCopy = errors.New("replication: stream cannot send files")

// FileStream is a Stream that can also send WAL straight from a segment
// file (pgwire, with sendfile), so raw streams cost no user-space copy.
type FileStream interface {
	Stream
	// SendFile writes and flushes one CopyData whose payload is header
	// followed by the n bytes of f at off. It returns ErrNoZeroCopy having
	// sent nothing when it cannot; any other error ends the stream. It
	// must not keep header, nor use or move f's file offset.
	SendFile(header []byte, f *os.File, off int64, n int) error
}

// WALFileReader is a WALReader that can hand out the file holding a range
// of WAL (walstore.Reader).
type WALFileReader interface {
	WALReader
	// SegmentFile returns the file that holds all n bytes at lsn and lsn's
	// offset in it, or ok false when ReadAt must be used (synthetic
	// bytes, a missing or short file). The file belongs to the reader and
	// is valid until its next call.
	SegmentFile(lsn pgwal.LSN, n int) (f *os.File, off int64, ok bool)
}

// ZeroCopyMode is when raw Commit-mode streams send WAL with sendfile.
type ZeroCopyMode int

const (
	// ZeroCopyAuto, the default, uses sendfile except for clients on a
	// loopback address. Sendfile halves walkeeper's CPU per byte sent, but
	// over loopback the receiving process pays more to copy out of
	// page-cache-backed socket buffers, and a single pg_receivewal on the
	// same host drained 1 GiB 10-20 % slower (docs/benchmarks.md).
	ZeroCopyAuto ZeroCopyMode = iota
	// ZeroCopyOn uses sendfile for every client it can.
	ZeroCopyOn
	// ZeroCopyOff always reads WAL into a buffer and copies it out.
	ZeroCopyOff
)

// ParseZeroCopyMode reads "auto", "on" or "off" (--replication-sendfile).
func ParseZeroCopyMode(s string) (ZeroCopyMode, error) {
	switch s {
	case "auto":
		return ZeroCopyAuto, nil
	case "on":
		return ZeroCopyOn, nil
	case "off":
		return ZeroCopyOff, nil
	}
	return 0, fmt.Errorf("replication sendfile mode %q: want auto, on or off", s)
}

func (m ZeroCopyMode) String() string {
	switch m {
	case ZeroCopyAuto:
		return "auto"
	case ZeroCopyOn:
		return "on"
	case ZeroCopyOff:
		return "off"
	}
	return fmt.Sprintf("ZeroCopyMode(%d)", int(m))
}

// isLoopback reports whether addr ("ip:port") is a loopback address; an
// address that does not parse (a Unix socket, a test fake) is not.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// zeroCopy returns the stream and reader to send raw WAL with, or nils
// when the stream must copy: only a vanilla Commit-mode stream qualifies,
// because the bytes it sends lie below commit_lsn, which never moves back,
// so they cannot change while sendfile reads them outside any lock. A
// Flush-mode read must hold the term's read lock, and sending can block on
// the client for long, so those streams keep reading into a buffer.
// cfg.ZeroCopy may rule it out as well.
func zeroCopy(cfg *Config, out *outStream, reader WALReader, interp bool) (FileStream, WALFileReader) {
	if interp || cfg.Command.Mode() != ModeCommit {
		return nil, nil
	}
	switch cfg.ZeroCopy {
	case ZeroCopyOff:
		return nil, nil
	case ZeroCopyAuto:
		if isLoopback(cfg.Info.Addr) {
			return nil, nil
		}
	}
	fs, ok1 := out.s.(FileStream)
	fr, ok2 := reader.(WALFileReader)
	if !ok1 || !ok2 {
		return nil, nil
	}
	return fs, fr
}

// sendFileChunk sends the next XLogData (§3.3 steps 2–4, message bounds as
// in sendChunk) with its WAL straight from the segment file. sent is false
// when nothing was sent and the copying path must send the chunk: the
// range is not in one file, or the stream cannot send files (then zero
// copy stays off for the stream).
func (s *sender) sendFileChunk(end pgwal.LSN) (r *endReason, sent bool) {
	n := int(chunkEnd(s.pos, end, s.cfg.SegmentSize) - s.pos)
	f, off, ok := s.files.SegmentFile(s.pos, n)
	if !ok {
		return nil, false
	}
	hdr := s.buf[:XLogDataHeaderSize]
	putXLogDataHeader(hdr, XLogDataHeader{WALStart: s.pos, WALEnd: end, SendTime: PGTimestamp(s.cfg.Now())})
	err := s.out.sendFile(s.fileStream, hdr, f, off, n)
	switch {
	case errors.Is(err, ErrNoZeroCopy):
		s.fileStream, s.files = nil, nil
		return nil, false
	case err != nil:
		return &endReason{kind: endSilent, err: err}, true
	}
	s.pos += pgwal.LSN(n)
	return nil, true
}
