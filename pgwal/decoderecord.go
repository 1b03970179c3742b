package pgwal

import (
	"encoding/binary"
	"fmt"
)

// Block reference ids and limits, from access/xlogrecord.h.
const (
	XLRMaxBlockID               = 32   // XLR_MAX_BLOCK_ID
	XLRBlockIDDataShort         = 255  // XLR_BLOCK_ID_DATA_SHORT
	XLRBlockIDDataLong          = 254  // XLR_BLOCK_ID_DATA_LONG
	XLRBlockIDOrigin            = 253  // XLR_BLOCK_ID_ORIGIN
	XLRBlockIDTopLevelXID       = 252  // XLR_BLOCK_ID_TOPLEVEL_XID
	BlockSize                   = 8192 // BLCKSZ, the relation page size full-page images refer to
	bkpBlockForkMask            = 0x0F
	BkpBlockHasImage      uint8 = 0x10 // BKPBLOCK_HAS_IMAGE
	BkpBlockHasData       uint8 = 0x20 // BKPBLOCK_HAS_DATA
	BkpBlockWillInit      uint8 = 0x40 // BKPBLOCK_WILL_INIT
	BkpBlockSameRel       uint8 = 0x80 // BKPBLOCK_SAME_REL
)

// bimgFlags are the bimg_info bits of one major version.
type bimgFlags struct {
	hasHole, apply, compressed uint8
}

// bimgFlagsFor returns BKPIMAGE_* for a major version: PG14 has one
// IS_COMPRESSED bit, PG15+ one bit per method (PGLZ, LZ4, ZSTD).
func bimgFlagsFor(pgVersion uint32) (bimgFlags, bool) {
	switch MajorVersion(pgVersion) {
	case 14:
		return bimgFlags{hasHole: 0x01, apply: 0x04, compressed: 0x02}, true
	case 15, 16, 17:
		return bimgFlags{hasHole: 0x01, apply: 0x02, compressed: 0x04 | 0x08 | 0x10}, true
	}
	return bimgFlags{}, false
}

// RelFileNode mirrors PostgreSQL's RelFileNode (RelFileLocator in PG16+).
type RelFileNode struct {
	SpcNode uint32 // tablespace
	DBNode  uint32 // database
	RelNode uint32 // relation file number
}

// DecodedBkpBlock mirrors PostgreSQL's DecodedBkpBlock: one block reference
// (XLogRecordBlockHeader, optional XLogRecordBlockImageHeader and
// XLogRecordBlockCompressHeader, RelFileNode, BlockNumber).
type DecodedBkpBlock struct {
	ID      uint8 // block_id, 0..XLR_MAX_BLOCK_ID
	Rel     RelFileNode
	ForkNum uint8
	BlkNo   uint32
	Flags   uint8 // fork_flags

	HasImage   bool
	ApplyImage bool
	BimgInfo   uint8
	BimgLen    uint16
	HoleOffset uint16
	HoleLength uint16
	// Compressed reports a compressed image (any method of the version).
	Compressed  bool
	ImageOffset int    // offset of the image in the record
	Image       []byte // the image as stored; aliases the record

	HasData    bool
	DataLen    uint16
	DataOffset int    // offset of the block data in the record
	Data       []byte // aliases the record
}

// WillInit reports BKPBLOCK_WILL_INIT: redo initialises the page.
func (b *DecodedBkpBlock) WillInit() bool { return b.Flags&BkpBlockWillInit != 0 }

// DecodedRecord mirrors the parts of PostgreSQL's DecodedXLogRecord that
// walkeeper uses. Slices alias the record passed to DecodeRecord.
type DecodedRecord struct {
	Header         XLogRecord
	Record         []byte // the whole record, header included
	Origin         uint16 // RepOriginId, 0 (InvalidRepOriginId) if absent
	TopLevelXID    uint32 // 0 (InvalidTransactionId) if absent
	Blocks         []DecodedBkpBlock
	MainData       []byte
	MainDataOffset int
}

// DecodeRecord parses a whole record (header included, as Record.Data) the
// way PostgreSQL's DecodeXLogRecord does, with its cross-checks. Malformed
// input yields an error wrapping ErrBadRecord; the result aliases data.
func DecodeRecord(data []byte, pgVersion uint32) (*DecodedRecord, error) {
	r := &DecodedRecord{}
	if err := r.Decode(data, pgVersion); err != nil {
		return nil, err
	}
	return r, nil
}

