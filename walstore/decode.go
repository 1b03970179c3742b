package walstore

import (
	"errors"
	"fmt"

	"github.com/walkeeper/walkeeper/pgwal"
)

// decodeResult is what decoding one Write's bytes found.
type decodeResult struct {
	last   pgwal.LSN // last record end, 0 if no record completed
	lastLE pgwal.LSN // last record end <= the job's bound, 0 if none
	err    error
}

// writeAndDecode writes b at start, feeds it to the decoder and advances
// the record positions: writeRecordLSN to the last record end,
// flushRecordLSN to the last record end, of this write or an earlier one,
// within a segment this write completed (and so fdatasynced).
// A write error or a decode error sets pending truncation: the decoder's
// position no longer matches the file. After a decode error the bytes
// after the last valid record are also cut off (dropRejected); a write
// that completes a segment is decoded before it is written, and after a
// decode error nothing of it is written.
func (s *Store) writeAndDecode(start pgwal.LSN, b []byte) error {
	if s.dec == nil || s.decNext != start {
		cfg := s.config()
		s.dec = cfg.newDecoder(start)
	}
	end := start + pgwal.LSN(len(b))
	// A write that reaches a segment end flushes up to the last boundary
	// in (start, end]; records ending there are then durable.
	bound := end - pgwal.LSN(end.SegmentOffset(s.cfg.SegSize))
	if bound <= start {
		bound = 0
	}
	// Decoding in another goroutine during the pwrite was tried, twice
	// (the second time with the copy-free BoundaryDecoder, a goroutine per
	// Write of 32 KiB or more): on a busy two-core machine the hand-off
	// cost more than it saved (median 128 KiB append ratio 0.54 against
	// 0.69 in line).
	wrBefore := s.WriteRecordLSN()
	// A write that completes a segment gives it its full name before
	// writeBytes returns, and recovery takes damage in a complete segment
	// for corruption. So such a write is decoded first, and WAL the
	// decoder rejects is then not written at all (none of it was
	// acknowledged). At 128 KiB, one write in 128 reads its bytes cold.
	var res decodeResult
	decoded := bound != 0
	if decoded {
		if res = decodeRecords(s.dec, b, bound); res.err != nil {
			s.pending.Store(true)
			s.dec = nil
			return fmt.Errorf("decode WAL after %s: %w", s.WriteRecordLSN(), res.err)
		}
	}
	if werr := s.writeBytes(start, b); werr != nil {
		s.pending.Store(true)
		s.dec = nil
		return werr
	}
	// Records completed by earlier writes that lie in a segment this write
	// completed are durable now too, even if no record ends in this write
	// (Neon's write_wal: "We may have flushed a previously written record").
	if bound != 0 && wrBefore <= bound && wrBefore > s.FlushRecordLSN() {
		s.flushRecordLSN.Store(uint64(wrBefore))
	}
	if !decoded {
		res = decodeRecords(s.dec, b, bound)
	}
	s.decNext = end
	if res.last != 0 {
		s.writeRecordLSN.Store(uint64(res.last))
	}
	if res.err != nil {
		s.pending.Store(true)
		s.dec = nil
		good := s.WriteRecordLSN()
		return s.dropRejected(good, end, fmt.Errorf("decode WAL after %s: %w", good, res.err))
	}
	if res.lastLE != 0 {
		s.flushRecordLSN.Store(uint64(res.lastLE))
	}
	return nil
}

// dropRejected handles WAL the decoder rejected. Its bytes, from good (the
// end of the last valid record) to end, are already in the segment files,
// and valid records may follow the bad one in them. They came from the
// proposer, not from a damaged disk, but a restart before the next
// election's truncation would find valid WAL after invalid WAL, which
// recovery must take for corruption, and the timeline would not load. So
// they are cut off now, as that truncation would do (nothing after good
// was acknowledged: flush positions are record ends), and writes stay
// refused until the election truncates.
func (s *Store) dropRejected(good, end pgwal.LSN, decErr error) error {
	if good == 0 {
		// No record boundary is known (no truncation and no complete
		// record since Open): nothing to cut back to.
		return decErr
	}
	s.log.Warn("WAL rejected by the decoder; cutting it off after the last valid record",
		"end_lsn", good, "written_to", end, "err", decErr)
	err := s.Truncate(good)
	s.pending.Store(true)
	if err != nil {
		return errors.Join(decErr, fmt.Errorf("cut off rejected WAL: %w", err))
	}
	return decErr
}

// scanner is a recordDecoder that can also report a whole Feed's record
// ends in one call (pgwal.BoundaryDecoder.Scan), without a call per record.
type scanner interface {
	Scan(bound pgwal.LSN) (last, lastLE pgwal.LSN, err error)
}

// decodeRecords feeds b and collects the record ends it completes.
func decodeRecords(d recordDecoder, b []byte, bound pgwal.LSN) decodeResult {
	var r decodeResult
	d.Feed(b)
	if sc, ok := d.(scanner); ok {
		r.last, r.lastLE, r.err = sc.Scan(bound)
		return r
	}
	for {
		end, ok, err := d.NextEnd()
		if err != nil {
			r.err = err
			return r
		}
		if !ok {
			return r
		}
		r.last = end
		if end <= bound {
			r.lastLE = end
		}
	}
}
