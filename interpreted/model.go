package interpreted

import (
	"github.com/walkeeper/walkeeper/interpreted/shard"
	"github.com/walkeeper/walkeeper/pgwal"
)

// Option mirrors Rust's Option<T>, which the wire formats distinguish from a
// zero value.
type Option[T any] struct {
	Value T
	Valid bool
}

// Some returns a present Option.
func Some[T any](v T) Option[T] { return Option[T]{Value: v, Valid: true} }

// Records mirrors InterpretedWalRecords: one batch for one shard.
type Records struct {
	// Records for this shard, ordered by LSN.
	Records []Record
	// NextRecordLSN is the start of the next PostgreSQL record after the
	// batch (of any shard). Always sent.
	NextRecordLSN pgwal.LSN
	// RawWALStartLSN is the inclusive start of the raw WAL the batch was
	// built from; the safekeeper always sets it.
	RawWALStartLSN Option[pgwal.LSN]
}

// Record mirrors InterpretedWalRecord: what one WAL record means to one
// shard.
type Record struct {
	Metadata MetadataRecord // nil when the record has none for this shard
	Batch    ValueBatch
	// NextRecordLSN is the aligned end of this record (start of the next);
	// after XLOG_SWITCH the next segment's start.
	NextRecordLSN pgwal.LSN
	// FlushUncommitted is FlushUncommittedRecords::Yes: set for file-copy
	// CREATE DATABASE, before which the pageserver commits.
	FlushUncommitted bool
	XID              uint32 // xl_xid
}

// IsEmpty reports a record that carries nothing for its shard: no values, no
// observed blocks, no metadata, no flush. Only shard 0 receives those.
func (r *Record) IsEmpty() bool {
	return len(r.Batch.Raw) == 0 && len(r.Batch.Metadata) == 0 && r.Metadata == nil && !r.FlushUncommitted
}

// ValueBatch mirrors SerializedValueBatch.
type ValueBatch struct {
	Raw      []byte      // concatenated bincode Values (see AppendImageValue)
	Metadata []ValueMeta // one per (key, lsn), in block order of the record
	MaxLSN   pgwal.LSN   // max LSN of the Serialized values, 0 if none
	Len      uint64      // number of Serialized values
}

// ValueMetaKind is the ValueMeta variant (bincode index, protobuf enum).
type ValueMetaKind uint32

const (
	// Serialized: the value is in Raw at BatchOffset.
	Serialized ValueMetaKind = 0
	// Observed: shard 0 sees a block it does not store, to track sizes.
	Observed ValueMetaKind = 1
)

// ValueMeta mirrors ValueMeta: Serialized{key, lsn, batch_offset, len,
// will_init} or Observed{key, lsn}. BatchOffset, Len and WillInit are zero
// for Observed.
type ValueMeta struct {
	Kind        ValueMetaKind
	Key         shard.CompactKey
	LSN         pgwal.LSN
	BatchOffset uint64
	Len         uint64
	WillInit    bool
}
