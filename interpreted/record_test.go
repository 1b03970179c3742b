package interpreted

import (
	"encoding/binary"

	"github.com/walkeeper/walkeeper/pgwal"
)

// testBlock describes a block reference for buildRecord.
type testBlock struct {
	rel      pgwal.RelFileNode
	fork     uint8
	blkno    uint32
	willInit bool
	data     []byte
	image    []byte // stored image bytes (without the hole)
	hole     uint16 // hole offset; the hole length is 8192 - len(image)
	apply    bool
	bimgInfo uint8 // if set, written instead of the PG15 flags derived above
}

// buildRecord assembles a PostgreSQL 15 WAL record (XLogRecord, block
// headers, origin, main data header, then block data and main data), the
// layout of spec §7.3-§7.4.
func buildRecord(rmid, info uint8, xid uint32, blocks []testBlock, origin uint16, main []byte) []byte {
	var hdr, data []byte
	for i, b := range blocks {
		flags := b.fork
		if b.willInit {
			flags |= pgwal.BkpBlockWillInit
		}
		if len(b.data) > 0 {
			flags |= pgwal.BkpBlockHasData
		}
		if b.image != nil {
			flags |= pgwal.BkpBlockHasImage
		}
		hdr = append(hdr, uint8(i), flags)
		hdr = binary.LittleEndian.AppendUint16(hdr, uint16(len(b.data)))
		if b.image != nil {
			var bimgInfo uint8
			if len(b.image) < pgwal.BlockSize {
				bimgInfo |= 0x01 // BKPIMAGE_HAS_HOLE
			}
			if b.apply {
				bimgInfo |= 0x02 // BKPIMAGE_APPLY (PG15)
			}
			if b.bimgInfo != 0 {
				bimgInfo = b.bimgInfo
			}
			hdr = binary.LittleEndian.AppendUint16(hdr, uint16(len(b.image)))
			hdr = binary.LittleEndian.AppendUint16(hdr, b.hole)
			hdr = append(hdr, bimgInfo)
			data = append(data, b.image...)
		}
		hdr = binary.LittleEndian.AppendUint32(hdr, b.rel.SpcNode)
		hdr = binary.LittleEndian.AppendUint32(hdr, b.rel.DBNode)
		hdr = binary.LittleEndian.AppendUint32(hdr, b.rel.RelNode)
		hdr = binary.LittleEndian.AppendUint32(hdr, b.blkno)
		data = append(data, b.data...)
	}
	if origin != 0 {
		hdr = binary.LittleEndian.AppendUint16(append(hdr, pgwal.XLRBlockIDOrigin), origin)
	}
	if len(main) > 0 {
		if len(main) < 256 {
			hdr = append(hdr, pgwal.XLRBlockIDDataShort, uint8(len(main)))
		} else {
			hdr = binary.LittleEndian.AppendUint32(append(hdr, pgwal.XLRBlockIDDataLong), uint32(len(main)))
		}
	}
	body := append(append(hdr, data...), main...)
	rec := pgwal.AppendXLogRecord(nil, pgwal.XLogRecord{TotLen: uint32(pgwal.SizeOfXLogRecord + len(body)), XID: xid, Info: info, RMID: rmid})
	rec = append(rec, body...)
	binary.LittleEndian.PutUint32(rec[20:], pgwal.RecordCRC(rec))
	return rec
}

// le concatenates little-endian fields: uint8, uint16, uint32, uint64 and
// byte slices.
func le(fields ...any) []byte {
	var b []byte
	for _, f := range fields {
		switch v := f.(type) {
		case uint8:
			b = append(b, v)
		case uint16:
			b = binary.LittleEndian.AppendUint16(b, v)
		case uint32:
			b = binary.LittleEndian.AppendUint32(b, v)
		case int32:
			b = binary.LittleEndian.AppendUint32(b, uint32(v))
		case uint64:
			b = binary.LittleEndian.AppendUint64(b, v)
		case int64:
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		case []byte:
			b = append(b, v...)
		case string:
			b = append(b, v...)
		default:
			panic("le: unsupported field")
		}
	}
	return b
}
