package pgwal

import (
	"encoding/binary"
	"fmt"

	"github.com/walkeeper/walkeeper/internal/crc32c"
)

// BoundaryDecoder finds the same records as Decoder, with the same checks
// (page headers, xl_tot_len, continuation flags and xlp_rem_len, CRC32C)
// and the same errors, but for callers that need record boundaries only:
// it reads the fed bytes in place instead of copying them, computes each
// record's CRC piece by piece as the record arrives and keeps only its
// 24-byte header, so a record is never reassembled. Record.Data is always
// nil. Not safe for concurrent use.
//
// Feed retains b until Next returns ok == false or an error (by then every
// fed byte has been consumed, a partial header into the decoder's own
// memory): the caller must not modify b before that. A caller that drains
// Next after each Feed, as walstore does, keeps nothing retained.
type BoundaryDecoder struct {
	segSize uint64
	magic   uint16 // expected xlp_magic; 0 accepts any known version

	lsn LSN    // position of in[off]
	fed LSN    // end of the bytes fed so far
	in  []byte // fed bytes, in[off:] not yet consumed; aliases the caller's b
	off int
	own []byte // in's storage when Feed came before in was consumed

	state     decoderState // stateReassembling: inside a record
	ph        [SizeOfXLogLongPHD]byte
	phN       int // bytes of the page header at lsn-phN collected in ph
	hdr       [SizeOfXLogRecord]byte
	got       uint32 // bytes of the current record consumed
	totLen    uint32 // its xl_tot_len, valid once got >= 4
	crc       uint32 // CRC32C of the record's bytes [24:got]
	recStart  LSN
	skipUntil LSN
	endLSN    LSN                    // unaligned end of the last complete record
	last      [SizeOfXLogRecord]byte // header of the last complete record
	err       error
}

// NewBoundaryDecoder is NewDecoderSegSize for boundary tracking; the
// arguments and their checks are the same.
func NewBoundaryDecoder(start LSN, pgVersion uint32, segSize uint32) *BoundaryDecoder {
	d := &BoundaryDecoder{segSize: uint64(segSize), lsn: start, fed: start, endLSN: start, skipUntil: start}
	d.magic, d.err = decoderParams(start, pgVersion, segSize)
	return d
}

// Feed adds bytes continuing at FedLSN. See the type's comment for how
// long b is retained.
func (d *BoundaryDecoder) Feed(b []byte) {
	d.fed += LSN(len(b))
	switch {
	case d.err != nil:
	case d.off == len(d.in):
		d.in, d.off = b, 0
	default:
		// Next was not drained: keep the unconsumed rest in own memory
		// (copy handles in aliasing own).
		d.own = append(append(d.own[:0], d.in[d.off:]...), b...)
		d.in, d.off = d.own, 0
	}
}

// FedLSN is the end of the bytes fed so far.
func (d *BoundaryDecoder) FedLSN() LSN { return d.fed }

// LSN is the unaligned end of the last complete record (the start LSN until
// a record is complete).
func (d *BoundaryDecoder) LSN() LSN { return d.endLSN }

// Next returns the next complete record, with Data nil. ok is false when
// more input is needed. An error means corrupt WAL (or zero-filled WAL: the
// end of the log) and is sticky: every later call returns it.
func (d *BoundaryDecoder) Next() (rec Record, ok bool, err error) {
	if d.err != nil {
		return Record{}, false, d.err
	}
	ok, err = d.next()
	if err != nil {
		d.err = err
	}
	if !ok {
		d.release()
		return Record{}, false, err
	}
	return Record{StartLSN: d.recStart, EndLSN: d.endLSN, NextLSN: d.skipUntil, Header: parseRecordHeader(d.last[:])}, true, nil
}

