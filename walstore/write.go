package walstore

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/walkeeper/walkeeper/pgwal"
)

// Write writes b at start without syncing. start must equal WriteLSN
// (ErrRewrite below it, ErrGap above it, except into an empty store).
// A piece that fills a segment is fdatasynced and the segment renamed to
// its full name, which also advances the flushed positions. The bytes are
// decoded to advance WriteRecordLSN; a decode error is returned after the
// bytes are written and sets pending truncation. b is not retained.
func (s *Store) Write(start pgwal.LSN, b []byte) error {
	if err := s.usable(); err != nil {
		return err
	}
	if s.pending.Load() {
		return ErrTruncationPending
	}
	var t0 time.Time
	if s.cfg.Metrics != nil {
		t0 = time.Now()
	}
	w := s.WriteLSN()
	switch {
	case start < w:
		return fmt.Errorf("%w: write at %s, write_lsn %s", ErrRewrite, start, w)
	case start > w && w != 0:
		return fmt.Errorf("%w: write at %s, write_lsn %s", ErrGap, start, w)
	case start != w:
		if err := s.closeCurrent(true); err != nil {
			return err
		}
		s.writeLSN.Store(uint64(start))
	}
	err := s.writeAndDecode(start, b)
	if m := s.cfg.Metrics; m != nil {
		m.observeSince(m.WriteSeconds, t0)
		if m.WriteBytes != nil {
			m.WriteBytes.Observe(float64(len(b)))
		}
	}
	return err
}

// writeBytes splits b at segment boundaries and writes each piece.
func (s *Store) writeBytes(start pgwal.LSN, b []byte) error {
	seg := s.cfg.SegSize
	for len(b) > 0 {
		segNo, off := start.SegmentNumber(seg), start.SegmentOffset(seg)
		n := uint64(len(b))
		if n > seg-off {
			n = seg - off
		}
		f, err := s.segmentFile(segNo)
		if err != nil {
			return err
		}
		if _, err := f.WriteAt(b[:n], int64(off)); err != nil {
			return s.poison(fmt.Errorf("write %s: %w", f.Name(), err))
		}
		s.startWriteback(f, segNo, off+n)
		start += pgwal.LSN(n)
		b = b[n:]
		s.writeLSN.Store(uint64(start))
		switch {
		case off+n == seg:
			if err := s.completeSegment(start); err != nil {
				return err
			}
		case off+n >= seg/2:
			s.pre.request()
		}
	}
	return nil
}

// writebackEvery is how many written bytes of a segment accumulate before
// startWriteback asks the kernel to begin writing them out.
const writebackEvery = 1 << 20

// noSegment is a segment number no store writes (wbSeg before any write).
const noSegment = ^uint64(0)

// startWriteback asks the kernel to begin writing segment segNo's dirty
// pages below end (rounded down to a page) once writebackEvery bytes have
// accumulated since the last request. Without it every written byte waits
// in the page cache for the next fdatasync: the disk idles while the
// WalAcceptor writes, then the WalAcceptor waits while the disk writes.
// With it the I/O overlaps the writes that follow and the fdatasync that
// acknowledges finds little left to do (RocksDB's bytes_per_sync,
// PostgreSQL's *_flush_after). Nothing is acknowledged because of it: only
// fdatasync makes WAL durable here.
func (s *Store) startWriteback(f *os.File, segNo, end uint64) {
	if s.wbSeg != segNo {
		s.wbSeg, s.wbFrom = segNo, 0
	}
	end &^= writebackPage - 1
	if end < s.wbFrom+writebackEvery {
		return
	}
	if err := s.syncer.writeback(f, s.wbFrom, end-s.wbFrom); err != nil && !s.wbFailed {
		s.wbFailed = true
		s.log.Warn("early writeback failed; WAL is still made durable by fdatasync, later failures are not logged", "segment", f.Name(), "err", err)
	}
	s.wbFrom = end
}

// segmentFile returns the open .partial of segment segNo, opening or
// creating it if needed.
func (s *Store) segmentFile(segNo uint64) (*os.File, error) {
	if s.cur != nil && s.curSeg == segNo {
		return s.cur, nil
	}
	if err := s.closeCurrent(true); err != nil {
		return nil, err
	}
	f, _, err := s.openSegment(segNo)
	if err != nil {
		return nil, err
	}
	s.cur, s.curSeg = f, segNo
	return f, nil
}

