package pgwal

import (
	"errors"
	"fmt"
	"strconv"
)

const (
	// XLogBlockSize is XLOG_BLCKSZ, the size of a WAL page.
	XLogBlockSize = 8192
	// DefaultSegmentSize is the default wal_segment_size, 16 MiB.
	DefaultSegmentSize = 16 << 20
	// MaxSendSize is MAX_SEND_SIZE, the most WAL bytes in one AppendRequest
	// or XLogData message (16 pages).
	MaxSendSize = 16 * XLogBlockSize
	// PartialSuffix marks the segment that is being written.
	PartialSuffix = ".partial"
	// timelineID is the PostgreSQL timeline; walkeeper, like Neon, always uses 1.
	timelineID = 1
)

// ValidSegmentSize is PostgreSQL's IsValidWalSegSize: a wal_segment_size
// is a power of two from 1 MiB to 1 GiB.
func ValidSegmentSize(n uint64) bool {
	return n >= 1<<20 && n <= 1<<30 && n&(n-1) == 0
}

// ErrBadSegmentName is returned by ParseSegmentName.
var ErrBadSegmentName = errors.New("not a WAL segment file name")

// SegmentName returns the 24 hex digit file name of segment segNo, exactly as
// PostgreSQL's XLogFileName builds it for timeline 1.
func SegmentName(segNo, segSize uint64) string {
	perID := uint64(0x100000000) / segSize
	return fmt.Sprintf("%08X%08X%08X", timelineID, segNo/perID, segNo%perID)
}

// ParseSegmentName reverses SegmentName. It accepts an optional ".partial"
// suffix and reports whether it was present. The timeline field is ignored.
func ParseSegmentName(name string, segSize uint64) (segNo uint64, partial bool, err error) {
	if len(name) == 24+len(PartialSuffix) && name[24:] == PartialSuffix {
		partial = true
		name = name[:24]
	}
	if len(name) != 24 {
		return 0, false, fmt.Errorf("%w: %q", ErrBadSegmentName, name)
	}
	hi, err1 := strconv.ParseUint(name[8:16], 16, 32)
	lo, err2 := strconv.ParseUint(name[16:24], 16, 32)
	_, err3 := strconv.ParseUint(name[0:8], 16, 32)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, false, fmt.Errorf("%w: %q", ErrBadSegmentName, name)
	}
	perID := uint64(0x100000000) / segSize
	return hi*perID + lo, partial, nil
}