// Scan decodes every record completed by the bytes fed so far, with the
// same checks as Next, and reports where they end: last is the NextLSN of
// the final one, lastLE the NextLSN of the final one not beyond bound;
// each is 0 when there is none. It is Next in a loop without building a
// Record per record, for callers that want positions only (walstore, one
// call per write). Like Next, it releases the fed bytes when it returns,
// and an error is sticky.
func (d *BoundaryDecoder) Scan(bound LSN) (last, lastLE LSN, err error) {
	if d.err != nil {
		return 0, 0, d.err
	}
	for {
		d.scanWhole(bound, &last, &lastLE)
		ok, err := d.next()
		if err != nil {
			d.err = err
		}
		if !ok {
			d.release()
			return last, lastLE, err
		}
		last = d.skipUntil
		if last <= bound {
			lastLE = last
		}
	}
}

// scanWhole is Scan's fast path. From a record boundary, it takes every
// record that lies whole in the fed bytes (its page headers included),
// with next's checks but with the position kept in locals and each record
// taken in one step, not as a state machine's pieces; it updates last and
// lastLE as Scan does. It stops before the first record that is not whole
// here or that fails any check, leaving that record to next, which takes
// it as it arrives and reports its error with next's message.
func (d *BoundaryDecoder) scanWhole(bound LSN, last, lastLE *LSN) {
	if d.phN != 0 || d.state == stateReassembling {
		return
	}
	in, off, lsn := d.in, d.off, d.lsn
	if d.state == stateSkipping {
		n := uint64(d.skipUntil - lsn)
		if uint64(len(in)-off) < n {
			return
		}
		off, lsn = off+int(n), d.skipUntil
	}
	// The last record taken: its start, end and NextLSN (0 until one is
	// taken), and where its header is in in.
	var recStart, recEnd, next LSN
	hdrOff := 0
	for {
		// A record starts at lsn, after the page header if lsn is a page
		// start.
		hs := 0
		if lsn%XLogBlockSize == 0 {
			hs = pageHeaderSize(lsn, d.segSize)
			if len(in)-off < hs || checkPageHeader(in[off:off+hs], lsn, d.segSize, d.magic, false, 0, lsn) != nil {
				break
			}
		}
		rest := in[off+hs:]
		pageLeft := int(XLogBlockSize - (lsn+LSN(hs))%XLogBlockSize)
		if len(rest) < SizeOfXLogRecord || pageLeft < SizeOfXLogRecord {
			break // the header is split (between pages or Feeds)
		}
		totLen := int(binary.LittleEndian.Uint32(rest))
		if totLen < SizeOfXLogRecord || totLen > MaxRecordSize {
			break
		}
		start := lsn + LSN(hs)
		var crc uint32
		n := totLen // input bytes the record spans, page headers included
		if totLen <= pageLeft {
			if totLen > len(rest) {
				break
			}
			crc = RecordCRC(rest[:totLen])
		} else {
			var ok bool
			if crc, n, ok = d.spanning(rest, start, totLen, pageLeft); !ok {
				break
			}
		}
		if crc != binary.LittleEndian.Uint32(rest[20:]) {
			break
		}
		end := start + LSN(n)
		recStart, recEnd, hdrOff = start, end, off+hs
		next = nextRecordStart(end, isSwitch(rest[17], rest[16]), d.segSize)
		*last = next
		if next <= bound {
			*lastLE = next
		}
		off, lsn = off+hs+n, end
		skip := uint64(next - end)
		if uint64(len(in)-off) < skip {
			break
		}
		off, lsn = off+int(skip), next
	}
	if next == 0 {
		return
	}
	d.off, d.lsn = off, lsn
	d.recStart, d.endLSN = recStart, recEnd
	d.last = [SizeOfXLogRecord]byte(in[hdrOff:])
	d.state, d.skipUntil = stateSkipping, next
}

