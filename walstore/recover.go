package walstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/walkeeper/walkeeper/pgwal"
)

// scanChunk is how much WAL recovery reads per call.
const scanChunk = 1 << 20

// findEnd decodes from commit (a record boundary) through the segment
// files until a file is missing, ends, or stops decoding, and returns the
// end of the last valid record (storage-and-operations §1.4 "startup
// recovery"). A decode failure is a torn tail unless valid WAL follows it
// with no zeroed sector in between, which is returned as a *CorruptError.
//
// A commit_lsn that is no record start (a proposer's bad value, persisted
// before anything refused it) would stop recovery at once and forget the
// WAL after it. So when the very first record fails, recovery also
// decodes from the record start before commit that the page headers give
// (never below floor, timeline_start_lsn), and takes that result if it
// runs past commit.
func findEnd(cfg *Config, log *slog.Logger, commit, floor pgwal.LSN) (pgwal.LSN, error) {
	end, decErr := commit, errNotRecordStart
	if commit.CanBeRecordBoundary(cfg.SegSize) {
		var err error
		if end, decErr, err = scanRecords(cfg, commit); err != nil {
			return 0, err
		}
	}
	if decErr != nil && end == commit {
		w := walView{segReader{dir: cfg.Dir, segSize: cfg.SegSize}}
		before, ok := recordStartBefore(cfg, &w, commit, floor)
		w.sr.close()
		if ok && before < commit {
			e, d, err := scanRecords(cfg, before)
			if err != nil {
				return 0, err
			}
			if e > commit {
				log.Warn("commit_lsn is not a record boundary; found the end of WAL from the record start before it",
					"commit_lsn", commit, "decoded_from", before, "end_lsn", e)
				end, decErr = e, d
			}
		}
	}
	if decErr == errNotRecordStart {
		return 0, fmt.Errorf("walstore: commit_lsn %s is not a record boundary", commit)
	}
	if decErr != nil {
		return classifyFailure(cfg, log, end, decErr)
	}
	return end, nil
}

// errNotRecordStart stands for a commit_lsn no record can start at.
var errNotRecordStart = errors.New("not a record start")

// scanRecords decodes from from until the WAL files end (decErr nil) or
// the decoder fails (decErr), and returns the end of the last valid
// record; err is an I/O error.
func scanRecords(cfg *Config, from pgwal.LSN) (end pgwal.LSN, decErr, err error) {
	sr := segReader{dir: cfg.Dir, segSize: cfg.SegSize}
	defer sr.close()
	dec := cfg.newDecoder(from)
	end, pos := from, from
	buf := make([]byte, scanChunk)
	for {
		n, rerr := sr.readAt(buf, pos)
		if n > 0 {
			dec.Feed(buf[:n])
			pos += pgwal.LSN(n)
		}
		for {
			e, ok, err := dec.NextEnd()
			if err != nil {
				return end, err, nil
			}
			if !ok {
				break
			}
			end = e
		}
		switch {
		case errors.Is(rerr, ErrNotFound), errors.Is(rerr, io.EOF):
			return end, nil, nil
		case rerr != nil:
			return 0, nil, rerr
		}
	}
}

// recordStartBefore finds where a record starts at or before l from the
// page headers: the first record that begins on l's page, or on an
// earlier page of the same or the previous segment, never below floor (a
// record start; 0 for none). ok is false when the headers do not tell.
func recordStartBefore(cfg *Config, w *walView, l, floor pgwal.LSN) (pgwal.LSN, bool) {
	var limit pgwal.LSN
	if seg := l.SegmentNumber(cfg.SegSize); seg > 0 {
		limit = pgwal.LSN((seg - 1) * cfg.SegSize)
	}
	for p := l - pgwal.LSN(l.PageOffset()); ; p -= pgwal.XLogBlockSize {
		if floor != 0 && floor >= p {
			return floor, floor <= l
		}
		page, read := w.bytes(p, longPageHeaderSize)
		if !read {
			return 0, false
		}
		c, valid, ok := firstRecordOnPage(cfg, p, page)
		if !valid {
			return 0, false
		}
		if ok && c <= l {
			return c, true
		}
		if p <= limit {
			return 0, false
		}
	}
}

