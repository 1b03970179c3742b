package pgwal

import (
	"encoding/binary"
	"fmt"
)

// Record is one complete WAL record found by the Decoder.
type Record struct {
	StartLSN LSN // where the record's header begins
	EndLSN   LSN // unaligned end (page headers inside the record count)
	// NextLSN is where the next record starts: align8(EndLSN), or the next
	// segment start after XLOG_SWITCH. It is the "record-aligned" LSN that
	// walstore reports.
	NextLSN LSN
	Header  XLogRecord
	// Data is the whole reassembled record, header included, without page
	// headers. It aliases decoder memory and is valid until the next Feed or
	// Next.
	Data []byte
}

type decoderState uint8

const (
	stateWaiting      decoderState = iota // next byte (after a page header) starts a record
	stateReassembling                     // copying a record that crosses pages
	stateSkipping                         // skipping padding or the tail of a switched segment
)

// shrinkAbove is the buffer capacity above which the decoder gives memory
// back: the input buffer once it is mostly consumed, the reassembly buffer
// when the next record is much smaller.
const shrinkAbove = 1 << 20

// Decoder finds WAL records in a byte stream fed in arbitrary chunks; it is
// PostgreSQL's xlogreader reduced to what a safekeeper needs (the state
// machine of spec replication.md §7.6). Not safe for concurrent use.
type Decoder struct {
	segSize uint64
	magic   uint16 // expected xlp_magic; 0 accepts any known version

	lsn LSN    // position of buf[off]
	buf []byte // fed bytes; buf[off:] not yet consumed
	off int

	state     decoderState
	contLen   uint32 // bytes of the record being reassembled still to come
	recStart  LSN
	rec       []byte // reassembly buffer, reused
	skipUntil LSN
	endLSN    LSN // unaligned end of the last complete record
	err       error
}

// NewDecoder starts decoding at start, which must be a record start (not
// inside a page header; if start is exactly at a page/segment boundary, the
// header is parsed first). pgVersion is PG_VERSION_NUM (e.g. 150004) or a
// major (15); 0 accepts any known magic. Segments are 16 MiB, as in the
// reference safekeeper.
func NewDecoder(start LSN, pgVersion uint32) *Decoder {
	return NewDecoderSegSize(start, pgVersion, DefaultSegmentSize)
}

// NewDecoderSegSize is NewDecoder for another wal_segment_size (a power of
// two from 1 MiB to 1 GiB); it decides where long page headers are.
func NewDecoderSegSize(start LSN, pgVersion uint32, segSize uint32) *Decoder {
	d := &Decoder{segSize: uint64(segSize), lsn: start, endLSN: start, skipUntil: start}
	d.magic, d.err = decoderParams(start, pgVersion, segSize)
	return d
}

// decoderParams checks the arguments of a decoder constructor and returns
// the expected xlp_magic (0: any known version); the error, if any, is the
// decoder's sticky error.
func decoderParams(start LSN, pgVersion uint32, segSize uint32) (magic uint16, err error) {
	if pgVersion != 0 {
		m, ok := PageMagic(pgVersion)
		if !ok {
			err = decodeErr(start, ErrUnsupportedVersion, "PostgreSQL version %d", pgVersion)
		}
		magic = m
	}
	if !ValidSegmentSize(uint64(segSize)) {
		return magic, decodeErr(start, ErrUnsupportedVersion, "segment size %d", segSize)
	}
	if !start.CanBeRecordBoundary(uint64(segSize)) {
		err = decodeErr(start, ErrBadContRecord, "start is not a record start")
	}
	return magic, err
}

// Feed adds bytes continuing at FedLSN. The decoder copies what it keeps,
// so b may be reused when Feed returns. Feed invalidates Record.Data.
func (d *Decoder) Feed(b []byte) {
	rest := len(d.buf) - d.off
	if cap(d.buf) > shrinkAbove && rest+len(b) < cap(d.buf)/4 {
		nb := make([]byte, rest, max(rest+len(b), 64<<10))
		copy(nb, d.buf[d.off:])
		d.buf = nb
	} else if d.off > 0 {
		copy(d.buf, d.buf[d.off:])
		d.buf = d.buf[:rest]
	}
	d.off = 0
	d.buf = append(d.buf, b...)
}

// FedLSN is the end of the bytes fed so far.
func (d *Decoder) FedLSN() LSN { return d.lsn + LSN(len(d.buf)-d.off) }

// LSN is the unaligned end of the last complete record (the start LSN until
// a record is complete).
func (d *Decoder) LSN() LSN { return d.endLSN }

// Next returns the next complete record. ok is false when more input is
// needed. An error means corrupt WAL (or zero-filled WAL: the end of the
// log) and is sticky: every later call returns it.
func (d *Decoder) Next() (rec Record, ok bool, err error) {
	if d.err != nil {
		return Record{}, false, d.err
	}
	rec, ok, err = d.next()
	if err != nil {
		d.err = err
	}
	return rec, ok, err
}

