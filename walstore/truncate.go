package walstore

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/walkeeper/walkeeper/pgwal"
)

// Truncate discards WAL at and after end (a record boundary not beyond
// WriteRecordLSN) and sets every position to end (storage-and-operations
// §1.7): later segments are removed, the tail of end's segment is zeroed
// and the segment becomes the .partial again. Writes are refused from the
// first step until it succeeds. When nothing is pending and end is both the
// write and the flush position it does nothing.
//
// The order keeps recovery's invariant through a crash at any step: a
// segment with its full name always holds complete, fdatasynced WAL. So a
// full segment is renamed to .partial (durably) before it is touched, and
// the removal of later segments is made durable before end's tail is
// zeroed; recovery can then call any damage inside a full segment
// corruption rather than a torn write.
func (s *Store) Truncate(end pgwal.LSN) error {
	if err := s.usable(); err != nil {
		return err
	}
	if !s.pending.Load() && end == s.WriteLSN() && end == s.FlushRecordLSN() {
		return nil
	}
	if wr := s.WriteRecordLSN(); wr != 0 && end > wr {
		return fmt.Errorf("%w: truncate to %s, write_record_lsn %s", ErrBadTruncation, end, wr)
	}
	t0 := time.Now()
	s.pending.Store(true)
	s.dec = nil
	s.wbSeg = noSegment // rewritten bytes get their early writeback again
	// Sync before publishing end: it may lie above FlushLSN (any record
	// end up to WriteRecordLSN), and a failed sync must leave the durable
	// positions in place. Nothing is removed before setAll.
	if err := s.closeCurrent(true); err != nil {
		return err
	}
	s.setAll(end)
	seg := s.cfg.SegSize
	segNo, off := end.SegmentNumber(seg), end.SegmentOffset(seg)
	removed, err := removeSegmentsAfter(s.cfg.Dir, segNo, seg)
	if err != nil {
		return err
	}
	if err := s.reopenAsPartial(segNo); err != nil {
		return err
	}
	if err := s.syncer.dir(s.cfg.Dir); err != nil {
		return s.poison(err)
	}
	f, err := s.zeroTail(segNo, off)
	if err != nil {
		return err
	}
	if off == 0 && segNo > 0 {
		if err := s.completePrevious(segNo - 1); err != nil {
			f.Close()
			return err
		}
	}
	if err := s.syncer.dir(s.cfg.Dir); err != nil {
		f.Close()
		return s.poison(err)
	}
	s.cur, s.curSeg = f, segNo
	s.pending.Store(false)
	m := s.cfg.Metrics
	m.observeSince(m.op(OpTruncateWAL), t0)
	s.log.Info("truncated WAL", "end_lsn", end, "removed_segments", removed)
	return nil
}

// reopenAsPartial gives a complete segment segNo the .partial name again,
// before Truncate changes its content. The caller fsyncs the directory.
func (s *Store) reopenAsPartial(segNo uint64) error {
	full := segPath(s.cfg.Dir, segNo, s.cfg.SegSize, false)
	if _, err := os.Stat(full); err != nil {
		return nil // already .partial, or not there yet
	}
	if err := os.Rename(full, segPath(s.cfg.Dir, segNo, s.cfg.SegSize, true)); err != nil {
		return fmt.Errorf("reopen complete segment as partial: %w", err)
	}
	return nil
}

// zeroTail opens (or creates) the .partial segment segNo, cuts it at off,
// extends it to full size again (the tail reads as zeros, nothing is
// written) and fsyncs it.
func (s *Store) zeroTail(segNo, off uint64) (*os.File, error) {
	seg := s.cfg.SegSize
	f, _, err := openForWrite(s.cfg.Dir, segNo, seg)
	if errors.Is(err, os.ErrNotExist) {
		if f, err = createSegment(s.pre, s.cfg.Dir, segNo, seg); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	if err := f.Truncate(int64(off)); err != nil {
		f.Close()
		return nil, fmt.Errorf("truncate %s: %w", f.Name(), err)
	}
	if err := preallocate(f, int64(seg)); err != nil {
		f.Close()
		return nil, fmt.Errorf("preallocate %s: %w", f.Name(), err)
	}
	if err := s.syncer.fsync(f); err != nil {
		f.Close()
		return nil, s.poison(err)
	}
	return f, nil
}

// completePrevious gives segment segNo its full name when the truncation
// point is its end (e.g. the WAL ended with an XLOG_SWITCH before all the
// padding arrived), keeping a single .partial.
func (s *Store) completePrevious(segNo uint64) error {
	p := segPath(s.cfg.Dir, segNo, s.cfg.SegSize, true)
	if _, err := os.Stat(p); err != nil {
		return nil
	}
	if err := s.syncer.path(p); err != nil {
		return s.poison(err)
	}
	if err := os.Rename(p, segPath(s.cfg.Dir, segNo, s.cfg.SegSize, false)); err != nil {
		return fmt.Errorf("complete segment: %w", err)
	}
	return nil
}

// InitializeFirstSegment writes the synthetic prefix of the segment that
// holds start: a valid long page header (and a short one on start's page)
// whose continuation fields pretend a record ends exactly at start, so the
// segment is a valid PostgreSQL segment for pg_waldump and standbys
// (walproposer-protocol §3.5 step 7). It does nothing unless the store is
// empty (FlushRecordLSN == 0). It does not sync: the Truncate(start) that
// follows it on election does.
func (s *Store) InitializeFirstSegment(start pgwal.LSN) error {
	if err := s.usable(); err != nil {
		return err
	}
	if s.FlushRecordLSN() != 0 {
		return nil
	}
	t0 := time.Now()
	seg := s.cfg.SegSize
	segNo := start.SegmentNumber(seg)
	cfg := s.config()
	prefix := segmentPrefix(&cfg, start)
	if s.cur != nil && s.curSeg == segNo {
		if _, err := s.cur.WriteAt(prefix, 0); err != nil {
			return s.poison(err)
		}
		return nil
	}
	f, _, err := openForWrite(s.cfg.Dir, segNo, seg)
	if errors.Is(err, os.ErrNotExist) {
		if f, err = createSegment(s.pre, s.cfg.Dir, segNo, seg); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	if _, err := f.WriteAt(prefix, 0); err != nil {
		f.Close()
		return s.poison(fmt.Errorf("write first segment %s: %w", f.Name(), err))
	}
	m := s.cfg.Metrics
	m.observeSince(m.op(OpInitializeFirstSegment), t0)
	s.log.Info("initialized first WAL segment", "start_lsn", start, "segment", pgwal.SegmentName(segNo, seg))
	return f.Close()
}