// classifyFailure decides whether a decode failure at r (the end of the
// last good record) is a torn tail or corruption.
//
// A segment with its full name was fdatasynced whole before the rename
// (and Truncate never touches one without renaming it first), so damage in
// it cannot be a torn write: it is corruption, unless the failing record
// runs on into the .partial segment being written, where it may be.
//
// In the segment being written, corruption means a valid record follows the
// failure and nothing between them looks like a lost write: no all-zero
// 512-byte sector, and no zeros from r up to its sector's end. Lost,
// never-synced writes read back as zeros (etcd's torn-write rule); a
// flipped bit in the middle of valid WAL does not.
//
// One power-loss state is refused although nothing acknowledged is lost:
// the last fdatasync ended at X inside the failing record, the new copy of
// X's sector never reached the disk (so it reads as zeros from X to its
// end, fewer than 512 of them) while later sectors did. Telling that from
// a flipped bit would mean trusting short zero runs, which valid WAL is
// full of; Neon takes every failure in the .partial for a torn tail and
// may so cut off acknowledged WAL. Refusing keeps the data and says so;
// the timeline can be recovered from its peers.
func classifyFailure(cfg *Config, log *slog.Logger, r pgwal.LSN, decErr error) (pgwal.LSN, error) {
	w := walView{segReader{dir: cfg.Dir, segSize: cfg.SegSize}}
	defer w.sr.close()
	segNo := r.SegmentNumber(cfg.SegSize)
	full := segPath(cfg.Dir, segNo, cfg.SegSize, false)
	if fileExists(full) && !reachesPartial(cfg, &w, r) {
		return 0, &CorruptError{LSN: r, Path: full, Reason: decErr}
	}
	if w.zeroToSectorEnd(r) {
		log.Info("WAL ends with a torn write", "end_lsn", r, "decode_error", decErr)
		return r, nil
	}
	next, found := resync(cfg, &w, r)
	if !found {
		log.Info("WAL ends with a torn or zero tail", "end_lsn", r, "decode_error", decErr)
		return r, nil
	}
	if w.hasZeroSector(r, next) {
		log.Warn("WAL torn by a zeroed sector; dropping the valid-looking WAL after it",
			"end_lsn", r, "next_valid_record_lsn", next, "decode_error", decErr)
		return r, nil
	}
	path := full
	if !fileExists(path) {
		path = segPath(cfg.Dir, segNo, cfg.SegSize, true)
	}
	return 0, &CorruptError{LSN: r, Path: path, Reason: decErr}
}

