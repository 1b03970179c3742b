package walproposer

import (
	"errors"
	"testing"

	"github.com/walkeeper/walkeeper/pgwal"
)

// FuzzFirstRecordBoundary feeds arbitrary segment starts: no panic, and a
// found boundary lies after the long header, within the segment, 8-aligned
// unless it directly follows a page header.
func FuzzFirstRecordBoundary(f *testing.F) {
	const seg = pgwal.LSN(0x3000000)
	f.Add(page(seg, pgwal.XLPLongHeader, 0))
	f.Add(page(seg, pgwal.XLPLongHeader|pgwal.XLPFirstIsContRecord, 13))
	f.Add(append(append(page(seg, pgwal.XLPLongHeader|pgwal.XLPFirstIsContRecord, 9000), make([]byte, 8152)...),
		page(seg+8192, pgwal.XLPFirstIsContRecord, 848)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		lsn, err := FirstRecordBoundary(seg, data)
		if err != nil {
			if !errors.Is(err, errNeedMoreWAL) && !errors.Is(err, ErrBadSegmentStart) && !errors.Is(err, pgwal.ErrBadPageHeader) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if lsn < seg+pgwal.SizeOfXLogLongPHD || lsn >= seg+pgwal.DefaultSegmentSize || lsn%8 != 0 {
			t.Fatalf("boundary %s out of the segment or unaligned", lsn)
		}
		if off := lsn.PageOffset(); off != 0 && off < pgwal.SizeOfXLogShortPHD {
			t.Fatalf("boundary %s inside a page header", lsn)
		}
	})
}
