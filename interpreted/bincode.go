package interpreted

import "github.com/walkeeper/walkeeper/pgwal"

// AppendRecordsBincode appends the format=bincode encoding of rs (spec §6.6):
// u64 record count, the records, u64 next_record_lsn, Option<u64>
// raw_wal_start_lsn.
func AppendRecordsBincode(dst []byte, rs *Records) []byte {
	dst = appendU64(dst, uint64(len(rs.Records)))
	for i := range rs.Records {
		dst = appendRecordBincode(dst, &rs.Records[i])
	}
	dst = appendU64(dst, uint64(rs.NextRecordLSN))
	if !rs.RawWALStartLSN.Valid {
		return append(dst, 0)
	}
	return appendU64(append(dst, 1), uint64(rs.RawWALStartLSN.Value))
}

// flush_uncommitted is the enum FlushUncommittedRecords { Yes, No }: Yes is
// variant 0.
func flushVariant(yes bool) uint32 {
	if yes {
		return 0
	}
	return 1
}

func appendRecordBincode(dst []byte, r *Record) []byte {
	if r.Metadata == nil {
		dst = append(dst, 0)
	} else {
		dst = AppendMetadataRecord(append(dst, 1), r.Metadata)
	}
	b := &r.Batch
	dst = appendBinBytes(dst, b.Raw)
	dst = appendU64(dst, uint64(len(b.Metadata)))
	for i := range b.Metadata {
		dst = appendValueMetaBincode(dst, &b.Metadata[i])
	}
	dst = appendU64(appendU64(dst, uint64(b.MaxLSN)), b.Len)
	return appendU32(appendU32(appendU64(dst, uint64(r.NextRecordLSN)), flushVariant(r.FlushUncommitted)), r.XID)
}

func appendValueMetaBincode(dst []byte, m *ValueMeta) []byte {
	dst = appendU32(dst, uint32(m.Kind))
	dst = appendU64(appendU64(dst, m.Key.High), m.Key.Low)
	dst = appendU64(dst, uint64(m.LSN))
	if m.Kind == Observed {
		return dst
	}
	return appendBool(appendU64(appendU64(dst, m.BatchOffset), m.Len), m.WillInit)
}

// ParseRecordsBincode decodes a format=bincode batch that fills src exactly.
// Byte slices in the result alias src.
func ParseRecordsBincode(src []byte) (*Records, error) {
	r := binReader{b: src}
	// The smallest record is 1+8+8+8+8+8+4+4 bytes.
	n := r.count(49)
	rs := &Records{}
	if n > 0 {
		rs.Records = make([]Record, n)
	}
	for i := range rs.Records {
		r.record(&rs.Records[i])
	}
	rs.NextRecordLSN = pgwal.LSN(r.u64())
	if r.tag() {
		rs.RawWALStartLSN = Some(pgwal.LSN(r.u64()))
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return rs, nil
}

func (r *binReader) record(rec *Record) {
	if r.tag() {
		rec.Metadata = r.metadataRecord()
	}
	rec.Batch.Raw = r.bytes()
	// The smallest ValueMeta (Observed) is 4+16+8 bytes.
	if n := r.count(28); n > 0 {
		rec.Batch.Metadata = make([]ValueMeta, n)
		for i := range rec.Batch.Metadata {
			r.valueMeta(&rec.Batch.Metadata[i])
		}
	}
	rec.Batch.MaxLSN, rec.Batch.Len = pgwal.LSN(r.u64()), r.u64()
	rec.NextRecordLSN = pgwal.LSN(r.u64())
	switch v := r.u32(); v {
	case 0:
		rec.FlushUncommitted = true
	case 1:
	default:
		r.fail("FlushUncommittedRecords variant %d", v)
	}
	rec.XID = r.u32()
}

func (r *binReader) valueMeta(m *ValueMeta) {
	m.Kind = ValueMetaKind(r.u32())
	m.Key.High, m.Key.Low = r.u64(), r.u64()
	m.LSN = pgwal.LSN(r.u64())
	switch m.Kind {
	case Serialized:
		m.BatchOffset, m.Len, m.WillInit = r.u64(), r.u64(), r.bool()
	case Observed:
	default:
		r.fail("ValueMeta variant %d", m.Kind)
	}
}
