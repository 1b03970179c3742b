package controlfile

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"unicode/utf8"
)

// Primitives of bincode 1.x with Neon's options (utils::bin_ser::le_coder):
// little-endian fixed-width integers, u64 lengths for Vec and String, one
// tag byte for Option, a u32 variant index for enums.

func appendU16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }
func appendU32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

func appendString(b []byte, s string) []byte {
	b = appendU64(b, uint64(len(s)))
	return append(b, s...)
}

// appendHex16 writes 16 bytes the way Neon's #[serde(with = "hex")] does:
// as a String of 32 lower-case hex characters.
func appendHex16(b []byte, v [16]byte) []byte {
	b = appendU64(b, 32)
	return hex.AppendEncode(b, v[:])
}

// reader decodes bincode with a sticky error: after the first failure every
// read returns zero values, and err says which field failed.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(field, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s: %s", ErrCorrupt, field, fmt.Sprintf(format, args...))
	}
}

func (r *reader) take(field string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.fail(field, "need %d bytes, have %d", n, len(r.b))
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8(field string) uint8 {
	if v := r.take(field, 1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u16(field string) uint16 {
	if v := r.take(field, 2); v != nil {
		return binary.LittleEndian.Uint16(v)
	}
	return 0
}

func (r *reader) u32(field string) uint32 {
	if v := r.take(field, 4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (r *reader) u64(field string) uint64 {
	if v := r.take(field, 8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

// count reads a Vec length and checks that that many elements of at least
// minSize bytes each can still follow, so a corrupt length never causes a
// large allocation.
func (r *reader) count(field string, minSize int) int {
	n := r.u64(field)
	if r.err != nil {
		return 0
	}
	if n > uint64(len(r.b)/minSize) {
		r.fail(field, "length %d exceeds the %d remaining bytes", n, len(r.b))
		return 0
	}
	return int(n)
}

// str reads a String; like bincode it requires valid UTF-8. The result is a
// copy and does not alias the input.
func (r *reader) str(field string) string {
	n := r.u64(field)
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.fail(field, "length %d exceeds the %d remaining bytes", n, len(r.b))
		return ""
	}
	v := r.take(field, int(n))
	if !utf8.Valid(v) {
		r.fail(field, "invalid UTF-8")
		return ""
	}
	return string(v)
}

// hex16 reads a 16-byte value stored as a 32-character hex String (either
// case, as the hex crate accepts).
func (r *reader) hex16(field string) [16]byte {
	var v [16]byte
	n := r.u64(field)
	if r.err != nil {
		return v
	}
	if n != 32 {
		r.fail(field, "hex string of length %d, want 32", n)
		return v
	}
	s := r.take(field, 32)
	if s == nil {
		return v
	}
	if _, err := hex.Decode(v[:], s); err != nil {
		r.fail(field, "%v", err)
	}
	return v
}

// option reads an Option tag: false for None, true for Some.
func (r *reader) option(field string) bool {
	switch t := r.u8(field); t {
	case 0:
		return false
	case 1:
		return true
	default:
		r.fail(field, "option tag %d", t)
		return false
	}
}
