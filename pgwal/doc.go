// Package pgwal owns the facts of PostgreSQL's write-ahead log format that
// walkeeper relies on: LSNs, segment sizes and file names, page headers,
// record headers and the streaming decoder that finds record boundaries.
//
// The main pieces:
//   - Decoder (decoder.go): fed WAL bytes in any chunking, returns whole,
//     CRC-checked records with their start, end and record-aligned next LSN;
//     replication uses it for the interpreted protocol.
//   - BoundaryDecoder (boundary.go): the same state machine and checks for
//     callers that need record ends only (walstore, for flush_record_lsn
//     and end-of-WAL recovery); it reads fed bytes in place and CRCs a
//     record piece by piece instead of reassembling it.
//   - DecodeRecord (decoderecord.go): block references and main data.
//   - AppendSegmentPrefix (prefix.go): the synthetic bytes before a
//     timeline's first LSN in its first segment.
//   - Encoder (encoder.go): writes valid WAL for tests and benchmarks.
//
// Per-version constants (XLOG_PAGE_MAGIC, bimg_info bits) are chosen by
// functions of the PostgreSQL version, never by mutable package variables.
//
// It knows nothing about files, networks or consensus; walstore, acceptor and
// replication build on it. Structs mirror PostgreSQL's C structs one to one
// and name them in their doc comments.
package pgwal
