package interpreted

import (
	"bytes"

	"github.com/walkeeper/walkeeper/pgwal"
)

// XACT record kinds (xl_info & XLOG_XACT_OPMASK) and xinfo bits, from
// access/xact.h.
const (
	xactOpMask         uint8 = 0x70
	xactHasInfo        uint8 = 0x80
	xlogXactCommit     uint8 = 0x00
	xlogXactPrepare    uint8 = 0x10
	xlogXactAbort      uint8 = 0x20
	xlogXactCommitPrep uint8 = 0x30
	xlogXactAbortPrep  uint8 = 0x40

	xinfoHasDBInfo       uint32 = 0x01
	xinfoHasSubxacts     uint32 = 0x02
	xinfoHasRelFileNodes uint32 = 0x04
	xinfoHasInvals       uint32 = 0x08
	xinfoHasTwophase     uint32 = 0x10
	xinfoHasOrigin       uint32 = 0x20
	xinfoHasDroppedStats uint32 = 0x100
)

// xactRecord interprets an RM_XACT record.
func (in *Interpreter) xactRecord(next pgwal.LSN) (MetadataRecord, error) {
	d := &in.dec
	op := d.Header.Info & xactOpMask
	var kind XactKind
	switch op {
	case xlogXactCommit:
		kind = XactCommit
	case xlogXactAbort:
		kind = XactAbort
	case xlogXactCommitPrep:
		kind = XactCommitPrepared
	case xlogXactAbortPrep:
		kind = XactAbortPrepared
	case xlogXactPrepare:
		return &XactPrepare{XLXID: d.Header.XID, Data: bytes.Clone(d.MainData)}, nil
	default:
		return nil, nil
	}
	p, err := parseXact(d.MainData, d.Header.XID, d.Header.Info)
	if err != nil {
		return nil, err
	}
	return &XactRecord{Kind: kind, Parsed: p, OriginID: d.Origin, XLXID: d.Header.XID, LSN: next}, nil
}

// parseXact reads xl_xact_commit / xl_xact_abort and their optional parts
// in the reference's order (spec §6.9). Like the reference it does not skip
// the GID (XACT_XINFO_HAS_GID), so origin_lsn is misread when a record has
// both a GID and an origin: the pageserver expects exactly that value.
func parseXact(main []byte, xid uint32, xlInfo uint8) (XactParsedRecord, error) {
	r := leReader{b: main}
	p := XactParsedRecord{XID: xid, Info: xlInfo & xactOpMask}
	p.XactTime = int64(r.u64())
	if xlInfo&xactHasInfo != 0 {
		p.XInfo = r.u32()
	}
	if p.XInfo&xinfoHasDBInfo != 0 {
		p.DBID, p.TSID = r.u32(), r.u32()
	}
	if p.XInfo&xinfoHasSubxacts != 0 {
		if n := r.count(4); n > 0 {
			p.Subxacts = make([]uint32, n)
			for i := range p.Subxacts {
				p.Subxacts[i] = r.u32()
			}
		}
	}
	if p.XInfo&xinfoHasRelFileNodes != 0 {
		if n := r.count(12); n > 0 {
			p.XNodes = make([]pgwal.RelFileNode, n)
			for i := range p.XNodes {
				p.XNodes[i] = pgwal.RelFileNode{SpcNode: r.u32(), DBNode: r.u32(), RelNode: r.u32()}
			}
		}
	}
	if p.XInfo&xinfoHasDroppedStats != 0 {
		r.skip(int32(r.u32()), 12) // xl_xact_stats_item
	}
	if p.XInfo&xinfoHasInvals != 0 {
		r.skip(int32(r.u32()), 16) // SharedInvalidationMessage
	}
	if p.XInfo&xinfoHasTwophase != 0 {
		p.XID = r.u32()
	}
	if p.XInfo&xinfoHasOrigin != 0 {
		p.OriginLSN = pgwal.LSN(r.u64())
	}
	return p, r.err
}
