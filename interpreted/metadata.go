package interpreted

import "github.com/walkeeper/walkeeper/pgwal"

// MetadataRecord mirrors the pageserver's MetadataRecord enum (spec §6.8):
// the part of a WAL record that is not a relation block. It is one of the
// pointer types below; nil means none. On the wire it is always bincode.
type MetadataRecord interface {
	// variant returns the bincode indices of the MetadataRecord enum and of
	// the inner enum.
	variant() (outer, inner uint32)
	// appendFields appends the variant's payload in bincode.
	appendFields(dst []byte) []byte
}

// AppendMetadataRecord appends the bincode encoding of m (not nil).
func AppendMetadataRecord(dst []byte, m MetadataRecord) []byte {
	outer, inner := m.variant()
	return m.appendFields(appendU32(appendU32(dst, outer), inner))
}

// Outer enum indices of MetadataRecord.
const (
	mdHeapam uint32 = iota
	mdNeonrmgr
	mdSmgr
	mdDbase
	mdClog
	mdXact
	mdMultiXact
	mdRelmap
	mdXlog
	mdLogicalMessage
	mdStandby
	mdReplorigin
)

// RelTag mirrors the pageserver's RelTag; bincode writes the fields in this
// order (fork first).
type RelTag struct {
	ForkNum uint8
	SpcNode uint32
	DBNode  uint32
	RelNode uint32
}

func appendRelTag(dst []byte, t RelTag) []byte {
	dst = append(dst, t.ForkNum)
	return appendU32(appendU32(appendU32(dst, t.SpcNode), t.DBNode), t.RelNode)
}

func appendRelFileNode(dst []byte, n pgwal.RelFileNode) []byte {
	return appendU32(appendU32(appendU32(dst, n.SpcNode), n.DBNode), n.RelNode)
}

// Visibility map bits (VISIBILITYMAP_* of access/visibilitymap.h).
const (
	VMAllFrozen         uint8 = 0x02  // VISIBILITYMAP_ALL_FROZEN
	VMValidBits         uint8 = 0x03  // VISIBILITYMAP_VALID_BITS
	heapBlocksPerVMPage       = 32672 // HEAPBLOCKS_PER_PAGE: (8192-24)*4
)

// ClearVMBits is Heapam::ClearVmBits, or Neonrmgr::ClearVmBits when Neon is
// set: clear VM bits for the heap blocks' VM pages.
type ClearVMBits struct {
	Neon         bool // from RM_NEON_ID (PG16+) rather than HEAP/HEAP2
	NewHeapBlkno Option[uint32]
	OldHeapBlkno Option[uint32]
	VMRel        RelTag
	Flags        uint8
}

func (m *ClearVMBits) variant() (uint32, uint32) {
	if m.Neon {
		return mdNeonrmgr, 0
	}
	return mdHeapam, 0
}

func (m *ClearVMBits) appendFields(dst []byte) []byte {
	dst = appendOptU32(appendOptU32(dst, m.NewHeapBlkno), m.OldHeapBlkno)
	return append(appendRelTag(dst, m.VMRel), m.Flags)
}

// SmgrCreate is Smgr::Create: a relation fork was created.
type SmgrCreate struct{ Rel RelTag }

func (m *SmgrCreate) variant() (uint32, uint32)      { return mdSmgr, 0 }
func (m *SmgrCreate) appendFields(dst []byte) []byte { return appendRelTag(dst, m.Rel) }

// SmgrTruncate is Smgr::Truncate (xl_smgr_truncate).
type SmgrTruncate struct {
	BlkNo uint32
	Rel   pgwal.RelFileNode
	Flags uint32
}

func (m *SmgrTruncate) variant() (uint32, uint32) { return mdSmgr, 1 }
func (m *SmgrTruncate) appendFields(dst []byte) []byte {
	return appendU32(appendRelFileNode(appendU32(dst, m.BlkNo), m.Rel), m.Flags)
}

// DbaseCreate is Dbase::Create (xl_dbase_create_file_copy_rec).
type DbaseCreate struct {
	DBID, TablespaceID, SrcDBID, SrcTablespaceID uint32
}

func (m *DbaseCreate) variant() (uint32, uint32) { return mdDbase, 0 }
func (m *DbaseCreate) appendFields(dst []byte) []byte {
	return appendU32(appendU32(appendU32(appendU32(dst, m.DBID), m.TablespaceID), m.SrcDBID), m.SrcTablespaceID)
}

