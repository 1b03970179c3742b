package pgwal

import (
	"encoding/binary"
	"fmt"

	"github.com/walkeeper/walkeeper/internal/crc32c"
)

// SizeOfXLogRecord is the size of the XLogRecord header.
const SizeOfXLogRecord = 24

// MaxRecordSize bounds xl_tot_len: PostgreSQL's reader refuses records it
// cannot allocate (MaxAllocSize), so a larger length is corrupt WAL.
const MaxRecordSize = 0x3FFFFFFF

// Resource manager ids (RmgrId) used by walkeeper; see access/rmgrlist.h.
const (
	RMXLogID       uint8 = 0
	RMXactID       uint8 = 1
	RMSmgrID       uint8 = 2
	RMClogID       uint8 = 3
	RMDbaseID      uint8 = 4
	RMTblspcID     uint8 = 5
	RMMultiXactID  uint8 = 6
	RMRelmapID     uint8 = 7
	RMStandbyID    uint8 = 8
	RMHeap2ID      uint8 = 9
	RMHeapID       uint8 = 10
	RMReplOriginID uint8 = 19
	RMLogicalMsgID uint8 = 21
	RMNeonID       uint8 = 134
)

// xl_info masks and XLOG record kinds.
const (
	XLRInfoMask     uint8 = 0x0F // XLR_INFO_MASK: flags owned by xloginsert
	XLRRmgrInfoMask uint8 = 0xF0 // XLR_RMGR_INFO_MASK: owned by the rmgr
	XLogSwitch      uint8 = 0x40 // XLOG_SWITCH (rmid RM_XLOG_ID)
)

// XLogRecord mirrors PostgreSQL's XLogRecord, the 24-byte header of every
// WAL record (little endian).
type XLogRecord struct {
	TotLen uint32 // xl_tot_len: whole record, header included, page headers excluded
	XID    uint32 // xl_xid
	Prev   LSN    // xl_prev: start of the previous record
	Info   uint8  // xl_info
	RMID   uint8  // xl_rmid
	CRC    uint32 // xl_crc: CRC32C of the body then of header bytes 0..19
}

// IsSwitch reports whether the record is XLOG_SWITCH, tested exactly as the
// reference does (rmid 0 and info 0x40, flag bits not masked), so that
// record boundaries, and with them flush_lsn, match a Neon safekeeper's.
// PostgreSQL masks xloginsert's flag bits (XLR_INFO_MASK) first, but
// never sets them on a switch record, so the two differ on crafted WAL
// only.
func (r XLogRecord) IsSwitch() bool { return isSwitch(r.RMID, r.Info) }

// isSwitch is IsSwitch on the two header bytes, for callers that have not
// built an XLogRecord.
func isSwitch(rmid, info uint8) bool { return rmid == RMXLogID && info == XLogSwitch }

// AppendXLogRecord appends the 24-byte encoding of r (padding zeroed).
func AppendXLogRecord(dst []byte, r XLogRecord) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, r.TotLen)
	dst = binary.LittleEndian.AppendUint32(dst, r.XID)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(r.Prev))
	dst = append(dst, r.Info, r.RMID, 0, 0)
	return binary.LittleEndian.AppendUint32(dst, r.CRC)
}

// ParseXLogRecord decodes the first 24 bytes of src; it checks the length
// only.
func ParseXLogRecord(src []byte) (XLogRecord, error) {
	if len(src) < SizeOfXLogRecord {
		return XLogRecord{}, fmt.Errorf("%w: %d bytes, need %d", ErrBadRecordLength, len(src), SizeOfXLogRecord)
	}
	return parseRecordHeader(src), nil
}

func parseRecordHeader(src []byte) XLogRecord {
	_ = src[23]
	return XLogRecord{
		TotLen: binary.LittleEndian.Uint32(src[0:]),
		XID:    binary.LittleEndian.Uint32(src[4:]),
		Prev:   LSN(binary.LittleEndian.Uint64(src[8:])),
		Info:   src[16],
		RMID:   src[17],
		CRC:    binary.LittleEndian.Uint32(src[20:]),
	}
}

// RecordCRC computes xl_crc for a whole record (header included, at least
// 24 bytes): CRC32C over rec[24:] followed by rec[:20].
func RecordCRC(rec []byte) uint32 {
	return crc32c.Record(rec)
}