// spanning is scanWhole's step for a record, at start and in rest, that
// goes on past its first page (pageLeft bytes of it are there): its CRC
// and the input bytes it spans (page headers included), or ok false if it
// is not whole in rest or a page header on its way fails next's check.
// Whether it is whole is worked out first, so that the record a Feed ends
// in is not checksummed here and then again by next.
func (d *BoundaryDecoder) spanning(rest []byte, start LSN, totLen, pageLeft int) (crc uint32, n int, ok bool) {
	// Every later page holds at most XLogBlockSize-SizeOfXLogShortPHD
	// bytes of it (fewer after a segment's long header: the loop below
	// checks).
	const perPage = XLogBlockSize - SizeOfXLogShortPHD
	more := totLen - pageLeft
	if pageLeft+more+(more+perPage-1)/perPage*SizeOfXLogShortPHD > len(rest) {
		return 0, 0, false
	}
	crc = crc32c.Update(0, rest[SizeOfXLogRecord:pageLeft])
	got, n := pageLeft, pageLeft
	for {
		page := start + LSN(n)
		hs := pageHeaderSize(page, d.segSize)
		piece := min(totLen-got, XLogBlockSize-hs)
		if n+hs+piece > len(rest) {
			return 0, 0, false
		}
		if checkPageHeader(rest[n:n+hs], page, d.segSize, d.magic, true, uint32(totLen-got), start) != nil {
			return 0, 0, false
		}
		n += hs
		if got+piece == totLen {
			return crc32c.Update2(crc, rest[n:n+piece], rest[:20]), n + piece, true
		}
		crc = crc32c.Update(crc, rest[n:n+piece])
		got, n = got+piece, n+piece
	}
}

// release forgets the consumed input, so the caller may reuse it.
func (d *BoundaryDecoder) release() {
	d.in, d.off = nil, 0
	if cap(d.own) > shrinkAbove {
		d.own = nil
	}
}

// next decodes up to the end of the next record; on ok the record is
// described by recStart, endLSN, skipUntil (its NextLSN) and last.
func (d *BoundaryDecoder) next() (bool, error) {
	for {
		if d.state == stateSkipping {
			n := uint64(d.skipUntil - d.lsn)
			if avail := len(d.in) - d.off; uint64(avail) < n {
				d.advance(avail)
				return false, nil
			}
			d.advance(int(n))
			d.state = stateWaiting
		}
		if d.phN > 0 || d.lsn%XLogBlockSize == 0 {
			done, err := d.pageHeader()
			if err != nil || !done {
				return false, err
			}
		}
		pageLeft := int(XLogBlockSize - d.lsn%XLogBlockSize)
		if d.state == stateWaiting {
			if rest := d.in[d.off:]; len(rest) >= 4 {
				totLen := binary.LittleEndian.Uint32(rest)
				if totLen < SizeOfXLogRecord || totLen > MaxRecordSize {
					return false, decodeErr(d.lsn, ErrBadRecordLength, "%d", totLen)
				}
				if int(totLen) <= pageLeft && int(totLen) <= len(rest) {
					// The common case: the whole record is here, on one page.
					d.recStart = d.lsn
					data := rest[:totLen]
					d.advance(int(totLen))
					return d.complete(data, RecordCRC(data))
				}
				if len(rest) >= SizeOfXLogRecord && pageLeft >= SizeOfXLogRecord {
					// The record goes on past this page or this Feed, and
					// its header is here whole: take it and the body's
					// first piece at once, without the byte-wise steps
					// below (they copied the header twice through memmove).
					n := min(int(totLen), pageLeft, len(rest))
					d.recStart, d.totLen, d.got = d.lsn, totLen, uint32(n)
					d.hdr = [SizeOfXLogRecord]byte(rest[:SizeOfXLogRecord])
					d.crc = crc32c.Update(0, rest[SizeOfXLogRecord:n])
					d.advance(n)
					d.state = stateReassembling
					if n == len(rest) {
						return false, nil
					}
					continue
				}
			}
			d.recStart, d.got, d.totLen, d.crc = d.lsn, 0, 0, 0
			d.state = stateReassembling
		}
		if d.got < 4 {
			// xl_tot_len is on the record's first page (records start
			// 8-aligned), but may be split between Feeds.
			n := copy(d.hdr[d.got:4], d.in[d.off:])
			d.advance(n)
			d.got += uint32(n)
			if d.got < 4 {
				return false, nil
			}
			d.totLen = binary.LittleEndian.Uint32(d.hdr[:])
			if d.totLen < SizeOfXLogRecord || d.totLen > MaxRecordSize {
				return false, decodeErr(d.recStart, ErrBadRecordLength, "%d", d.totLen)
			}
			pageLeft -= n
		}
		avail := len(d.in) - d.off
		n := min(int(d.totLen-d.got), pageLeft, avail)
		if last := d.got+uint32(n) == d.totLen; last && d.got >= SizeOfXLogRecord {
			// The record's last piece, and then its header: one call.
			crc := crc32c.Update2(d.crc, d.in[d.off:d.off+n], d.hdr[:20])
			d.advance(n)
			d.got = d.totLen
			return d.complete(d.hdr[:], crc)
		}
		d.addPiece(d.in[d.off : d.off+n])
		d.advance(n)
		if d.got == d.totLen {
			return d.complete(d.hdr[:], crc32c.Update(d.crc, d.hdr[:20]))
		}
		if n == avail {
			return false, nil
		}
	}
}

