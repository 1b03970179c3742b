package interpreted

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/walkeeper/walkeeper/interpreted/interpretedpb"
	"github.com/walkeeper/walkeeper/interpreted/shard"
	"github.com/walkeeper/walkeeper/pgwal"
)

// ToProto converts rs to its protobuf message (spec §6.5): next_record_lsn
// always set, batch always set, metadata_record as bincode, batch_offset/len/
// will_init present exactly for Serialized values. The message aliases rs's
// byte slices.
func ToProto(rs *Records) *interpretedpb.InterpretedWalRecords {
	next := uint64(rs.NextRecordLSN)
	m := &interpretedpb.InterpretedWalRecords{
		Records:       make([]*interpretedpb.InterpretedWalRecord, len(rs.Records)),
		NextRecordLsn: &next,
	}
	if rs.RawWALStartLSN.Valid {
		v := uint64(rs.RawWALStartLSN.Value)
		m.RawWalStartLsn = &v
	}
	for i := range rs.Records {
		m.Records[i] = recordToProto(&rs.Records[i])
	}
	return m
}

func recordToProto(r *Record) *interpretedpb.InterpretedWalRecord {
	p := &interpretedpb.InterpretedWalRecord{
		Batch: &interpretedpb.SerializedValueBatch{
			Raw:      r.Batch.Raw,
			Metadata: make([]*interpretedpb.ValueMeta, len(r.Batch.Metadata)),
			MaxLsn:   uint64(r.Batch.MaxLSN),
			Len:      r.Batch.Len,
		},
		NextRecordLsn:    uint64(r.NextRecordLSN),
		FlushUncommitted: r.FlushUncommitted,
		Xid:              r.XID,
	}
	if r.Metadata != nil {
		p.MetadataRecord = AppendMetadataRecord([]byte{}, r.Metadata)
	}
	// One allocation for all metas of the record.
	metas := make([]interpretedpb.ValueMeta, len(r.Batch.Metadata))
	keys := make([]interpretedpb.CompactKey, len(r.Batch.Metadata))
	for i := range r.Batch.Metadata {
		v := &r.Batch.Metadata[i]
		keys[i].High, keys[i].Low = v.Key.High, v.Key.Low
		pm := &metas[i]
		pm.Key, pm.Lsn = &keys[i], uint64(v.LSN)
		if v.Kind == Observed {
			pm.Type = interpretedpb.ValueMetaType_Observed
		} else {
			off, n, wi := v.BatchOffset, v.Len, v.WillInit
			pm.BatchOffset, pm.Len, pm.WillInit = &off, &n, &wi
		}
		p.Batch.Metadata[i] = pm
	}
	return p
}

// AppendRecordsProto appends the protobuf encoding of rs. It writes the
// bytes directly (see protowire.go); they equal MarshalRecordsProto's.
func AppendRecordsProto(dst []byte, rs *Records) ([]byte, error) {
	return appendRecordsProtoFast(dst, rs), nil
}

// MarshalRecordsProto appends the protobuf encoding of rs made with the
// generated messages (ToProto and proto.Marshal): the reference that
// AppendRecordsProto is tested against.
func MarshalRecordsProto(dst []byte, rs *Records) ([]byte, error) {
	return proto.MarshalOptions{}.MarshalAppend(dst, ToProto(rs))
}

// ParseRecordsProto decodes a protobuf batch with the pageserver's checks:
// next_record_lsn, batch and every key must be present, a Serialized value
// needs batch_offset, len and will_init, and metadata_record must be valid
// bincode.
func ParseRecordsProto(src []byte) (*Records, error) {
	var m interpretedpb.InterpretedWalRecords
	if err := proto.Unmarshal(src, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadProtobuf, err)
	}
	return FromProto(&m)
}

// FromProto converts a decoded protobuf message to the model; see
// ParseRecordsProto for the checks.
func FromProto(m *interpretedpb.InterpretedWalRecords) (*Records, error) {
	if m.NextRecordLsn == nil {
		return nil, fmt.Errorf("%w: next_record_lsn missing", ErrBadProtobuf)
	}
	rs := &Records{NextRecordLSN: pgwal.LSN(*m.NextRecordLsn)}
	if m.RawWalStartLsn != nil {
		rs.RawWALStartLSN = Some(pgwal.LSN(*m.RawWalStartLsn))
	}
	if len(m.Records) > 0 {
		rs.Records = make([]Record, len(m.Records))
	}
	for i, p := range m.Records {
		if err := recordFromProto(p, &rs.Records[i]); err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
	}
	return rs, nil
}

func recordFromProto(p *interpretedpb.InterpretedWalRecord, r *Record) error {
	if p.MetadataRecord != nil {
		md, err := ParseMetadataRecord(p.MetadataRecord)
		if err != nil {
			return err
		}
		r.Metadata = md
	}
	if p.Batch == nil {
		return fmt.Errorf("%w: InterpretedWalRecord::batch missing", ErrBadProtobuf)
	}
	r.Batch = ValueBatch{Raw: p.Batch.Raw, MaxLSN: pgwal.LSN(p.Batch.MaxLsn), Len: p.Batch.Len}
	r.NextRecordLSN, r.FlushUncommitted, r.XID = pgwal.LSN(p.NextRecordLsn), p.FlushUncommitted, p.Xid
	if len(p.Batch.Metadata) > 0 {
		r.Batch.Metadata = make([]ValueMeta, len(p.Batch.Metadata))
	}
	for i, pm := range p.Batch.Metadata {
		v := &r.Batch.Metadata[i]
		if pm.Key == nil {
			return fmt.Errorf("%w: ValueMeta::key missing", ErrBadProtobuf)
		}
		v.Key, v.LSN = shard.CompactKey{High: pm.Key.High, Low: pm.Key.Low}, pgwal.LSN(pm.Lsn)
		switch pm.Type {
		case interpretedpb.ValueMetaType_Observed:
			v.Kind = Observed
		case interpretedpb.ValueMetaType_Serialized:
			if pm.BatchOffset == nil || pm.Len == nil || pm.WillInit == nil {
				return fmt.Errorf("%w: Serialized ValueMeta without batch_offset, len or will_init", ErrBadProtobuf)
			}
			v.BatchOffset, v.Len, v.WillInit = *pm.BatchOffset, *pm.Len, *pm.WillInit
		default:
			return fmt.Errorf("%w: unexpected ValueMeta::type %d", ErrBadProtobuf, pm.Type)
		}
	}
	return nil
}
