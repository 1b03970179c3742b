package interpreted

import (
	"encoding/binary"
	"fmt"
)

// leReader reads little-endian fields of a record's main data. The first
// overrun keeps an ErrBadWAL error and makes later reads return zeros.
type leReader struct {
	b   []byte
	off int
	err error
}

func (r *leReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b)-r.off < n {
		r.err = fmt.Errorf("%w: main data of %d bytes too short at offset %d (need %d)", ErrBadWAL, len(r.b), r.off, n)
		return nil
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v
}

func (r *leReader) u16() uint16 {
	if b := r.take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *leReader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *leReader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// pageno reads an SLRU page number: int (u32) before PostgreSQL 17, int64
// (kept as its low 32 bits, as the reference does) from 17 on.
func (r *leReader) pageno(major uint32) uint32 {
	if major >= 17 {
		return uint32(r.u64())
	}
	return r.u32()
}

// skip advances over n items of size bytes each; a negative n is an error
// (the reference panics converting it to usize).
func (r *leReader) skip(n int32, size int) {
	if n < 0 {
		if r.err == nil {
			r.err = fmt.Errorf("%w: negative count %d", ErrBadWAL, n)
		}
		return
	}
	r.take(int(n) * size)
}

// count reads an i32 array length and checks that n items of size bytes
// follow; a negative count means none, as in the reference's loops.
func (r *leReader) count(size int) int {
	n := int32(r.u32())
	if n <= 0 || r.err != nil {
		return 0
	}
	if int(n) > (len(r.b)-r.off)/size {
		r.err = fmt.Errorf("%w: %d items of %d bytes in %d bytes", ErrBadWAL, n, size, len(r.b)-r.off)
		return 0
	}
	return int(n)
}

// rest returns the unread bytes.
func (r *leReader) rest() []byte { return r.b[r.off:] }
