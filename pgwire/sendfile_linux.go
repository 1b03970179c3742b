package pgwire

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// fileSender is a writer's sendfile state, made on first use and reused so
// that a send allocates nothing: the raw socket, the last file's raw
// handle, and the callbacks with their arguments.
type fileSender struct {
	rc syscall.RawConn // the socket

	f  *os.File        // the file fc belongs to
	fc syscall.RawConn // f's raw handle

	p         []byte // sendMore: what is left to send
	off, end  int64  // sendFileBytes: the file range left
	err       error  // the callbacks' result
	moreFn    func(fd uintptr) bool
	sendFn    func(fd uintptr) bool
	controlFn func(fd uintptr)
	src       int // the file descriptor during controlFn

	// refusedOnce is set after the kernel refused sendfile: later calls
	// send nothing and return ErrNoSendfile, so the caller copies.
	refusedOnce bool
}

// fileSenderLocked returns the writer's sendfile state, or nil when its
// connection is not a socket with a descriptor (a pipe, TLS).
func (w *writer) fileSenderLocked() *fileSender {
	if w.fs != nil {
		return w.fs
	}
	sc, ok := w.nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	fs := &fileSender{rc: rc}
	fs.moreFn, fs.sendFn, fs.controlFn = fs.more, fs.sendfile, fs.control
	w.fs = fs
	return fs
}

// sendFile is CopyBoth.SendFile: under the writer's lock, anything queued,
// the CopyData header and header go out with MSG_MORE (so they share a TCP
// segment with the file bytes despite TCP_NODELAY), then sendfile moves the
// n file bytes. Kernels or file systems that refuse sendfile for the file
// get the rest copied with pread and write, so the message is never cut.
func (w *writer) sendFile(header []byte, f *os.File, off int64, n int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	fs := w.fileSenderLocked()
	if fs == nil || fs.refusedOnce || n <= 0 {
		// n == 0 would leave the MSG_MORE header waiting in the kernel.
		return ErrNoSendfile
	}
	if fs.f != f {
		fc, err := f.SyscallConn()
		if err != nil {
			return ErrNoSendfile
		}
		fs.f, fs.fc = f, fc
	}
	if w.err != nil {
		return w.err
	}
	hdr := copyDataHeader(len(header) + n)
	w.buf = append(append(w.buf, hdr[:]...), header...)
	w.setDeadline()
	sent, err := fs.sendMore(w.buf)
	w.io.addWrite(sent)
	w.resetBuf()
	if err == nil {
		start := off
		err = fs.sendFileBytes(off, n)
		w.io.addWrite(int(fs.off - start))
		if err != nil && refused(err) {
			fs.refusedOnce = true
			err = w.copyFileBytes(f, fs.off, int(fs.end-fs.off))
		}
	}
	w.err = err
	return err
}

// sendMore writes all of p with MSG_MORE: the kernel holds it back until
// the next send without the flag. It returns how many bytes it wrote.
func (fs *fileSender) sendMore(p []byte) (int, error) {
	fs.p, fs.err = p, nil
	err := fs.rc.Write(fs.moreFn)
	sent := len(p) - len(fs.p)
	fs.p = nil
	if err != nil {
		return sent, err
	}
	return sent, fs.err
}

func (fs *fileSender) more(fd uintptr) bool {
	for len(fs.p) > 0 {
		m, err := syscall.SendmsgN(int(fd), fs.p, nil, nil, syscall.MSG_MORE)
		switch {
		case err == syscall.EAGAIN:
			return false
		case err == syscall.EINTR:
			continue
		case err != nil:
			fs.err = os.NewSyscallError("sendmsg", err)
			return true
		}
		fs.p = fs.p[m:]
	}
	return true
}

// sendFileBytes moves the n bytes of fs.f at off to the socket with
// sendfile, waiting for the socket to drain (within the write deadline)
// when it is full. On error fs.off is where it stopped.
func (fs *fileSender) sendFileBytes(off int64, n int) error {
	start := off
	fs.off, fs.end, fs.err = off, off+int64(n), nil
	if err := fs.fc.Control(fs.controlFn); err != nil && fs.err == nil {
		fs.err = err
	}
	sendfileBytes.Add(uint64(fs.off - start))
	return fs.err
}

func (fs *fileSender) control(src uintptr) {
	fs.src = int(src)
	if err := fs.rc.Write(fs.sendFn); err != nil && fs.err == nil {
		fs.err = err
	}
}

func (fs *fileSender) sendfile(dst uintptr) bool {
	for fs.off < fs.end {
		m, err := syscall.Sendfile(int(dst), fs.src, &fs.off, int(fs.end-fs.off))
		switch {
		case err == syscall.EAGAIN:
			return false
		case err == syscall.EINTR:
			continue
		case err != nil:
			fs.err = os.NewSyscallError("sendfile", err)
			return true
		case m == 0:
			fs.err = fmt.Errorf("sendfile %s: %w at offset %d", fs.f.Name(), io.ErrUnexpectedEOF, fs.off)
			return true
		}
	}
	return true
}

// refused says whether sendfile declined the file rather than failed.
func refused(err error) bool {
	return errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EOPNOTSUPP)
}

// copyFileBytes is the fallback of sendFile: pread then write.
func (w *writer) copyFileBytes(f *os.File, off int64, n int) error {
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off); err != nil {
		return fmt.Errorf("read %s for copy: %w", f.Name(), err)
	}
	m, err := w.nc.Write(buf)
	w.io.addWrite(m)
	if err != nil {
		return err
	}
	copiedFileBytes.Add(uint64(n))
	return nil
}
