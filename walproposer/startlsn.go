package walproposer

import (
	"context"
	"errors"
	"fmt"

	"github.com/walkeeper/walkeeper/pgwal"
)

// errNeedMoreWAL: FirstRecordBoundary needs more bytes of the segment.
var errNeedMoreWAL = errors.New("walproposer: need more WAL to find a record boundary")

// ErrBadSegmentStart: the WAL read at a segment start does not carry the
// page headers it should.
var ErrBadSegmentStart = errors.New("walproposer: bad page header at segment start")

// FirstRecordBoundary returns the LSN of the first record that starts in
// the segment beginning at segStart, given the segment's first bytes: it
// skips the page headers and the tail of a record continued from the
// previous segment (xlp_rem_len, XLP_FIRST_IS_CONTRECORD). It returns
// errNeedMoreWAL when data ends before the boundary is known.
func FirstRecordBoundary(segStart pgwal.LSN, data []byte) (pgwal.LSN, error) {
	for off := 0; ; off += pgwal.XLogBlockSize {
		hdr := pgwal.SizeOfXLogShortPHD
		if off == 0 {
			hdr = pgwal.SizeOfXLogLongPHD
		}
		if len(data) < off+hdr {
			return 0, errNeedMoreWAL
		}
		h, err := pgwal.ParseXLogPageHeader(data[off:])
		if err != nil {
			return 0, err
		}
		page := segStart + pgwal.LSN(off)
		if h.PageAddr != page || (off == 0) != (h.Info&pgwal.XLPLongHeader != 0) {
			return 0, fmt.Errorf("%w: page %s has pageaddr %s, info %#x", ErrBadSegmentStart, page, h.PageAddr, h.Info)
		}
		if h.Info&pgwal.XLPFirstIsContRecord == 0 || h.RemLen == 0 {
			return page + pgwal.LSN(hdr), nil
		}
		if room := uint32(pgwal.XLogBlockSize - hdr); h.RemLen < room {
			end := (page + pgwal.LSN(hdr) + pgwal.LSN(h.RemLen)).Align8()
			if end.PageOffset() != 0 {
				return end, nil
			}
		}
		if off+pgwal.XLogBlockSize >= pgwal.DefaultSegmentSize {
			return 0, fmt.Errorf("%w: no record starts in segment %s", ErrBadSegmentStart, segStart)
		}
	}
}

// segmentStartBoundary reads the primary's WAL from the start of the
// segment holding its flush position (the last flushed byte) and returns
// the first record boundary in it: the default timeline start.
func segmentStartBoundary(ctx context.Context, connString string, si SystemInfo) (pgwal.LSN, error) {
	cfg, err := primaryConfig(connString, "walproposer_start")
	if err != nil {
		return 0, err
	}
	rc, err := dialRepl(ctx, cfg)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	// At an exact segment start (just after a WAL switch) the segment has
	// no WAL yet; the previous one has, up to the flush position.
	last := max(si.FlushLSN, 1) - 1
	seg := last - pgwal.LSN(last.SegmentOffset(uint64(si.WalSegSize)))
	if err := rc.start(ctx, fmt.Sprintf("START_REPLICATION PHYSICAL %s TIMELINE %d", seg, si.Timeline)); err != nil {
		return 0, err
	}
	var data []byte
	for {
		m, err := rc.Recv()
		if err != nil {
			return 0, err
		}
		if !m.XLog {
			continue
		}
		if m.Start != seg+pgwal.LSN(len(data)) {
			return 0, fmt.Errorf("walproposer: XLogData at %s, want %s", m.Start, seg+pgwal.LSN(len(data)))
		}
		data = append(data, m.Data...)
		lsn, err := FirstRecordBoundary(seg, data)
		if !errors.Is(err, errNeedMoreWAL) {
			return lsn, err
		}
	}
}
