package interpreted

import "github.com/walkeeper/walkeeper/pgwal"

// ParseMetadataRecord decodes one bincode MetadataRecord that fills src
// exactly. Byte slices in the result alias src.
func ParseMetadataRecord(src []byte) (MetadataRecord, error) {
	r := binReader{b: src}
	m := r.metadataRecord()
	if err := r.end(); err != nil {
		return nil, err
	}
	return m, nil
}

func (r *binReader) relTag() RelTag {
	return RelTag{ForkNum: r.u8(), SpcNode: r.u32(), DBNode: r.u32(), RelNode: r.u32()}
}

func (r *binReader) relFileNode() pgwal.RelFileNode {
	return pgwal.RelFileNode{SpcNode: r.u32(), DBNode: r.u32(), RelNode: r.u32()}
}

func (r *binReader) metadataRecord() MetadataRecord {
	outer, inner := r.u32(), r.u32()
	if r.err != nil {
		return nil
	}
	switch {
	case (outer == mdHeapam || outer == mdNeonrmgr) && inner == 0:
		return &ClearVMBits{Neon: outer == mdNeonrmgr, NewHeapBlkno: r.optU32(), OldHeapBlkno: r.optU32(),
			VMRel: r.relTag(), Flags: r.u8()}
	case outer == mdSmgr && inner == 0:
		return &SmgrCreate{Rel: r.relTag()}
	case outer == mdSmgr && inner == 1:
		return &SmgrTruncate{BlkNo: r.u32(), Rel: r.relFileNode(), Flags: r.u32()}
	case outer == mdDbase && inner == 0:
		return &DbaseCreate{DBID: r.u32(), TablespaceID: r.u32(), SrcDBID: r.u32(), SrcTablespaceID: r.u32()}
	case outer == mdDbase && inner == 1:
		return &DbaseDrop{DBID: r.u32(), TablespaceIDs: r.u32s()}
	case outer == mdClog && inner == 0:
		return &ClogZeroPage{SegNo: r.u32(), RPageNo: r.u32()}
	case outer == mdClog && inner == 1:
		return &ClogTruncate{PageNo: r.u32(), OldestXID: r.u32(), OldestXIDDB: r.u32()}
	case outer == mdXact && inner <= 3:
		return r.xactRecord(XactKind(inner))
	case outer == mdXact && inner == 4:
		return &XactPrepare{XLXID: r.u32(), Data: r.bytes()}
	case outer == mdMultiXact && inner == 0:
		m := &MultiXactZeroPage{Kind: SlruKind(r.u32()), SegNo: r.u32(), RPageNo: r.u32()}
		if m.Kind > SlruMultiXactOffsets {
			r.fail("SlruKind %d", m.Kind)
		}
		return m
	case outer == mdMultiXact && inner == 1:
		m := &MultiXactCreate{Mid: r.u32(), Moff: r.u32(), NMembers: r.u32()}
		if n := r.count(8); n > 0 {
			m.Members = make([]MultiXactMember, n)
			for i := range m.Members {
				m.Members[i] = MultiXactMember{XID: r.u32(), Status: r.u32()}
			}
		}
		return m
	case outer == mdMultiXact && inner == 2:
		return &MultiXactTruncate{OldestMultiDB: r.u32(), StartTruncOff: r.u32(), EndTruncOff: r.u32(),
			StartTruncMemb: r.u32(), EndTruncMemb: r.u32()}
	case outer == mdRelmap && inner == 0:
		return &RelmapUpdate{DBID: r.u32(), TSID: r.u32(), NBytes: int32(r.u32()), Buf: r.bytes()}
	case outer == mdXlog && inner == 0:
		return &XlogRaw{Info: r.u8(), LSN: pgwal.LSN(r.u64()), Buf: r.bytes()}
	case outer == mdLogicalMessage && inner == 0:
		return &LogicalMessagePut{Path: r.string(), Buf: r.bytes()}
	case outer == mdStandby && inner == 0:
		return &StandbyRunningXacts{OldestRunningXID: r.u32()}
	case outer == mdReplorigin && inner == 0:
		return &ReploriginSet{RemoteLSN: pgwal.LSN(r.u64()), NodeID: r.u16()}
	case outer == mdReplorigin && inner == 1:
		return &ReploriginDrop{NodeID: r.u16()}
	}
	r.fail("unknown MetadataRecord variant %d/%d", outer, inner)
	return nil
}

func (r *binReader) xactRecord(kind XactKind) *XactRecord {
	m := &XactRecord{Kind: kind}
	p := &m.Parsed
	p.XID, p.Info, p.XactTime = r.u32(), r.u8(), int64(r.u64())
	p.XInfo, p.DBID, p.TSID = r.u32(), r.u32(), r.u32()
	p.Subxacts = r.u32s()
	if n := r.count(12); n > 0 {
		p.XNodes = make([]pgwal.RelFileNode, n)
		for i := range p.XNodes {
			p.XNodes[i] = r.relFileNode()
		}
	}
	p.OriginLSN = pgwal.LSN(r.u64())
	m.OriginID, m.XLXID, m.LSN = r.u16(), r.u32(), pgwal.LSN(r.u64())
	return m
}
