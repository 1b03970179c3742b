// Package interpreted builds the safekeeper side of Neon's "interpreted" WAL
// protocol (spec replication.md §6): it turns PostgreSQL WAL records into
// the per-shard InterpretedWalRecords the pageserver ingests.
//
// The pieces, each in its own file:
//   - model.go: Records, Record, ValueBatch, ValueMeta (the logical model, §6.4).
//   - metadata.go, metadata_parse.go: every MetadataRecord variant and its
//     bincode encoding (§6.8).
//   - bincode.go: the whole batch in bincode (BE fixint, §6.6).
//   - proto.go: the whole batch in protobuf (§6.5) via package interpretedpb.
//   - payload.go: format + zstd compression of a batch, and the '0' message.
//   - value.go: page images and WAL-record values inside ValueBatch.Raw (§6.7).
//   - interpret.go, heap.go, xact.go: the record interpreter (§6.9, §6.10).
//   - batcher.go: the per-reader batching algorithm (§6.11) as a pure state
//     machine over WAL chunks, without any network.
//
// Heap layout setting: PostgreSQL 14 and 15 heap records come in two
// layouts. Neon's patched servers add t_cid to xl_heap_delete, xl_heap_update
// and xl_heap_lock, which moves the flags byte that says whether VM bits were
// cleared; upstream PostgreSQL does not. Config.HeapLayout chooses per
// timeline (HeapLayoutNeon, the zero value, for Neon computes;
// HeapLayoutVanilla for upstream PostgreSQL, parsed from "neon"/"vanilla" by
// ParseHeapLayout). A wrong choice fails on the first DELETE or LOCK record
// with ErrBadWAL rather than clearing the wrong bits. PostgreSQL 16 and 17 have
// one layout (Neon logs its variants under RM_NEON_ID).
//
// It decodes WAL with package pgwal and maps keys to shards with package
// shard; it reads no files and owns no connections.
package interpreted