// openSegment opens segment segNo's .partial for writing, creating it
// from the prepared waltmp (and fsyncing the directory) if it does not
// exist; created says which happened.
func (s *Store) openSegment(segNo uint64) (f *os.File, created bool, err error) {
	f, partial, err := openForWrite(s.cfg.Dir, segNo, s.cfg.SegSize)
	switch {
	case err == nil && !partial:
		f.Close()
		return nil, false, fmt.Errorf("segment %s is complete, refusing to append to it", pgwal.SegmentName(segNo, s.cfg.SegSize))
	case err == nil:
		if err := preallocate(f, int64(s.cfg.SegSize)); err != nil {
			f.Close()
			return nil, false, fmt.Errorf("preallocate: %w", err)
		}
		return f, false, nil
	case errors.Is(err, os.ErrNotExist):
		f, err := createSegment(s.pre, s.cfg.Dir, segNo, s.cfg.SegSize)
		return f, err == nil, err
	default:
		return nil, false, err
	}
}

// completeSegment runs when the last byte of the current segment was
// written: fdatasync, rename .partial to the full name, then open the next
// segment at once; installing it fsyncs the directory, which makes the
// rename durable too (data → fdatasync → rename → directory fsync). The
// segment's bytes are now flushed.
func (s *Store) completeSegment(end pgwal.LSN) error {
	if err := s.sync(s.cur); err != nil {
		return err
	}
	if err := s.cur.Close(); err != nil {
		return s.poison(fmt.Errorf("close segment: %w", err))
	}
	s.cur = nil
	partial := segPath(s.cfg.Dir, s.curSeg, s.cfg.SegSize, true)
	full := segPath(s.cfg.Dir, s.curSeg, s.cfg.SegSize, false)
	if err := os.Rename(partial, full); err != nil {
		return s.poison(fmt.Errorf("complete segment: %w", err))
	}
	s.flushLSN.Store(uint64(end))
	f, created, err := s.openSegment(s.curSeg + 1)
	if err != nil {
		return err
	}
	s.cur, s.curSeg = f, s.curSeg+1
	if !created {
		if err := s.syncer.dir(s.cfg.Dir); err != nil {
			return s.poison(err)
		}
	}
	return nil
}

// Flush makes every written byte durable with one fdatasync (group
// commit: call it once after many Writes). It is a no-op when every
// complete record written is already flushed.
func (s *Store) Flush() error {
	if err := s.usable(); err != nil {
		return err
	}
	if s.FlushRecordLSN() == s.WriteRecordLSN() {
		return nil
	}
	if s.cur == nil {
		if s.RawFlushLSN() < s.WriteLSN() {
			return fmt.Errorf("walstore: no open segment but %s..%s unflushed", s.RawFlushLSN(), s.WriteLSN())
		}
	} else if err := s.sync(s.cur); err != nil {
		return err
	}
	s.flushLSN.Store(s.writeLSN.Load())
	s.flushRecordLSN.Store(s.writeRecordLSN.Load())
	return nil
}

// sync fdatasyncs f (unless NoSync), timing it; a failure poisons.
func (s *Store) sync(f *os.File) error {
	if s.syncer.noSync {
		return nil
	}
	var t0 time.Time
	if s.cfg.Metrics != nil {
		t0 = time.Now()
	}
	if err := s.syncer.fdatasync(f); err != nil {
		return s.poison(err)
	}
	if m := s.cfg.Metrics; m != nil {
		m.observeSince(m.FlushSeconds, t0)
	}
	return nil
}

// closeCurrent drops the cached segment handle, fdatasyncing it first when
// doSync is set.
func (s *Store) closeCurrent(doSync bool) error {
	if s.cur == nil {
		return nil
	}
	if doSync {
		if err := s.sync(s.cur); err != nil {
			return err
		}
	}
	err := s.cur.Close()
	s.cur = nil
	if err != nil {
		return s.poison(err)
	}
	return nil
}
