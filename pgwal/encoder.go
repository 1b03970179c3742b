package pgwal

import "encoding/binary"

// Encoder writes a WAL byte stream the way PostgreSQL lays it out: records
// 8-byte aligned, page headers at every page, continuation flags and
// xlp_rem_len for records that cross pages, CRC32C in every record, and the
// zero-filled tail of the segment after XLOG_SWITCH. It exists for tests and
// benchmarks in walkeeper; it is not a WAL writer for PostgreSQL.
type Encoder struct {
	lsn     LSN // next byte to emit
	prev    LSN // start of the previous record
	magic   uint16
	sysID   uint64
	segSize uint64
}

// NewEncoder starts at start, which must be a record start or a page
// boundary. Bytes before start are not produced.
func NewEncoder(start LSN, pgVersion uint32, sysID uint64) *Encoder {
	return NewEncoderSegSize(start, pgVersion, sysID, DefaultSegmentSize)
}

// NewEncoderSegSize is NewEncoder for another segment size (a power of two).
// An unsupported pgVersion writes PG15's magic.
func NewEncoderSegSize(start LSN, pgVersion uint32, sysID uint64, segSize uint32) *Encoder {
	m, ok := PageMagic(pgVersion)
	if !ok {
		m, _ = PageMagic(15)
	}
	return &Encoder{lsn: start, magic: m, sysID: sysID, segSize: uint64(segSize)}
}

// LSN is the position of the next byte the encoder emits.
func (e *Encoder) LSN() LSN { return e.lsn }

// AppendRecord appends to dst the padding up to the next record start, the
// page headers on the way and a record of rmgr rmid with xl_info info whose
// body (everything after the 24-byte XLogRecord) is body. It returns dst and
// the record's start LSN.
func (e *Encoder) AppendRecord(dst []byte, rmid, info uint8, xid uint32, body []byte) ([]byte, LSN) {
	for e.lsn%8 != 0 {
		dst = e.appendByte(dst, 0)
	}
	if e.lsn.PageOffset() == 0 {
		dst = e.appendPageHeader(dst, 0)
	}
	start := e.lsn
	rec := make([]byte, 0, SizeOfXLogRecord+len(body))
	rec = AppendXLogRecord(rec, XLogRecord{TotLen: uint32(SizeOfXLogRecord + len(body)), XID: xid, Prev: e.prev, Info: info, RMID: rmid})
	rec = append(rec, body...)
	binary.LittleEndian.PutUint32(rec[20:], RecordCRC(rec))
	for len(rec) > 0 {
		if e.lsn.PageOffset() == 0 {
			dst = e.appendPageHeader(dst, uint32(len(rec)))
		}
		n := min(len(rec), int(XLogBlockSize-e.lsn.PageOffset()))
		dst = append(dst, rec[:n]...)
		e.lsn += LSN(n)
		rec = rec[n:]
	}
	e.prev = start
	if isSwitch(rmid, info) {
		if off := uint64(e.lsn) % e.segSize; off != 0 {
			dst = append(dst, make([]byte, e.segSize-off)...)
			e.lsn += LSN(e.segSize - off)
		}
	}
	return dst, start
}

func (e *Encoder) appendByte(dst []byte, b byte) []byte {
	e.lsn++
	return append(dst, b)
}

func (e *Encoder) appendPageHeader(dst []byte, remLen uint32) []byte {
	h := XLogPageHeaderData{Magic: e.magic, TLI: timelineID, PageAddr: e.lsn, RemLen: remLen}
	if remLen > 0 {
		h.Info |= XLPFirstIsContRecord
	}
	if uint64(e.lsn)%e.segSize == 0 {
		h.Info |= XLPLongHeader
		dst = AppendXLogLongPageHeader(dst, XLogLongPageHeaderData{
			XLogPageHeaderData: h, SysID: e.sysID, SegSize: uint32(e.segSize), XLogBlcksz: XLogBlockSize})
		e.lsn += SizeOfXLogLongPHD
		return dst
	}
	e.lsn += SizeOfXLogShortPHD
	return AppendXLogPageHeader(dst, h)
}
