package interpreted

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrBincode: bytes that are not a valid bincode encoding of the expected
// type (short input, bad tag, unknown variant, invalid UTF-8, trailing bytes).
var ErrBincode = errors.New("invalid bincode")

// Bincode 1.x with big-endian fixed-width integers (spec §6.6): integers
// fixed width BE, usize as u64, bool as one byte, Option as a 0/1 tag, Vec and
// byte strings as a u64 count then the elements, enums as a u32 variant index.

func appendU32(dst []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(dst, v) }
func appendU64(dst []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(dst, v) }
func appendU16(dst []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(dst, v) }

func appendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func appendBinBytes(dst, b []byte) []byte {
	return append(appendU64(dst, uint64(len(b))), b...)
}

func appendOptU32(dst []byte, o Option[uint32]) []byte {
	if !o.Valid {
		return append(dst, 0)
	}
	return appendU32(append(dst, 1), o.Value)
}

func appendU32s(dst []byte, vs []uint32) []byte {
	dst = appendU64(dst, uint64(len(vs)))
	for _, v := range vs {
		dst = appendU32(dst, v)
	}
	return dst
}

// binReader reads bincode fields; the first failure is kept in err and
// makes later reads return zero values, so parsers check err once.
type binReader struct {
	b   []byte
	err error
}

func (r *binReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrBincode}, args...)...)
	}
}

func (r *binReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.fail("need %d bytes, have %d", n, len(r.b))
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *binReader) u8() uint8 {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *binReader) u16() uint16 {
	if b := r.take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *binReader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *binReader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *binReader) bool() bool {
	switch v := r.u8(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		r.fail("bool byte %d", v)
		return false
	}
}

// tag reads an Option tag.
func (r *binReader) tag() bool {
	switch v := r.u8(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		r.fail("option tag %d", v)
		return false
	}
}

// count reads a Vec length and checks that count elements of at least
// elemSize bytes can follow, so a corrupt length never allocates.
func (r *binReader) count(elemSize int) int {
	n := r.u64()
	if r.err == nil && n > uint64(len(r.b)/elemSize) {
		r.fail("length %d with %d bytes left", n, len(r.b))
		return 0
	}
	return int(n)
}

// bytes reads a length-prefixed byte string; the result aliases the input
// and is nil when empty.
func (r *binReader) bytes() []byte {
	n := r.count(1)
	if n == 0 {
		return nil
	}
	return r.take(n)
}

func (r *binReader) string() string {
	b := r.bytes()
	if !utf8.Valid(b) {
		r.fail("string is not UTF-8")
		return ""
	}
	return string(b)
}

func (r *binReader) optU32() Option[uint32] {
	if r.tag() {
		return Some(r.u32())
	}
	return Option[uint32]{}
}

func (r *binReader) u32s() []uint32 {
	n := r.count(4)
	if n == 0 {
		return nil
	}
	vs := make([]uint32, n)
	for i := range vs {
		vs[i] = r.u32()
	}
	return vs
}

// end fails if bytes remain: bincode's decoder rejects trailing bytes.
func (r *binReader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	return r.err
}
