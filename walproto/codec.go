package walproto

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/walkeeper/walkeeper/ids"
)

// reader walks a message the way PostgreSQL's pq_getmsg* functions do. The
// first failure sticks: later reads return zero values and err keeps the
// first error, so a parser reads every field and checks err once.
type reader struct {
	b   []byte
	le  bool // v2: little-endian
	err error
	msg string // message name for error context
}

func newReader(b []byte, version uint32, msg string) reader {
	return reader{b: b, le: version == Version2, msg: msg}
}

// take returns the next n bytes, or nil and a sticky ErrShortMessage.
func (r *reader) take(n int, field string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.err = fmt.Errorf("%w: %s: reading %s: need %d bytes, have %d",
			ErrShortMessage, r.msg, field, n, len(r.b))
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8(field string) uint8 {
	if b := r.take(1, field); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16(field string) uint16 {
	b := r.take(2, field)
	switch {
	case b == nil:
		return 0
	case r.le:
		return binary.LittleEndian.Uint16(b)
	default:
		return binary.BigEndian.Uint16(b)
	}
}

func (r *reader) u32(field string) uint32 {
	b := r.take(4, field)
	switch {
	case b == nil:
		return 0
	case r.le:
		return binary.LittleEndian.Uint32(b)
	default:
		return binary.BigEndian.Uint32(b)
	}
}

func (r *reader) u64(field string) uint64 {
	b := r.take(8, field)
	switch {
	case b == nil:
		return 0
	case r.le:
		return binary.LittleEndian.Uint64(b)
	default:
		return binary.BigEndian.Uint64(b)
	}
}

// tag reads a v3 one-byte tag or a v2 u64 tag, of which only the low byte
// counts (both the safekeeper and the walproposer ignore the rest).
func (r *reader) tag() byte {
	if r.le {
		return byte(r.u64("tag"))
	}
	return r.u8("tag")
}

// cstring reads bytes up to a NUL and drops the NUL. The result aliases the
// message.
func (r *reader) cstring(field string) []byte {
	if r.err != nil {
		return nil
	}
	i := bytes.IndexByte(r.b, 0)
	if i < 0 {
		r.err = fmt.Errorf("%w: %s: reading %s: missing cstring terminator",
			ErrShortMessage, r.msg, field)
		return nil
	}
	s := r.b[:i:i]
	r.b = r.b[i+1:]
	return s
}

// fail records a non-length error if none is recorded yet.
func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// end is pq_getmsgend: every byte must have been consumed.
func (r *reader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %s: %d bytes left", ErrTrailingBytes, r.msg, len(r.b))
	}
	return r.err
}

// writer appends integers in one protocol version's byte order.
type writer struct {
	b  []byte
	le bool
}

func newWriter(dst []byte, version uint32) writer {
	return writer{b: dst, le: version == Version2}
}

func (w *writer) u8(v uint8) { w.b = append(w.b, v) }

func (w *writer) u16(v uint16) {
	if w.le {
		w.b = binary.LittleEndian.AppendUint16(w.b, v)
	} else {
		w.b = binary.BigEndian.AppendUint16(w.b, v)
	}
}

func (w *writer) u32(v uint32) {
	if w.le {
		w.b = binary.LittleEndian.AppendUint32(w.b, v)
	} else {
		w.b = binary.BigEndian.AppendUint32(w.b, v)
	}
}

func (w *writer) u64(v uint64) {
	if w.le {
		w.b = binary.LittleEndian.AppendUint64(w.b, v)
	} else {
		w.b = binary.BigEndian.AppendUint64(w.b, v)
	}
}

// tag writes a v3 tag byte or a v2 u64 tag.
func (w *writer) tag(t byte) {
	if w.le {
		w.u64(uint64(t))
	} else {
		w.u8(t)
	}
}

func (w *writer) cstring(s string) {
	w.b = append(w.b, s...)
	w.b = append(w.b, 0)
}

func (w *writer) bytes(p []byte) { w.b = append(w.b, p...) }

// hexID writes an id as a lower-case hex cstring.
func (w *writer) hexID(id ids.ID) {
	w.b = hex.AppendEncode(w.b, id[:])
	w.b = append(w.b, 0)
}
