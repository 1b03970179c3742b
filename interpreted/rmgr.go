package interpreted

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/walkeeper/walkeeper/pgwal"
)

// Record kinds of the other resource managers (xl_info & 0xF0), from
// PostgreSQL's headers.
const (
	xlogFPIForHint uint8 = 0xA0 // XLOG_FPI_FOR_HINT
	xlogFPI        uint8 = 0xB0 // XLOG_FPI

	smgrCreate   uint8 = 0x10
	smgrTruncate uint8 = 0x20

	dbaseCreate14       uint8 = 0x00 // XLOG_DBASE_CREATE (PG14)
	dbaseDrop14         uint8 = 0x10 // XLOG_DBASE_DROP (PG14)
	dbaseCreateFileCopy uint8 = 0x00 // XLOG_DBASE_CREATE_FILE_COPY (PG15+)
	dbaseDrop15         uint8 = 0x20 // XLOG_DBASE_DROP (PG15+)

	clogZeroPage uint8 = 0x00
	clogTruncate uint8 = 0x10

	multiXactZeroOffPage uint8 = 0x00
	multiXactZeroMemPage uint8 = 0x10
	multiXactCreateID    uint8 = 0x20
	multiXactTruncateID  uint8 = 0x30

	logicalMessage     uint8 = 0x00
	standbyRunningXact uint8 = 0x10
	replOriginSet      uint8 = 0x00
	replOriginDrop     uint8 = 0x10

	slruPagesPerSegment = 32
	neonFilePrefix      = "neon-file:"
)