// DbaseDrop is Dbase::Drop (xl_dbase_drop_rec).
type DbaseDrop struct {
	DBID          uint32
	TablespaceIDs []uint32
}

func (m *DbaseDrop) variant() (uint32, uint32) { return mdDbase, 1 }
func (m *DbaseDrop) appendFields(dst []byte) []byte {
	return appendU32s(appendU32(dst, m.DBID), m.TablespaceIDs)
}

// ClogZeroPage is Clog::ZeroPage: pageno split into segment and page.
type ClogZeroPage struct{ SegNo, RPageNo uint32 }

func (m *ClogZeroPage) variant() (uint32, uint32) { return mdClog, 0 }
func (m *ClogZeroPage) appendFields(dst []byte) []byte {
	return appendU32(appendU32(dst, m.SegNo), m.RPageNo)
}

// ClogTruncate is Clog::Truncate (xl_clog_truncate).
type ClogTruncate struct{ PageNo, OldestXID, OldestXIDDB uint32 }

func (m *ClogTruncate) variant() (uint32, uint32) { return mdClog, 1 }
func (m *ClogTruncate) appendFields(dst []byte) []byte {
	return appendU32(appendU32(appendU32(dst, m.PageNo), m.OldestXID), m.OldestXIDDB)
}

// XactKind selects the Xact variant of an XactRecord.
type XactKind uint32

const (
	XactCommit         XactKind = 0
	XactAbort          XactKind = 1
	XactCommitPrepared XactKind = 2
	XactAbortPrepared  XactKind = 3
)

// XactParsedRecord mirrors the pageserver's XlXactParsedRecord (PostgreSQL's
// xl_xact_parsed_commit, reduced).
type XactParsedRecord struct {
	XID       uint32 // xl_xid, or the prepared transaction's xid
	Info      uint8  // xl_info & XLOG_XACT_OPMASK
	XactTime  int64
	XInfo     uint32
	DBID      uint32
	TSID      uint32
	Subxacts  []uint32
	XNodes    []pgwal.RelFileNode
	OriginLSN pgwal.LSN
}

// XactRecord is Xact::{Commit, Abort, CommitPrepared, AbortPrepared}
// (XactCommon).
type XactRecord struct {
	Kind     XactKind
	Parsed   XactParsedRecord
	OriginID uint16
	XLXID    uint32
	LSN      pgwal.LSN // next_record_lsn of the record
}

func (m *XactRecord) variant() (uint32, uint32) { return mdXact, uint32(m.Kind) }
func (m *XactRecord) appendFields(dst []byte) []byte {
	p := &m.Parsed
	dst = append(appendU32(dst, p.XID), p.Info)
	dst = appendU32(appendU32(appendU32(appendU64(dst, uint64(p.XactTime)), p.XInfo), p.DBID), p.TSID)
	dst = appendU32s(dst, p.Subxacts)
	dst = appendU64(dst, uint64(len(p.XNodes)))
	for _, n := range p.XNodes {
		dst = appendRelFileNode(dst, n)
	}
	dst = appendU64(dst, uint64(p.OriginLSN))
	return appendU64(appendU32(appendU16(dst, m.OriginID), m.XLXID), uint64(m.LSN))
}

// XactPrepare is Xact::Prepare: the whole main data of XLOG_XACT_PREPARE.
type XactPrepare struct {
	XLXID uint32
	Data  []byte
}

func (m *XactPrepare) variant() (uint32, uint32) { return mdXact, 4 }
func (m *XactPrepare) appendFields(dst []byte) []byte {
	return appendBinBytes(appendU32(dst, m.XLXID), m.Data)
}

// SlruKind mirrors the pageserver's SlruKind.
type SlruKind uint32

const (
	SlruClog             SlruKind = 0
	SlruMultiXactMembers SlruKind = 1
	SlruMultiXactOffsets SlruKind = 2
)

// MultiXactZeroPage is MultiXact::ZeroPage.
type MultiXactZeroPage struct {
	Kind           SlruKind
	SegNo, RPageNo uint32
}

func (m *MultiXactZeroPage) variant() (uint32, uint32) { return mdMultiXact, 0 }
func (m *MultiXactZeroPage) appendFields(dst []byte) []byte {
	return appendU32(appendU32(appendU32(dst, uint32(m.Kind)), m.SegNo), m.RPageNo)
}

