package walstore

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/walkeeper/walkeeper/pgwal"
)

// segReader reads segment files by LSN, keeping the last one open until
// the reader moves to another segment.
type segReader struct {
	dir     string
	segSize uint64
	f       *os.File
	segNo   uint64
	full    bool // f was seen at full segment size, which it keeps
}

// readAt reads up to len(p) bytes at lsn without crossing a segment
// boundary, from .partial first. A file shorter than the read returns the
// bytes it has and io.EOF.
func (r *segReader) readAt(p []byte, lsn pgwal.LSN) (int, error) {
	segNo, off := lsn.SegmentNumber(r.segSize), lsn.SegmentOffset(r.segSize)
	if rest := r.segSize - off; uint64(len(p)) > rest {
		p = p[:rest]
	}
	f, err := r.file(segNo)
	if err != nil {
		return 0, err
	}
	n, err := f.ReadAt(p, int64(off))
	if err == io.EOF && n == len(p) {
		err = nil
	}
	return n, err
}

// file returns segNo's file, opening it as readAt does.
func (r *segReader) file(segNo uint64) (*os.File, error) {
	if r.f == nil || r.segNo != segNo {
		r.close()
		f, err := openForRead(r.dir, segNo, r.segSize)
		if err != nil {
			return nil, err
		}
		r.f, r.segNo, r.full = f, segNo, false
	}
	return r.f, nil
}

// covers reports whether the open file holds [off, off+n). Segments are
// preallocated to full size; only a truncation cuts one, for a moment and
// at the truncation point, which is never below commit_lsn and so never
// inside a range a Commit-mode reader asks for. Once the file was seen at
// full size, no stat per message is needed.
func (r *segReader) covers(off int64, n int) bool {
	if !r.full {
		st, err := r.f.Stat()
		if err != nil {
			return false
		}
		r.full = uint64(st.Size()) >= r.segSize
		if !r.full {
			return st.Size() >= off+int64(n)
		}
	}
	return off+int64(n) <= int64(r.segSize)
}

func (r *segReader) close() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

// Reader reads a timeline's WAL back by LSN (replication §3.6) for one
// consumer goroutine. It opens files on its own and may be used while the
// Store appends; it must not be asked for bytes beyond the flushed WAL.
type Reader struct {
	sr            segReader
	cfg           Config
	timelineStart pgwal.LSN
	localStart    pgwal.LSN
	prefix        []byte // synthetic bytes before timelineStart, built on first use
}

// NewReader returns a Reader of the WAL in cfg.Dir. timelineStart is the
// control file's timeline_start_lsn, localStart its local_start_lsn.
func NewReader(cfg Config, timelineStart, localStart pgwal.LSN) *Reader {
	return &Reader{
		sr:            segReader{dir: cfg.Dir, segSize: cfg.SegSize},
		cfg:           cfg,
		timelineStart: timelineStart,
		localStart:    localStart,
	}
}

// NewReader returns a Reader of this store's directory.
func (s *Store) NewReader(timelineStart, localStart pgwal.LSN) *Reader {
	return NewReader(s.config(), timelineStart, localStart)
}

// ReadAt reads up to len(p) bytes of WAL starting at lsn. One call never
// crosses a segment boundary, nor timeline_start_lsn: bytes before it (in
// its segment) are the synthetic segment prefix. It returns ErrNotFound
// when the segment is not on local disk and ErrBeforeStart before the
// timeline's first segment.
func (r *Reader) ReadAt(p []byte, lsn pgwal.LSN) (int, error) {
	seg := r.cfg.SegSize
	if seg == 0 || r.localStart == 0 {
		return 0, errors.New("walstore: reader state uninitialized (segment size or local_start_lsn is 0)")
	}
	if first := r.timelineStart - pgwal.LSN(r.timelineStart.SegmentOffset(seg)); lsn < first {
		return 0, fmt.Errorf("%w: requested %s, timeline starts at %s", ErrBeforeStart, lsn, r.timelineStart)
	}
	if lsn < r.timelineStart {
		if r.prefix == nil {
			r.prefix = segmentPrefix(&r.cfg, r.timelineStart)
		}
		return copy(p, r.prefix[lsn.SegmentOffset(seg):]), nil
	}
	if lsn < r.localStart {
		return 0, fmt.Errorf("%w: %s is before local_start_lsn %s", ErrNotFound, lsn, r.localStart)
	}
	return r.sr.readAt(p, lsn)
}

// SegmentFile returns the open segment file that holds all n WAL bytes at
// lsn and lsn's offset in it, so a sender can pass them to sendfile
// without reading them. ok is false when ReadAt must be used instead: the
// bytes are synthetic (before timeline_start_lsn), lie before
// local_start_lsn, cross a segment, the file cannot be opened (ReadAt
// reports why) or is shorter than the range. The file is the one ReadAt
// uses and stays valid across renames and removal; it belongs to the
// Reader until the next ReadAt, SegmentFile or Close: do not close it,
// move its offset or read outside the range. Like ReadAt, it must not be
// asked for bytes beyond the flushed WAL.
func (r *Reader) SegmentFile(lsn pgwal.LSN, n int) (f *os.File, off int64, ok bool) {
	seg := r.cfg.SegSize
	if seg == 0 || r.localStart == 0 || n <= 0 || lsn < r.timelineStart || lsn < r.localStart || lsn.SegmentOffset(seg)+uint64(n) > seg {
		return nil, 0, false
	}
	f, err := r.sr.file(lsn.SegmentNumber(seg))
	if err != nil {
		return nil, 0, false
	}
	off = int64(lsn.SegmentOffset(seg))
	if !r.sr.covers(off, n) {
		return nil, 0, false
	}
	return f, off, true
}

// Close releases the open segment file.
func (r *Reader) Close() error {
	r.sr.close()
	return nil
}
