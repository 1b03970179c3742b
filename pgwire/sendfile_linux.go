package pgwire

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// sendFile is CopyBoth.SendFile: under the writer's lock, anything queued,
// the CopyData header and header go out with MSG_MORE (so they share a TCP
// segment with the file bytes despite TCP_NODELAY), then sendfile moves the
// n file bytes. Kernels or file systems that refuse sendfile for the file
// get the rest copied with pread and write, so the message is never cut.
func (w *writer) sendFile(header []byte, f *os.File, off int64, n int) error {
	sc, ok := w.nc.(syscall.Conn)
	if !ok {
		return ErrNoSendfile
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return ErrNoSendfile
	}
	fc, err := f.SyscallConn()
	if err != nil {
		return ErrNoSendfile
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	hdr := copyDataHeader(len(header) + n)
	w.buf = append(append(w.buf, hdr[:]...), header...)
	w.setDeadline()
	err = sendMore(rc, w.buf)
	w.resetBuf()
	if err == nil {
		err = w.sendFileBytes(rc, fc, f, off, n)
	}
	w.err = err
	return err
}

// sendMore writes all of p with MSG_MORE: the kernel holds it back until
// the next send without the flag.
func sendMore(rc syscall.RawConn, p []byte) error {
	var werr error
	err := rc.Write(func(fd uintptr) bool {
		for len(p) > 0 {
			m, err := syscall.SendmsgN(int(fd), p, nil, nil, syscall.MSG_MORE)
			switch {
			case err == syscall.EAGAIN:
				return false
			case err == syscall.EINTR:
				continue
			case err != nil:
				werr = os.NewSyscallError("sendmsg", err)
				return true
			}
			p = p[m:]
		}
		return true
	})
	if err != nil {
		return err
	}
	return werr
}

// sendFileBytes moves the n bytes of f at off to the socket with sendfile,
// waiting for the socket to drain (within the write deadline) when full.
func (w *writer) sendFileBytes(rc syscall.RawConn, fc syscall.RawConn, f *os.File, off int64, n int) error {
	start := off
	var serr error
	cerr := fc.Control(func(src uintptr) {
		werr := rc.Write(func(dst uintptr) bool {
			for off-start < int64(n) {
				m, err := syscall.Sendfile(int(dst), int(src), &off, n-int(off-start))
				switch {
				case err == syscall.EAGAIN:
					return false
				case err == syscall.EINTR:
					continue
				case err != nil:
					serr = os.NewSyscallError("sendfile", err)
					return true
				case m == 0:
					serr = fmt.Errorf("sendfile %s: %w at offset %d", f.Name(), io.ErrUnexpectedEOF, off)
					return true
				}
			}
			return true
		})
		if serr == nil {
			serr = werr
		}
	})
	sendfileBytes.Add(uint64(off - start))
	if cerr != nil && serr == nil {
		serr = cerr
	}
	if serr != nil && refused(serr) {
		return w.copyFileBytes(f, off, n-int(off-start))
	}
	return serr
}

// refused says whether sendfile declined the file rather than failed.
func refused(err error) bool {
	return errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EOPNOTSUPP)
}

// copyFileBytes is the fallback of sendFileBytes: pread then write.
func (w *writer) copyFileBytes(f *os.File, off int64, n int) error {
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off); err != nil {
		return fmt.Errorf("read %s for copy: %w", f.Name(), err)
	}
	if _, err := w.nc.Write(buf); err != nil {
		return err
	}
	copiedFileBytes.Add(uint64(n))
	return nil
}