// addPiece takes the next bytes of the current record: its header into
// hdr, the rest into the CRC.
func (d *BoundaryDecoder) addPiece(p []byte) {
	if d.got < SizeOfXLogRecord {
		k := copy(d.hdr[d.got:], p)
		d.got += uint32(k)
		p = p[k:]
	}
	if len(p) > 0 {
		d.crc = crc32c.Update(d.crc, p)
		d.got += uint32(len(p))
	}
}

func (d *BoundaryDecoder) advance(n int) {
	d.off += n
	d.lsn += LSN(n)
}

// pageHeader collects the page header at d.lsn-d.phN into ph and checks it
// once complete; done is false while more bytes are needed.
func (d *BoundaryDecoder) pageHeader() (done bool, err error) {
	if d.phN == 0 {
		// The usual case: the whole header is here; check it in place.
		size := pageHeaderSize(d.lsn, d.segSize)
		if len(d.in)-d.off >= size {
			cont := d.state == stateReassembling
			if err := checkPageHeader(d.in[d.off:d.off+size], d.lsn, d.segSize, d.magic, cont, d.totLen-d.got, d.recStart); err != nil {
				return false, err
			}
			d.advance(size)
			return true, nil
		}
	}
	page := d.lsn - LSN(d.phN)
	size := pageHeaderSize(page, d.segSize)
	n := copy(d.ph[d.phN:size], d.in[d.off:])
	d.advance(n)
	d.phN += n
	if d.phN < size {
		return false, nil
	}
	d.phN = 0
	cont := d.state == stateReassembling
	if err := checkPageHeader(d.ph[:size], page, d.segSize, d.magic, cont, d.totLen-d.got, d.recStart); err != nil {
		return false, err
	}
	return true, nil
}

// complete checks the CRC of a finished record whose header (24 bytes)
// starts hdr, and arranges to skip to the next record start. It reads the
// few header fields it needs in place: building an XLogRecord and copying
// it cost a store-forwarding stall per record.
func (d *BoundaryDecoder) complete(hdr []byte, crc uint32) (bool, error) {
	_ = hdr[SizeOfXLogRecord-1]
	if want := binary.LittleEndian.Uint32(hdr[20:]); crc != want {
		return false, decodeErr(d.recStart, ErrBadCRC, "computed %08X, xl_crc %08X", crc, want)
	}
	d.endLSN = d.lsn
	d.last = [SizeOfXLogRecord]byte(hdr[:SizeOfXLogRecord])
	d.state = stateSkipping
	d.skipUntil = nextRecordStart(d.lsn, isSwitch(hdr[17], hdr[16]), d.segSize)
	return true, nil
}

// String describes the decoder position, for logs and test failures.
func (d *BoundaryDecoder) String() string {
	return fmt.Sprintf("BoundaryDecoder{lsn %s, fed %s, state %d, end %s}", d.lsn, d.fed, d.state, d.endLSN)
}