// Decode is DecodeRecord into r, reusing r.Blocks' storage.
func (r *DecodedRecord) Decode(data []byte, pgVersion uint32) error {
	bf, ok := bimgFlagsFor(pgVersion)
	if !ok {
		return fmt.Errorf("%w: PostgreSQL version %d", ErrUnsupportedVersion, pgVersion)
	}
	if len(data) < SizeOfXLogRecord {
		return fmt.Errorf("%w: %d bytes", ErrBadRecord, len(data))
	}
	h := parseRecordHeader(data)
	if h.TotLen < SizeOfXLogRecord || uint64(h.TotLen) > uint64(len(data)) {
		return fmt.Errorf("%w: xl_tot_len %d with %d bytes", ErrBadRecord, h.TotLen, len(data))
	}
	data = data[:h.TotLen]
	*r = DecodedRecord{Header: h, Record: data, Blocks: r.Blocks[:0]}
	p := recordParser{buf: data, pos: SizeOfXLogRecord}
	var datatotal uint64
	var mainLen uint32
	var prevRel RelFileNode // of the previous block, for BKPBLOCK_SAME_REL
	for uint64(len(data)-p.pos) > datatotal {
		id := p.u8()
		switch {
		case id == XLRBlockIDDataShort:
			mainLen = uint32(p.u8())
		case id == XLRBlockIDDataLong:
			mainLen = p.u32()
		case id == XLRBlockIDOrigin:
			r.Origin = p.u16()
			continue
		case id == XLRBlockIDTopLevelXID:
			r.TopLevelXID = p.u32()
			continue
		case id <= XLRMaxBlockID:
			if n := len(r.Blocks); n > 0 && id <= r.Blocks[n-1].ID {
				return p.fail("out-of-order block_id %d", id)
			}
			b, err := p.blockHeader(id, bf, prevRel, len(r.Blocks) > 0)
			if err != nil {
				return err
			}
			r.Blocks = append(r.Blocks, b)
			prevRel = b.Rel
			datatotal += uint64(b.DataLen) + uint64(b.BimgLen)
			continue
		default:
			return p.fail("invalid block_id %d", id)
		}
		datatotal += uint64(mainLen)
		break // by convention the main data header is last
	}
	if p.err != nil {
		return p.err
	}
	if uint64(len(data)-p.pos) != datatotal {
		return p.fail("%d bytes of data after headers, headers declare %d", len(data)-p.pos, datatotal)
	}
	for i := range r.Blocks {
		b := &r.Blocks[i]
		if b.HasImage {
			b.ImageOffset = p.pos
			b.Image = data[p.pos : p.pos+int(b.BimgLen)]
			p.pos += int(b.BimgLen)
		}
		if b.HasData {
			b.DataOffset = p.pos
			b.Data = data[p.pos : p.pos+int(b.DataLen)]
			p.pos += int(b.DataLen)
		}
	}
	r.MainDataOffset = p.pos
	r.MainData = data[p.pos:]
	return nil
}

// recordParser reads little-endian fields; the first overrun sets err and
// makes later reads return zeros.
type recordParser struct {
	buf []byte
	pos int
	err error
}

func (p *recordParser) fail(format string, args ...any) error {
	if p.err == nil {
		p.err = fmt.Errorf("%w: "+format, append([]any{ErrBadRecord}, args...)...)
	}
	return p.err
}

func (p *recordParser) take(n int) []byte {
	if p.err != nil || len(p.buf)-p.pos < n {
		p.fail("record too short for its headers at offset %d", p.pos)
		return make([]byte, n)
	}
	b := p.buf[p.pos : p.pos+n]
	p.pos += n
	return b
}

func (p *recordParser) u8() uint8   { return p.take(1)[0] }
func (p *recordParser) u16() uint16 { return binary.LittleEndian.Uint16(p.take(2)) }
func (p *recordParser) u32() uint32 { return binary.LittleEndian.Uint32(p.take(4)) }

// blockHeader parses an XLogRecordBlockHeader after its id byte, with the
// image header, compression header, RelFileNode and block number.
func (p *recordParser) blockHeader(id uint8, bf bimgFlags, prevRel RelFileNode, havePrev bool) (DecodedBkpBlock, error) {
	b := DecodedBkpBlock{ID: id, Flags: p.u8()}
	b.ForkNum = b.Flags & bkpBlockForkMask
	b.HasImage = b.Flags&BkpBlockHasImage != 0
	b.HasData = b.Flags&BkpBlockHasData != 0
	b.DataLen = p.u16()
	if b.HasData != (b.DataLen > 0) {
		return b, p.fail("block %d: BKPBLOCK_HAS_DATA %v with data_length %d", id, b.HasData, b.DataLen)
	}
	if b.HasImage {
		b.BimgLen = p.u16()
		b.HoleOffset = p.u16()
		b.BimgInfo = p.u8()
		b.ApplyImage = b.BimgInfo&bf.apply != 0
		b.Compressed = b.BimgInfo&bf.compressed != 0
		hole := b.BimgInfo&bf.hasHole != 0
		switch {
		case b.Compressed && hole:
			b.HoleLength = p.u16()
		case !b.Compressed:
			b.HoleLength = uint16(BlockSize - min(int(b.BimgLen), BlockSize))
		}
		if p.err != nil {
			return b, p.err
		}
		switch {
		case hole && (b.HoleOffset == 0 || b.HoleLength == 0 || b.BimgLen == BlockSize):
			return b, p.fail("block %d: BKPIMAGE_HAS_HOLE with hole offset %d length %d image length %d", id, b.HoleOffset, b.HoleLength, b.BimgLen)
		case !hole && (b.HoleOffset != 0 || b.HoleLength != 0):
			return b, p.fail("block %d: no BKPIMAGE_HAS_HOLE but hole offset %d length %d", id, b.HoleOffset, b.HoleLength)
		case b.Compressed && b.BimgLen == BlockSize:
			return b, p.fail("block %d: compressed image of full length", id)
		case !hole && !b.Compressed && b.BimgLen != BlockSize:
			return b, p.fail("block %d: full image of length %d", id, b.BimgLen)
		case int(b.HoleOffset)+int(b.HoleLength) > BlockSize || int(b.BimgLen) > BlockSize:
			return b, p.fail("block %d: hole offset %d length %d beyond the block", id, b.HoleOffset, b.HoleLength)
		}
	}
	if b.Flags&BkpBlockSameRel == 0 {
		b.Rel = RelFileNode{SpcNode: p.u32(), DBNode: p.u32(), RelNode: p.u32()}
	} else if !havePrev {
		return b, p.fail("block %d: BKPBLOCK_SAME_REL without a previous relation", id)
	} else {
		b.Rel = prevRel
	}
	b.BlkNo = p.u32()
	return b, p.err
}
