package interpreted

import (
	"slices"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
)

// A hand-written protobuf encoder for the hot path: the generated messages
// cost an allocation per value and record; this writes the same bytes
// (proto3 rules: scalars equal to their default omitted, optional fields
// written when set, fields in number order) straight into dst. The tests
// check it against proto.Marshal of the generated messages.

// protoScratch holds, while one batch is written, the bincode
// MetadataRecords of its records and the sizes of its nested messages,
// computed once before the bytes are written.
type protoScratch struct {
	md   []byte
	ends []int
	// sizes holds per record its InterpretedWalRecord size, its
	// SerializedValueBatch size and the size of each ValueMeta, in order.
	sizes []int
}

var protoScratchPool = sync.Pool{New: func() any { return new(protoScratch) }}

// appendRecordsProtoFast appends the protobuf encoding of rs.
func appendRecordsProtoFast(dst []byte, rs *Records) []byte {
	s := protoScratchPool.Get().(*protoScratch)
	defer protoScratchPool.Put(s)
	s.md, s.ends, s.sizes = s.md[:0], s.ends[:0], s.sizes[:0]
	total := 0
	for i := range rs.Records {
		r := &rs.Records[i]
		mdStart := len(s.md)
		if r.Metadata != nil {
			s.md = AppendMetadataRecord(s.md, r.Metadata)
		}
		s.ends = append(s.ends, len(s.md))
		n := s.appendSizes(r, len(s.md)-mdStart)
		total += bytesField(n)
	}
	dst = slices.Grow(dst, total+2*(1+protowire.SizeVarint(uint64(rs.NextRecordLSN))))
	start, k := 0, 0
	for i := range rs.Records {
		r := &rs.Records[i]
		var md []byte
		if r.Metadata != nil {
			md = s.md[start:s.ends[i]]
		}
		start = s.ends[i]
		dst = protowire.AppendVarint(appendTag(dst, 1, protowire.BytesType), uint64(s.sizes[k]))
		dst = appendRecordProto(dst, r, md, s.sizes[k+1:k+2+len(r.Batch.Metadata)])
		k += 2 + len(r.Batch.Metadata)
	}
	dst = protowire.AppendVarint(appendTag(dst, 2, protowire.VarintType), uint64(rs.NextRecordLSN))
	if rs.RawWALStartLSN.Valid {
		dst = protowire.AppendVarint(appendTag(dst, 3, protowire.VarintType), uint64(rs.RawWALStartLSN.Value))
	}
	return dst
}

// appendSizes appends to s.sizes the size of r's InterpretedWalRecord (with
// a metadata_record of mdLen bytes if r has one), of its
// SerializedValueBatch and of each ValueMeta, and returns the first.
func (s *protoScratch) appendSizes(r *Record, mdLen int) int {
	at := len(s.sizes)
	s.sizes = append(s.sizes, 0, 0)
	b := &r.Batch
	bn := varintField(uint64(b.MaxLSN)) + varintField(b.Len)
	if len(b.Raw) > 0 {
		bn += bytesField(len(b.Raw))
	}
	for i := range b.Metadata {
		m := metaProtoSize(&b.Metadata[i])
		s.sizes = append(s.sizes, m)
		bn += bytesField(m)
	}
	n := bytesField(bn) + varintField(uint64(r.NextRecordLSN)) + varintField(uint64(r.XID))
	if r.Metadata != nil {
		n += bytesField(mdLen)
	}
	if r.FlushUncommitted {
		n += 2
	}
	s.sizes[at], s.sizes[at+1] = n, bn
	return n
}

// appendTag appends the tag of a field numbered below 16: one byte.
func appendTag(dst []byte, num protowire.Number, typ protowire.Type) []byte {
	return append(dst, byte(num)<<3|byte(typ))
}

// varintField is the size of a non-default varint field with a one-byte tag.
func varintField(v uint64) int {
	if v == 0 {
		return 0
	}
	return 1 + protowire.SizeVarint(v)
}

func bytesField(n int) int { return 1 + protowire.SizeBytes(n) }

func keyProtoSize(m *ValueMeta) int { return varintField(m.Key.High) + varintField(m.Key.Low) }

func metaProtoSize(m *ValueMeta) int {
	n := varintField(uint64(m.Kind)) + bytesField(keyProtoSize(m)) + varintField(uint64(m.LSN))
	if m.Kind == Serialized {
		n += 1 + protowire.SizeVarint(m.BatchOffset) + 1 + protowire.SizeVarint(m.Len) + 2
	}
	return n
}

func appendVarintField(dst []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return dst
	}
	return protowire.AppendVarint(appendTag(dst, num, protowire.VarintType), v)
}

// appendRecordProto appends the fields of r's InterpretedWalRecord; sizes
// are its SerializedValueBatch size and its ValueMeta sizes (appendSizes).
func appendRecordProto(dst []byte, r *Record, md []byte, sizes []int) []byte {
	if r.Metadata != nil {
		dst = protowire.AppendBytes(appendTag(dst, 1, protowire.BytesType), md)
	}
	b := &r.Batch
	dst = protowire.AppendVarint(appendTag(dst, 2, protowire.BytesType), uint64(sizes[0]))
	if len(b.Raw) > 0 {
		dst = protowire.AppendBytes(appendTag(dst, 1, protowire.BytesType), b.Raw)
	}
	for i := range b.Metadata {
		m := &b.Metadata[i]
		dst = protowire.AppendVarint(appendTag(dst, 2, protowire.BytesType), uint64(sizes[1+i]))
		dst = appendVarintField(dst, 1, uint64(m.Kind))
		dst = protowire.AppendVarint(appendTag(dst, 2, protowire.BytesType), uint64(keyProtoSize(m)))
		dst = appendVarintField(appendVarintField(dst, 1, m.Key.High), 2, m.Key.Low)
		dst = appendVarintField(dst, 3, uint64(m.LSN))
		if m.Kind == Serialized {
			dst = protowire.AppendVarint(appendTag(dst, 4, protowire.VarintType), m.BatchOffset)
			dst = protowire.AppendVarint(appendTag(dst, 5, protowire.VarintType), m.Len)
			dst = append(appendTag(dst, 6, protowire.VarintType), byte(protowire.EncodeBool(m.WillInit)))
		}
	}
	dst = appendVarintField(dst, 3, uint64(b.MaxLSN))
	dst = appendVarintField(dst, 4, b.Len)
	dst = appendVarintField(dst, 3, uint64(r.NextRecordLSN))
	if r.FlushUncommitted {
		dst = append(appendTag(dst, 4, protowire.VarintType), 1)
	}
	return appendVarintField(dst, 5, uint64(r.XID))
}