func (d *Decoder) next() (Record, bool, error) {
	for {
		avail := len(d.buf) - d.off
		if d.state == stateSkipping {
			n := uint64(d.skipUntil - d.lsn)
			if uint64(avail) < n {
				d.advance(avail)
				return Record{}, false, nil
			}
			d.advance(int(n))
			d.state = stateWaiting
			avail -= int(n)
		}
		if d.lsn%XLogBlockSize == 0 {
			n, err := d.pageHeader(avail)
			if err != nil || n == 0 {
				return Record{}, false, err
			}
			d.advance(n)
			avail -= n
		}
		pageLeft := int(XLogBlockSize - d.lsn%XLogBlockSize)
		if d.state == stateWaiting {
			if avail < 4 {
				return Record{}, false, nil
			}
			totLen := binary.LittleEndian.Uint32(d.buf[d.off:])
			if totLen < SizeOfXLogRecord || totLen > MaxRecordSize {
				return Record{}, false, decodeErr(d.lsn, ErrBadRecordLength, "%d", totLen)
			}
			d.recStart = d.lsn
			if int(totLen) <= pageLeft {
				if avail < int(totLen) {
					return Record{}, false, nil
				}
				data := d.buf[d.off : d.off+int(totLen)]
				d.advance(int(totLen))
				return d.complete(data)
			}
			d.contLen = totLen
			d.rec = d.rec[:0]
			if cap(d.rec) > shrinkAbove && int(totLen) < cap(d.rec)/4 {
				d.rec = nil // give back the memory of an earlier huge record
			}
			d.state = stateReassembling
		}
		n := min(int(d.contLen), pageLeft, avail)
		d.rec = append(d.rec, d.buf[d.off:d.off+n]...)
		d.advance(n)
		d.contLen -= uint32(n)
		if d.contLen == 0 {
			return d.complete(d.rec)
		}
		if n == avail {
			return Record{}, false, nil
		}
	}
}

func (d *Decoder) advance(n int) {
	d.off += n
	d.lsn += LSN(n)
}

// pageHeader validates the page header at d.lsn and returns its size, or 0
// when it is not fully buffered yet.
func (d *Decoder) pageHeader(avail int) (int, error) {
	size := pageHeaderSize(d.lsn, d.segSize)
	if avail < size {
		return 0, nil
	}
	cont := d.state == stateReassembling
	return size, checkPageHeader(d.buf[d.off:], d.lsn, d.segSize, d.magic, cont, d.contLen, d.recStart)
}

// pageHeaderSize is the size of the header of the page starting at page.
// segSize is a power of two (decoderParams checks it), so a mask finds the
// segment offset instead of a 64-bit division.
func pageHeaderSize(page LSN, segSize uint64) int {
	if uint64(page)&(segSize-1) == 0 {
		return SizeOfXLogLongPHD
	}
	return SizeOfXLogShortPHD
}

// checkPageHeader validates the header in b of the page at page: magic
// (any known one if magic is 0), xlp_pageaddr, xlp_info, and the
// continuation flag and xlp_rem_len against whether a record continues
// (cont: contLen more bytes of the record at recStart). It reads the
// fields in place: building an XLogPageHeaderData and copying it cost a
// store-forwarding stall per page, and with the division that found the
// segment offset, a tenth of the boundary decoder's time.
func checkPageHeader(b []byte, page LSN, segSize uint64, magic uint16, cont bool, contLen uint32, recStart LSN) error {
	_ = b[SizeOfXLogShortPHD-1]
	m := binary.LittleEndian.Uint16(b[0:])
	info := binary.LittleEndian.Uint16(b[2:])
	addr := LSN(binary.LittleEndian.Uint64(b[8:]))
	remLen := binary.LittleEndian.Uint32(b[16:])
	long := uint64(page)&(segSize-1) == 0 // segSize: a power of two
	switch {
	case magic != 0 && m != magic, magic == 0 && !isKnownMagic(m):
		return decodeErr(page, ErrBadMagic, "%04X", m)
	case addr != page:
		return decodeErr(page, ErrBadPageAddr, "xlp_pageaddr %s", addr)
	case info&^xlpAllFlags != 0, long != (info&XLPLongHeader != 0):
		return decodeErr(page, ErrBadPageHeader, "xlp_info %04X", info)
	}
	hasCont := info&XLPFirstIsContRecord != 0
	if cont {
		if !hasCont || remLen != contLen {
			return decodeErr(page, ErrBadContRecord,
				"record at %s needs %d more bytes, page has flags %04X rem_len %d", recStart, contLen, info, remLen)
		}
	} else if hasCont || remLen != 0 {
		return decodeErr(page, ErrBadContRecord, "no record continues here, page has flags %04X rem_len %d", info, remLen)
	}
	return nil
}

// complete checks the CRC of a finished record and arranges to skip to the
// next record start.
func (d *Decoder) complete(data []byte) (Record, bool, error) {
	h := parseRecordHeader(data)
	if got := RecordCRC(data); got != h.CRC {
		return Record{}, false, decodeErr(d.recStart, ErrBadCRC, "computed %08X, xl_crc %08X", got, h.CRC)
	}
	end := d.lsn
	next := nextRecordStart(end, h.IsSwitch(), d.segSize)
	d.endLSN = end
	d.state = stateSkipping
	d.skipUntil = next
	return Record{StartLSN: d.recStart, EndLSN: end, NextLSN: next, Header: h, Data: data}, true, nil
}

// nextRecordStart is where the record after one ending at end starts:
// the next 8-byte boundary, or the next segment after an XLOG_SWITCH.
func nextRecordStart(end LSN, switched bool, segSize uint64) LSN {
	if switched {
		seg := LSN(segSize)
		return (end + seg - 1) / seg * seg
	}
	return end.Align8()
}

// String describes the decoder position, for logs and test failures.
func (d *Decoder) String() string {
	return fmt.Sprintf("Decoder{lsn %s, fed %s, state %d, end %s}", d.lsn, d.FedLSN(), d.state, d.endLSN)
}