// reachesPartial reports whether the record at r, as far as its header can
// be believed, continues into the next segment and that segment is the
// .partial being written.
func reachesPartial(cfg *Config, w *walView, r pgwal.LSN) bool {
	next := r.SegmentNumber(cfg.SegSize) + 1
	if !fileExists(segPath(cfg.Dir, next, cfg.SegSize, true)) {
		return false
	}
	c := r
	if c.PageOffset() == 0 {
		c += pgwal.LSN(pageHeaderSize(c, cfg.SegSize))
	}
	hdr, ok := w.bytes(c, 4)
	if !ok || len(hdr) < 4 {
		return false
	}
	tot := binary.LittleEndian.Uint32(hdr)
	return tot >= xlogRecordSize && skipPayload(c, uint64(tot), cfg.SegSize) > pgwal.LSN(next*cfg.SegSize)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// resync looks for a valid record after a failure at r: first where the
// record at r claims to end, then after the continuation data of each
// later page with a valid header, up to the end of the next segment.
func resync(cfg *Config, w *walView, r pgwal.LSN) (pgwal.LSN, bool) {
	if r.PageOffset() != 0 {
		if hdr, ok := w.bytes(r, 4); ok {
			if tot := binary.LittleEndian.Uint32(hdr); tot >= xlogRecordSize && tot < 1<<30 {
				c := recordStart(skipPayload(r, uint64(tot), cfg.SegSize), cfg.SegSize)
				if tryDecode(cfg, w, c) {
					return c, true
				}
			}
		}
	}
	limit := pgwal.LSN((r.SegmentNumber(cfg.SegSize) + 2) * cfg.SegSize)
	for p := r - pgwal.LSN(r.PageOffset()) + pgwal.XLogBlockSize; p < limit; p += pgwal.XLogBlockSize {
		page, read := w.bytes(p, longPageHeaderSize)
		if !read {
			return 0, false
		}
		c, _, ok := firstRecordOnPage(cfg, p, page)
		if ok && tryDecode(cfg, w, c) {
			return c, true
		}
	}
	return 0, false
}

// firstRecordOnPage returns, from page (the first bytes of the page at
// p), where the first record that begins on the page starts: after the
// header and the continuation data it announces (xlp_rem_len). valid is
// false when page is no header for p (short, wrong xlp_pageaddr or
// flags); ok is false also when no record begins on the page.
func firstRecordOnPage(cfg *Config, p pgwal.LSN, page []byte) (c pgwal.LSN, valid, ok bool) {
	if len(page) < shortPageHeaderSize {
		return 0, false, false
	}
	info := binary.LittleEndian.Uint16(page[2:])
	if pgwal.LSN(binary.LittleEndian.Uint64(page[8:])) != p || info&^pageInfoMask != 0 {
		return 0, false, false
	}
	c = p + pgwal.LSN(pageHeaderSize(p, cfg.SegSize))
	if info&xlpFirstIsContRecord != 0 {
		c += pgwal.LSN(binary.LittleEndian.Uint32(page[16:]))
	}
	c = c.Align8()
	return c, true, c < p+pgwal.XLogBlockSize
}

// tryDecode reports whether a complete valid record starts at c.
func tryDecode(cfg *Config, w *walView, c pgwal.LSN) bool {
	dec := cfg.newDecoder(c)
	const maxFeed = 8 << 20
	for pos := c; pos < c+maxFeed; {
		b, ok := w.bytes(pos, 64<<10)
		if !ok {
			return false
		}
		dec.Feed(b)
		pos += pgwal.LSN(len(b))
		_, ok, err := dec.NextEnd()
		if err != nil {
			return false
		}
		if ok {
			return true
		}
	}
	return false
}

// PostgreSQL page and record layout used to resynchronise (replication §7).
const (
	shortPageHeaderSize  = 24 // SizeOfXLogShortPHD
	longPageHeaderSize   = 40 // SizeOfXLogLongPHD
	xlogRecordSize       = 24 // SizeOfXLogRecord
	xlpFirstIsContRecord = 0x0001
	pageInfoMask         = 0x0007 // XLP_ALL_FLAGS
)

func pageHeaderSize(p pgwal.LSN, segSize uint64) uint64 {
	if p.SegmentOffset(segSize) == 0 {
		return longPageHeaderSize
	}
	return shortPageHeaderSize
}

// skipPayload returns the position n record bytes after r, stepping over
// the page headers in between.
func skipPayload(r pgwal.LSN, n, segSize uint64) pgwal.LSN {
	for n > 0 {
		if r.PageOffset() == 0 {
			r += pgwal.LSN(pageHeaderSize(r, segSize))
		}
		k := min(n, pgwal.XLogBlockSize-r.PageOffset())
		r += pgwal.LSN(k)
		n -= k
	}
	return r
}

// recordStart aligns a record end to where the next record begins.
func recordStart(end pgwal.LSN, segSize uint64) pgwal.LSN {
	c := end.Align8()
	if c.PageOffset() == 0 {
		c += pgwal.LSN(pageHeaderSize(c, segSize))
	}
	return c
}

// walView reads byte ranges of the WAL files for recovery.
type walView struct{ sr segReader }

// bytes returns up to n bytes at lsn (fewer at a segment end), false when
// none are available.
func (w *walView) bytes(lsn pgwal.LSN, n int) ([]byte, bool) {
	b := make([]byte, n)
	k, err := w.sr.readAt(b, lsn)
	if k == 0 || (err != nil && !errors.Is(err, io.EOF)) {
		return nil, false
	}
	return b[:k], true
}

// zeroToSectorEnd reports whether the bytes from r to the end of its
// 512-byte sector all read as zeros: the record that should start at r was
// lost with the first sector of a write that never reached the disk.
func (w *walView) zeroToSectorEnd(r pgwal.LSN) bool {
	const sector = 512
	n := int(((r + sector) &^ (sector - 1)) - r)
	b, ok := w.bytes(r, n)
	if !ok {
		return true
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// hasZeroSector reports whether an aligned 512-byte sector inside
// [from, to) reads as all zeros.
func (w *walView) hasZeroSector(from, to pgwal.LSN) bool {
	const sector = 512
	for s := (from + sector - 1) &^ (sector - 1); s+sector <= to; s += sector {
		b, ok := w.bytes(s, sector)
		if !ok || len(b) < sector {
			return true
		}
		zero := true
		for _, c := range b {
			if c != 0 {
				zero = false
				break
			}
		}
		if zero {
			return true
		}
	}
	return false
}
