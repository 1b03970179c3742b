package pgwal

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// LSN is a byte position in the WAL stream (PostgreSQL's XLogRecPtr).
type LSN uint64

// InvalidLSN is PostgreSQL's InvalidXLogRecPtr.
const InvalidLSN LSN = 0

// ErrBadLSN is returned by ParseLSN for text that is not "%X/%X".
var ErrBadLSN = errors.New("invalid LSN")

// String formats the LSN as PostgreSQL does: high and low 32 bits in upper
// case hex without leading zeros, separated by a slash ("0/1000150").
func (l LSN) String() string {
	return fmt.Sprintf("%X/%X", uint32(l>>32), uint32(l))
}

// ParseLSN parses "X/Y" where both halves are hex (any case) that fit in 32 bits.
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok || hi == "" || lo == "" || strings.Contains(lo, "/") {
		return 0, fmt.Errorf("%w: %q", ErrBadLSN, s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrBadLSN, s)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrBadLSN, s)
	}
	return LSN(h<<32 | l), nil
}

// MarshalText implements encoding.TextMarshaler, so LSNs appear as "X/Y" in JSON.
func (l LSN) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *LSN) UnmarshalText(b []byte) error {
	v, err := ParseLSN(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// SegmentOffset returns the offset of the LSN inside its segment.
func (l LSN) SegmentOffset(segSize uint64) uint64 { return uint64(l) % segSize }

// SegmentNumber returns the number of the segment that contains the LSN.
func (l LSN) SegmentNumber(segSize uint64) uint64 { return uint64(l) / segSize }

// PageOffset returns the offset of the LSN inside its XLOG_BLCKSZ page.
func (l LSN) PageOffset() uint64 { return uint64(l) % XLogBlockSize }

// Align8 rounds the LSN up to a multiple of 8 (MAXALIGN), as record starts are.
func (l LSN) Align8() LSN { return (l + 7) &^ 7 }

// CanBeRecordBoundary reports whether a record can end (and the next one
// start) at l in WAL of segment size segSize, a power of two: l is 8-byte
// aligned and either at the start of a page (the end of a record that
// filled its page) or past the page's header.
func (l LSN) CanBeRecordBoundary(segSize uint64) bool {
	if l%8 != 0 {
		return false
	}
	off := l.PageOffset()
	return off == 0 || off >= uint64(pageHeaderSize(l-LSN(off), segSize))
}
