package pgwal

import (
	"encoding/binary"
	"fmt"
)

// Page header flags (xlp_info), from access/xlog_internal.h.
const (
	// XLPFirstIsContRecord (XLP_FIRST_IS_CONTRECORD) marks a page whose
	// data starts with the continuation of a record from earlier pages.
	XLPFirstIsContRecord uint16 = 0x0001
	// XLPLongHeader (XLP_LONG_HEADER) marks an XLogLongPageHeaderData.
	XLPLongHeader uint16 = 0x0002
	// XLPBkpRemovable (XLP_BKP_REMOVABLE) says backup blocks are optional.
	XLPBkpRemovable uint16 = 0x0004
	// XLPFirstIsOverwriteContRecord (XLP_FIRST_IS_OVERWRITE_CONTRECORD,
	// PG15+) marks a page whose first record replaces an aborted contrecord.
	XLPFirstIsOverwriteContRecord uint16 = 0x0008
	// xlpAllFlags is XLP_ALL_FLAGS: any other bit is invalid.
	xlpAllFlags uint16 = 0x000F
)

const (
	// SizeOfXLogShortPHD is the size of XLogPageHeaderData, MAXALIGNed.
	SizeOfXLogShortPHD = 24
	// SizeOfXLogLongPHD is the size of XLogLongPageHeaderData, MAXALIGNed.
	SizeOfXLogLongPHD = 40
)

// XLogPageHeaderData mirrors PostgreSQL's XLogPageHeaderData, the short
// header at the start of every WAL page (24 bytes on disk, little endian).
type XLogPageHeaderData struct {
	Magic    uint16 // xlp_magic: XLOG_PAGE_MAGIC of the major version
	Info     uint16 // xlp_info: XLP_* flags
	TLI      uint32 // xlp_tli: timeline of the first record on the page
	PageAddr LSN    // xlp_pageaddr: LSN of the page's first byte
	RemLen   uint32 // xlp_rem_len: bytes of a continued record still to come
}

// XLogLongPageHeaderData mirrors PostgreSQL's XLogLongPageHeaderData, the
// header of the first page of every segment (40 bytes on disk).
type XLogLongPageHeaderData struct {
	XLogPageHeaderData
	SysID      uint64 // xlp_sysid: system identifier from pg_control
	SegSize    uint32 // xlp_seg_size: wal_segment_size, cross-check
	XLogBlcksz uint32 // xlp_xlog_blcksz: XLOG_BLCKSZ, cross-check
}

// AppendXLogPageHeader appends the 24-byte encoding of h (padding zeroed).
func AppendXLogPageHeader(dst []byte, h XLogPageHeaderData) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, h.Magic)
	dst = binary.LittleEndian.AppendUint16(dst, h.Info)
	dst = binary.LittleEndian.AppendUint32(dst, h.TLI)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(h.PageAddr))
	dst = binary.LittleEndian.AppendUint32(dst, h.RemLen)
	return binary.LittleEndian.AppendUint32(dst, 0)
}

// ParseXLogPageHeader decodes the first 24 bytes of src. It checks only the
// length; validation against a position is the decoder's job.
func ParseXLogPageHeader(src []byte) (XLogPageHeaderData, error) {
	if len(src) < SizeOfXLogShortPHD {
		return XLogPageHeaderData{}, fmt.Errorf("%w: %d bytes, need %d", ErrBadPageHeader, len(src), SizeOfXLogShortPHD)
	}
	return parseShortHeader(src), nil
}

func parseShortHeader(src []byte) XLogPageHeaderData {
	_ = src[23]
	return XLogPageHeaderData{
		Magic:    binary.LittleEndian.Uint16(src[0:]),
		Info:     binary.LittleEndian.Uint16(src[2:]),
		TLI:      binary.LittleEndian.Uint32(src[4:]),
		PageAddr: LSN(binary.LittleEndian.Uint64(src[8:])),
		RemLen:   binary.LittleEndian.Uint32(src[16:]),
	}
}

// AppendXLogLongPageHeader appends the 40-byte encoding of h.
func AppendXLogLongPageHeader(dst []byte, h XLogLongPageHeaderData) []byte {
	dst = AppendXLogPageHeader(dst, h.XLogPageHeaderData)
	dst = binary.LittleEndian.AppendUint64(dst, h.SysID)
	dst = binary.LittleEndian.AppendUint32(dst, h.SegSize)
	return binary.LittleEndian.AppendUint32(dst, h.XLogBlcksz)
}

// ParseXLogLongPageHeader decodes the first 40 bytes of src.
func ParseXLogLongPageHeader(src []byte) (XLogLongPageHeaderData, error) {
	if len(src) < SizeOfXLogLongPHD {
		return XLogLongPageHeaderData{}, fmt.Errorf("%w: %d bytes, need %d", ErrBadPageHeader, len(src), SizeOfXLogLongPHD)
	}
	return XLogLongPageHeaderData{
		XLogPageHeaderData: parseShortHeader(src),
		SysID:              binary.LittleEndian.Uint64(src[24:]),
		SegSize:            binary.LittleEndian.Uint32(src[32:]),
		XLogBlcksz:         binary.LittleEndian.Uint32(src[36:]),
	}, nil
}
