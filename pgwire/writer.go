package pgwire

import (
	"encoding/binary"
	"net"
	"sync"
	"time"
)

// maxIdleWriteBuf is the write buffer capacity kept between flushes.
const maxIdleWriteBuf = 64 << 10

// writer owns the sending half of a connection. Its methods are safe to call
// from several goroutines: messages are encoded and written under one lock,
// so a CopyBoth reader goroutine and writer goroutine never interleave bytes.
type writer struct {
	mu      sync.Mutex
	nc      net.Conn
	buf     []byte
	timeout time.Duration
	err     error       // sticky: once a write failed, every later one fails
	fs      *fileSender // sendfile state, made by the first sendFile
	io      *traffic    // counts the bytes written; nil: not counted
}

func newWriter(nc net.Conn, timeout time.Duration) *writer {
	return &writer{nc: nc, timeout: timeout}
}

// queue encodes messages into the buffer without writing.
func (w *writer) queue(msgs ...encoder) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.appendLocked(msgs)
}

func (w *writer) appendLocked(msgs []encoder) {
	for _, m := range msgs {
		if w.err != nil {
			return
		}
		b, err := m.Encode(w.buf)
		if err != nil {
			w.err = err
			return
		}
		w.buf = b
	}
}

// flush writes everything queued.
func (w *writer) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *writer) flushLocked() error {
	if w.err != nil || len(w.buf) == 0 {
		w.buf = w.buf[:0]
		return w.err
	}
	w.setDeadline()
	var n int
	n, w.err = w.nc.Write(w.buf)
	w.io.addWrite(n)
	w.resetBuf()
	return w.err
}

func (w *writer) resetBuf() {
	if cap(w.buf) > maxIdleWriteBuf {
		w.buf = nil
	} else {
		w.buf = w.buf[:0]
	}
}

func (w *writer) setDeadline() {
	if w.timeout > 0 {
		_ = w.nc.SetWriteDeadline(time.Now().Add(w.timeout))
	}
}

// send queues messages and flushes them in one write.
func (w *writer) send(msgs ...encoder) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.appendLocked(msgs)
	return w.flushLocked()
}

// sendCopyData writes one CopyData message carrying payload, after anything
// queued, without copying payload into the buffer.
func (w *writer) sendCopyData(payload []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	var hdr [5]byte
	hdr[0] = 'd'
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)+4))
	w.buf = append(w.buf, hdr[:]...)
	if len(payload) <= 4096 {
		w.buf = append(w.buf, payload...)
		return w.flushLocked()
	}
	bufs := net.Buffers{w.buf, payload}
	w.setDeadline()
	var n int64
	n, w.err = bufs.WriteTo(w.nc)
	w.io.addWrite(int(n))
	w.resetBuf()
	return w.err
}