// MultiXactMember mirrors MultiXactMember.
type MultiXactMember struct{ XID, Status uint32 }

// MultiXactCreate is MultiXact::Create (xl_multixact_create).
type MultiXactCreate struct {
	Mid, Moff, NMembers uint32
	Members             []MultiXactMember
}

func (m *MultiXactCreate) variant() (uint32, uint32) { return mdMultiXact, 1 }
func (m *MultiXactCreate) appendFields(dst []byte) []byte {
	dst = appendU32(appendU32(appendU32(dst, m.Mid), m.Moff), m.NMembers)
	dst = appendU64(dst, uint64(len(m.Members)))
	for _, mb := range m.Members {
		dst = appendU32(appendU32(dst, mb.XID), mb.Status)
	}
	return dst
}

// MultiXactTruncate is MultiXact::Truncate (xl_multixact_truncate).
type MultiXactTruncate struct {
	OldestMultiDB, StartTruncOff, EndTruncOff, StartTruncMemb, EndTruncMemb uint32
}

func (m *MultiXactTruncate) variant() (uint32, uint32) { return mdMultiXact, 2 }
func (m *MultiXactTruncate) appendFields(dst []byte) []byte {
	for _, v := range [...]uint32{m.OldestMultiDB, m.StartTruncOff, m.EndTruncOff, m.StartTruncMemb, m.EndTruncMemb} {
		dst = appendU32(dst, v)
	}
	return dst
}

// RelmapUpdate is Relmap::Update (xl_relmap_update and the map bytes).
type RelmapUpdate struct {
	DBID, TSID uint32
	NBytes     int32
	Buf        []byte
}

func (m *RelmapUpdate) variant() (uint32, uint32) { return mdRelmap, 0 }
func (m *RelmapUpdate) appendFields(dst []byte) []byte {
	return appendBinBytes(appendU32(appendU32(appendU32(dst, m.DBID), m.TSID), uint32(m.NBytes)), m.Buf)
}

// XlogRaw is Xlog::Raw: any RM_XLOG record, decoded by the pageserver.
type XlogRaw struct {
	Info uint8 // xl_info & XLR_RMGR_INFO_MASK
	LSN  pgwal.LSN
	Buf  []byte // main data
}

func (m *XlogRaw) variant() (uint32, uint32) { return mdXlog, 0 }
func (m *XlogRaw) appendFields(dst []byte) []byte {
	return appendBinBytes(appendU64(append(dst, m.Info), uint64(m.LSN)), m.Buf)
}

// LogicalMessagePut is LogicalMessage::Put: a "neon-file:" logical message
// (an AUX file), stored on shard 0 only.
type LogicalMessagePut struct {
	Path string
	Buf  []byte
}

func (m *LogicalMessagePut) variant() (uint32, uint32) { return mdLogicalMessage, 0 }
func (m *LogicalMessagePut) appendFields(dst []byte) []byte {
	return appendBinBytes(appendBinBytes(dst, []byte(m.Path)), m.Buf)
}

// StandbyRunningXacts is Standby::RunningXacts.
type StandbyRunningXacts struct{ OldestRunningXID uint32 }

func (m *StandbyRunningXacts) variant() (uint32, uint32) { return mdStandby, 0 }
func (m *StandbyRunningXacts) appendFields(dst []byte) []byte {
	return appendU32(dst, m.OldestRunningXID)
}

// ReploriginSet is Replorigin::Set (xl_replorigin_set).
type ReploriginSet struct {
	RemoteLSN pgwal.LSN
	NodeID    uint16
}

func (m *ReploriginSet) variant() (uint32, uint32) { return mdReplorigin, 0 }
func (m *ReploriginSet) appendFields(dst []byte) []byte {
	return appendU16(appendU64(dst, uint64(m.RemoteLSN)), m.NodeID)
}

// ReploriginDrop is Replorigin::Drop (xl_replorigin_drop).
type ReploriginDrop struct{ NodeID uint16 }

func (m *ReploriginDrop) variant() (uint32, uint32)      { return mdReplorigin, 1 }
func (m *ReploriginDrop) appendFields(dst []byte) []byte { return appendU16(dst, m.NodeID) }
