package interpreted

import (
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
)

// A hand-written protobuf encoder for the hot path: the generated messages
// cost an allocation per value and record; this writes the same bytes
// (proto3 rules: scalars equal to their default omitted, optional fields
// written when set, fields in number order) straight into dst. The tests
// check it against proto.Marshal of the generated messages.

// protoScratch holds the bincode MetadataRecords of one batch while sizes
// are computed.
type protoScratch struct {
	md   []byte
	ends []int
}

var protoScratchPool = sync.Pool{New: func() any { return new(protoScratch) }}

// appendRecordsProtoFast appends the protobuf encoding of rs.
func appendRecordsProtoFast(dst []byte, rs *Records) []byte {
	s := protoScratchPool.Get().(*protoScratch)
	defer protoScratchPool.Put(s)
	s.md, s.ends = s.md[:0], s.ends[:0]
	for i := range rs.Records {
		if md := rs.Records[i].Metadata; md != nil {
			s.md = AppendMetadataRecord(s.md, md)
		}
		s.ends = append(s.ends, len(s.md))
	}
	start := 0
	for i := range rs.Records {
		r := &rs.Records[i]
		var md []byte
		if r.Metadata != nil {
			md = s.md[start:s.ends[i]]
		}
		start = s.ends[i]
		dst = protowire.AppendTag(dst, 1, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(recordProtoSize(r, md)))
		dst = appendRecordProto(dst, r, md)
	}
	dst = protowire.AppendVarint(protowire.AppendTag(dst, 2, protowire.VarintType), uint64(rs.NextRecordLSN))
	if rs.RawWALStartLSN.Valid {
		dst = protowire.AppendVarint(protowire.AppendTag(dst, 3, protowire.VarintType), uint64(rs.RawWALStartLSN.Value))
	}
	return dst
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

func batchProtoSize(b *ValueBatch) int {
	n := varintField(uint64(b.MaxLSN)) + varintField(b.Len)
	if len(b.Raw) > 0 {
		n += bytesField(len(b.Raw))
	}
	for i := range b.Metadata {
		n += bytesField(metaProtoSize(&b.Metadata[i]))
	}
	return n
}

func recordProtoSize(r *Record, md []byte) int {
	n := bytesField(batchProtoSize(&r.Batch)) + varintField(uint64(r.NextRecordLSN)) + varintField(uint64(r.XID))
	if r.Metadata != nil {
		n += bytesField(len(md))
	}
	if r.FlushUncommitted {
		n += 2
	}
	return n
}

func appendVarintField(dst []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return dst
	}
	return protowire.AppendVarint(protowire.AppendTag(dst, num, protowire.VarintType), v)
}

func appendRecordProto(dst []byte, r *Record, md []byte) []byte {
	if r.Metadata != nil {
		dst = protowire.AppendBytes(protowire.AppendTag(dst, 1, protowire.BytesType), md)
	}
	b := &r.Batch
	dst = protowire.AppendVarint(protowire.AppendTag(dst, 2, protowire.BytesType), uint64(batchProtoSize(b)))
	if len(b.Raw) > 0 {
		dst = protowire.AppendBytes(protowire.AppendTag(dst, 1, protowire.BytesType), b.Raw)
	}
	for i := range b.Metadata {
		m := &b.Metadata[i]
		dst = protowire.AppendVarint(protowire.AppendTag(dst, 2, protowire.BytesType), uint64(metaProtoSize(m)))
		dst = appendVarintField(dst, 1, uint64(m.Kind))
		dst = protowire.AppendVarint(protowire.AppendTag(dst, 2, protowire.BytesType), uint64(keyProtoSize(m)))
		dst = appendVarintField(appendVarintField(dst, 1, m.Key.High), 2, m.Key.Low)
		dst = appendVarintField(dst, 3, uint64(m.LSN))
		if m.Kind == Serialized {
			dst = protowire.AppendVarint(protowire.AppendTag(dst, 4, protowire.VarintType), m.BatchOffset)
			dst = protowire.AppendVarint(protowire.AppendTag(dst, 5, protowire.VarintType), m.Len)
			dst = protowire.AppendVarint(protowire.AppendTag(dst, 6, protowire.VarintType), protowire.EncodeBool(m.WillInit))
		}
	}
	dst = appendVarintField(dst, 3, uint64(b.MaxLSN))
	dst = appendVarintField(dst, 4, b.Len)
	dst = appendVarintField(dst, 3, uint64(r.NextRecordLSN))
	if r.FlushUncommitted {
		dst = protowire.AppendVarint(protowire.AppendTag(dst, 4, protowire.VarintType), 1)
	}
	return appendVarintField(dst, 5, uint64(r.XID))
}
