package interpreted

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/walkeeper/walkeeper/pgwal"
)

// Values inside ValueBatch.Raw are the pageserver's Value enum in bincode
// (spec §6.7). The safekeeper emits two shapes:
//
//	Image(page):                        u32 0 ‖ u64 8192 ‖ page
//	WalRecord(Postgres{will_init, rec}): u32 1 ‖ u32 0 ‖ u8 will_init ‖ u64 len ‖ rec

const (
	valueImage     uint32 = 0
	valueWalRecord uint32 = 1
	// ImageValueSize is the serialized size of an Image value.
	ImageValueSize         = 4 + 8 + pgwal.BlockSize
	walRecordValueOverhead = 4 + 4 + 1 + 8
)

// AppendImageValue appends Value::Image(page).
func AppendImageValue(dst, page []byte) []byte {
	return append(appendU64(appendU32(dst, valueImage), uint64(len(page))), page...)
}

// AppendWalRecordValue appends Value::WalRecord(NeonWalRecord::Postgres{
// will_init, rec}); rec is the whole PostgreSQL record, header included.
func AppendWalRecordValue(dst []byte, willInit bool, rec []byte) []byte {
	dst = appendBool(appendU32(appendU32(dst, valueWalRecord), 0), willInit)
	return append(appendU64(dst, uint64(len(rec))), rec...)
}

// Value is a parsed value: an image (Image set) or a PostgreSQL WAL record.
type Value struct {
	Image    []byte // the page of Value::Image, nil for a WAL record
	WillInit bool   // true for images
	Rec      []byte // the record of NeonWalRecord::Postgres
}

// ParseValue decodes one value that fills src exactly (a ValueMeta's
// Raw[BatchOffset:BatchOffset+Len]). The result aliases src.
func ParseValue(src []byte) (Value, error) {
	r := binReader{b: src}
	var v Value
	switch tag := r.u32(); tag {
	case valueImage:
		v.Image, v.WillInit = r.bytes(), true
		if v.Image == nil {
			v.Image = []byte{}
		}
	case valueWalRecord:
		if inner := r.u32(); inner != 0 && r.err == nil {
			r.fail("NeonWalRecord variant %d is not Postgres", inner)
		}
		v.WillInit, v.Rec = r.bool(), r.bytes()
	default:
		r.fail("Value variant %d", tag)
	}
	return v, r.end()
}

// pageIsNew is PageIsNew: pd_upper (bytes 14..15) is zero.
func pageIsNew(page []byte) bool { return page[14] == 0 && page[15] == 0 }

// pageSetLSN is PageSetLSN: pd_lsn as {xlogid, xrecoff}, each u32 LE.
func pageSetLSN(page []byte, lsn pgwal.LSN) {
	binary.LittleEndian.PutUint32(page[0:], uint32(lsn>>32))
	binary.LittleEndian.PutUint32(page[4:], uint32(lsn))
}

// appendPageImage appends Value::Image of block b's full-page image: the
// stored bytes with the hole re-inserted as zeros and, unless the page is
// new, the page LSN set to lsn (XLogReadBufferForRedoExtended does the same).
func appendPageImage(dst []byte, b *pgwal.DecodedBkpBlock, lsn pgwal.LSN) ([]byte, error) {
	img := b.Image
	hole, holeLen := int(b.HoleOffset), int(b.HoleLength)
	if len(img)+holeLen != pgwal.BlockSize || hole > len(img) {
		return dst, fmt.Errorf("%w: image of %d bytes with hole %d+%d", ErrBadWAL, len(img), hole, holeLen)
	}
	dst = appendU64(appendU32(dst, valueImage), pgwal.BlockSize)
	start := len(dst)
	dst = slices.Grow(dst, pgwal.BlockSize)
	dst = append(dst, img[:hole]...)
	z := len(dst)
	dst = dst[:z+holeLen]
	clear(dst[z:])
	dst = append(dst, img[hole:]...)
	if page := dst[start:]; !pageIsNew(page) {
		pageSetLSN(page, lsn)
	}
	return dst, nil
}