// metadata decodes the record's MetadataRecord (before shard filtering).
// Byte fields are copies, so the result outlives the record buffer.
func (in *Interpreter) metadata(next pgwal.LSN) (MetadataRecord, error) {
	d := &in.dec
	info := d.Header.Info & pgwal.XLRRmgrInfoMask
	r := leReader{b: d.MainData}
	var m MetadataRecord
	switch d.Header.RMID {
	case pgwal.RMHeapID, pgwal.RMHeap2ID, pgwal.RMNeonID:
		return in.heapRecord()
	case pgwal.RMXactID:
		return in.xactRecord(next)
	case pgwal.RMXLogID:
		return &XlogRaw{Info: info, LSN: next, Buf: bytes.Clone(d.MainData)}, nil
	case pgwal.RMSmgrID:
		switch info {
		case smgrCreate:
			c := &SmgrCreate{Rel: RelTag{SpcNode: r.u32(), DBNode: r.u32(), RelNode: r.u32()}}
			c.Rel.ForkNum = uint8(r.u32())
			m = c
		case smgrTruncate:
			m = &SmgrTruncate{BlkNo: r.u32(), Rel: pgwal.RelFileNode{SpcNode: r.u32(), DBNode: r.u32(), RelNode: r.u32()}, Flags: r.u32()}
		}
	case pgwal.RMDbaseID:
		m = in.dbaseRecord(info, &r)
	case pgwal.RMClogID:
		switch info {
		case clogZeroPage:
			p := r.pageno(in.major)
			m = &ClogZeroPage{SegNo: p / slruPagesPerSegment, RPageNo: p % slruPagesPerSegment}
		case clogTruncate:
			m = &ClogTruncate{PageNo: r.pageno(in.major), OldestXID: r.u32(), OldestXIDDB: r.u32()}
		default:
			return nil, fmt.Errorf("%w: CLOG record %#x", ErrBadWAL, info)
		}
	case pgwal.RMMultiXactID:
		m = in.multiXactRecord(info, &r)
	case pgwal.RMRelmapID:
		u := &RelmapUpdate{DBID: r.u32(), TSID: r.u32(), NBytes: int32(r.u32())}
		u.Buf = bytes.Clone(r.rest())
		m = u
	case pgwal.RMLogicalMsgID:
		if info == logicalMessage {
			return logicalMessageRecord(d.MainData)
		}
	case pgwal.RMStandbyID:
		if info == standbyRunningXact {
			xcnt, subxcnt := r.u32(), r.u32()
			r.take(8) // subxid_overflow, nextXid
			s := &StandbyRunningXacts{OldestRunningXID: r.u32()}
			r.take(4) // latestCompletedXid
			r.take(int(min(uint64(xcnt)+uint64(subxcnt), 1<<30)) * 4)
			m = s
		}
	case pgwal.RMReplOriginID:
		switch info {
		case replOriginSet:
			m = &ReploriginSet{RemoteLSN: pgwal.LSN(r.u64()), NodeID: r.u16()}
		case replOriginDrop:
			m = &ReploriginDrop{NodeID: r.u16()}
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("rmgr %d record %#x: %w", d.Header.RMID, info, r.err)
	}
	return m, nil
}

func (in *Interpreter) dbaseRecord(info uint8, r *leReader) MetadataRecord {
	create, drop := info == dbaseCreateFileCopy, info == dbaseDrop15
	if in.major == 14 {
		create, drop = info == dbaseCreate14, info == dbaseDrop14
	}
	switch {
	case create:
		return &DbaseCreate{DBID: r.u32(), TablespaceID: r.u32(), SrcDBID: r.u32(), SrcTablespaceID: r.u32()}
	case drop:
		m := &DbaseDrop{DBID: r.u32()}
		n := r.u32()
		if uint64(n)*4 > uint64(len(r.b)-r.off) {
			r.take(int(min(uint64(n)*4, 1<<31)))
			return m
		}
		if n > 0 {
			m.TablespaceIDs = make([]uint32, n)
			for i := range m.TablespaceIDs {
				m.TablespaceIDs[i] = r.u32()
			}
		}
		return m
	}
	return nil // PG15+ CREATE_WAL_LOG: the blocks carry everything
}

// isDbaseCreateCopy reports a file-copy CREATE DATABASE, which the
// pageserver must see with everything before it committed.
func (in *Interpreter) isDbaseCreateCopy() bool {
	h := in.dec.Header
	// XLOG_DBASE_CREATE (PG14) and XLOG_DBASE_CREATE_FILE_COPY are both 0x00.
	return h.RMID == pgwal.RMDbaseID && h.Info&pgwal.XLRRmgrInfoMask == dbaseCreateFileCopy
}

func (in *Interpreter) multiXactRecord(info uint8, r *leReader) MetadataRecord {
	switch info {
	case multiXactZeroOffPage, multiXactZeroMemPage:
		kind := SlruMultiXactOffsets
		if info == multiXactZeroMemPage {
			kind = SlruMultiXactMembers
		}
		p := r.pageno(in.major)
		return &MultiXactZeroPage{Kind: kind, SegNo: p / slruPagesPerSegment, RPageNo: p % slruPagesPerSegment}
	case multiXactCreateID:
		m := &MultiXactCreate{Mid: r.u32(), Moff: r.u32(), NMembers: r.u32()}
		if uint64(m.NMembers)*8 > uint64(len(r.b)-r.off) {
			r.take(int(min(uint64(m.NMembers)*8, 1<<31)))
			return m
		}
		if m.NMembers > 0 {
			m.Members = make([]MultiXactMember, m.NMembers)
			for i := range m.Members {
				m.Members[i] = MultiXactMember{XID: r.u32(), Status: r.u32()}
			}
		}
		return m
	case multiXactTruncateID:
		return &MultiXactTruncate{OldestMultiDB: r.u32(), StartTruncOff: r.u32(), EndTruncOff: r.u32(),
			StartTruncMemb: r.u32(), EndTruncMemb: r.u32()}
	}
	return nil
}

// logicalMessageRecord interprets xl_logical_message: only "neon-file:"
// messages (AUX files) mean something to the pageserver. A prefix that is
// not UTF-8 fails the reader, as in the reference.
func logicalMessageRecord(main []byte) (MetadataRecord, error) {
	r := leReader{b: main}
	r.u32() // dbId
	r.u32() // transactional, padded
	prefixSize, messageSize := r.u64(), r.u64()
	if r.err != nil {
		return nil, r.err
	}
	rest := r.rest()
	if prefixSize == 0 || prefixSize-1 > uint64(len(rest)) {
		return nil, fmt.Errorf("%w: logical message prefix of %d bytes in %d", ErrBadWAL, prefixSize, len(rest))
	}
	prefix := rest[:prefixSize-1]
	if !utf8.Valid(prefix) {
		return nil, fmt.Errorf("%w: logical message prefix is not UTF-8", ErrBadWAL)
	}
	path, ok := strings.CutPrefix(string(prefix), neonFilePrefix)
	if !ok {
		return nil, nil
	}
	if prefixSize > uint64(len(rest)) || messageSize > uint64(len(rest))-prefixSize {
		return nil, fmt.Errorf("%w: logical message of %d bytes beyond main data", ErrBadWAL, messageSize)
	}
	return &LogicalMessagePut{Path: path, Buf: bytes.Clone(rest[prefixSize : prefixSize+messageSize])}, nil
}
