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
}

// readAt reads up to len(p) bytes at lsn without crossing a segment
// boundary, from .partial first. A file shorter than the read returns the
// bytes it has and io.EOF.
func (r *segReader) readAt(p []byte, lsn pgwal.LSN) (int, error) {
	segNo, off := lsn.SegmentNumber(r.segSize), lsn.SegmentOffset(r.segSize)
	if rest := r.segSize - off; uint64(len(p)) > rest {
		p = p[:rest]
	}
	if r.f == nil || r.segNo != segNo {
		r.close()
		f, err := openForRead(r.dir, segNo, r.segSize)
		if err != nil {
			return 0, err
		}
		r.f, r.segNo = f, segNo
	}
	n, err := r.f.ReadAt(p, int64(off))
	if err == io.EOF && n == len(p) {
		err = nil
	}
	return n, err
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

// Close releases the open segment file.
func (r *Reader) Close() error {
	r.sr.close()
	return nil
}
