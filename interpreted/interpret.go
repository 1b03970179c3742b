package interpreted

import (
	"fmt"

	"github.com/walkeeper/walkeeper/interpreted/shard"
	"github.com/walkeeper/walkeeper/pgwal"
)

// Config is what the interpreter needs to know about a timeline's WAL.
type Config struct {
	// PGVersion is PG_VERSION_NUM (150004) or a major version (15); 14–17.
	PGVersion uint32
	// HeapLayout matters for PostgreSQL 14/15 only; the zero value is Neon's.
	HeapLayout HeapLayout
}

// Interpreter turns whole WAL records into per-shard Records (spec §6.9,
// §6.10). It reuses internal buffers: not safe for concurrent use.
type Interpreter struct {
	major  uint32
	layout HeapLayout
	dec    pgwal.DecodedRecord
	keys   []shard.Key
	ckeys  []shard.CompactKey
	// rawSlab and metaSlab are what results' Batch.Raw and Batch.Metadata
	// are cut from: one allocation for many records instead of two per
	// record. A part once handed out is never written again, so results
	// stay valid however long they are kept.
	rawSlab  []byte
	metaSlab []ValueMeta
}

// Slab sizes: a value larger than a quarter of rawSlabSize gets its own
// allocation, so that a slab wastes little when it runs out.
const (
	rawSlabSize = 64 << 10
	metaSlabLen = 1024
)

// allocRaw returns an empty slice with capacity n for a Batch.Raw.
func (in *Interpreter) allocRaw(n int) []byte {
	if n == 0 || n > rawSlabSize/4 {
		return make([]byte, 0, n)
	}
	if cap(in.rawSlab)-len(in.rawSlab) < n {
		in.rawSlab = make([]byte, 0, rawSlabSize)
	}
	l := len(in.rawSlab)
	in.rawSlab = in.rawSlab[:l+n]
	return in.rawSlab[l:l:(l + n)]
}

// allocMeta returns an empty slice with capacity n for a Batch.Metadata.
func (in *Interpreter) allocMeta(n int) []ValueMeta {
	if n > metaSlabLen/4 {
		return make([]ValueMeta, 0, n)
	}
	if cap(in.metaSlab)-len(in.metaSlab) < n {
		in.metaSlab = make([]ValueMeta, 0, metaSlabLen)
	}
	l := len(in.metaSlab)
	in.metaSlab = in.metaSlab[:l+n]
	return in.metaSlab[l:l:(l + n)]
}

// NewInterpreter checks the configuration.
func NewInterpreter(cfg Config) (*Interpreter, error) {
	major := pgwal.MajorVersion(cfg.PGVersion)
	if major < 14 || major > 17 {
		return nil, fmt.Errorf("%w: PostgreSQL version %d", pgwal.ErrUnsupportedVersion, cfg.PGVersion)
	}
	if cfg.HeapLayout > HeapLayoutVanilla {
		return nil, fmt.Errorf("heap layout %d", cfg.HeapLayout)
	}
	return &Interpreter{major: major, layout: cfg.HeapLayout}, nil
}

// Interpret interprets one whole record (header included, as
// pgwal.Record.Data) whose next record starts at next, for every shard:
// out[i] (appended to out[:0]) belongs to shards[i]. The results copy what
// they need from rec and stay valid after rec is reused. Empty records are
// returned too; the caller sends them to shard 0 only.
func (in *Interpreter) Interpret(out []Record, rec []byte, next pgwal.LSN, shards []shard.Identity) ([]Record, error) {
	out = out[:0]
	d := &in.dec
	if err := d.Decode(rec, in.major); err != nil {
		return out, fmt.Errorf("%w: %w", ErrBadWAL, err)
	}
	md, err := in.metadata(next)
	if err != nil {
		return out, err
	}
	if err := in.blockKeys(next); err != nil {
		return out, err
	}
	flush := in.isDbaseCreateCopy()
	for _, s := range shards {
		r := Record{NextRecordLSN: next, FlushUncommitted: flush, XID: d.Header.XID}
		r.Metadata = routeMetadata(md, s)
		if err := in.appendBlocks(&r.Batch, s, next); err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// routeMetadata picks the metadata record shard s receives (spec §6.10).
func routeMetadata(md MetadataRecord, s shard.Identity) MetadataRecord {
	switch m := md.(type) {
	case nil:
		return nil
	case *ClearVMBits:
		if c := m.forShard(s); c != nil {
			return c
		}
		return nil
	case *LogicalMessagePut:
		if !s.IsShardZero() {
			return nil
		}
	}
	return md
}

// blockKeys computes the key of every block reference, failing like the
// reference on keys the pageserver cannot store.
func (in *Interpreter) blockKeys(next pgwal.LSN) error {
	in.keys, in.ckeys = in.keys[:0], in.ckeys[:0]
	for i := range in.dec.Blocks {
		b := &in.dec.Blocks[i]
		k := shard.RelBlockKey(b.Rel.SpcNode, b.Rel.DBNode, b.Rel.RelNode, b.ForkNum, b.BlkNo)
		c, err := k.Compact()
		if err != nil {
			return fmt.Errorf("%w at LSN %s: %w", ErrBadWAL, next, err)
		}
		in.keys, in.ckeys = append(in.keys, k), append(in.ckeys, c)
	}
	return nil
}

// isImage reports whether block b becomes a page image rather than a copy of
// the record: an applicable, uncompressed, non-empty image in an XLOG FPI or
// FPI_FOR_HINT record (xl_info compared whole).
func (in *Interpreter) isImage(b *pgwal.DecodedBkpBlock) bool {
	h := in.dec.Header
	return b.HasImage && b.ApplyImage && h.RMID == pgwal.RMXLogID &&
		(h.Info == xlogFPI || h.Info == xlogFPIForHint) && !b.Compressed && b.BimgLen != 0
}

// appendBlocks fills shard s's batch: a value per local block, an Observed
// entry per other block on shard 0 (it tracks relation sizes).
func (in *Interpreter) appendBlocks(batch *ValueBatch, s shard.Identity, next pgwal.LSN) error {
	d := &in.dec
	size, n := 0, 0
	for i := range d.Blocks {
		if s.IsKeyLocal(in.keys[i]) {
			if in.isImage(&d.Blocks[i]) {
				size += ImageValueSize
			} else {
				size += walRecordValueOverhead + len(d.Record)
			}
			n++
		} else if s.IsShardZero() {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	batch.Raw = in.allocRaw(size)
	batch.Metadata = in.allocMeta(n)
	for i := range d.Blocks {
		b := &d.Blocks[i]
		if !s.IsKeyLocal(in.keys[i]) {
			if s.IsShardZero() {
				batch.Metadata = append(batch.Metadata, ValueMeta{Kind: Observed, Key: in.ckeys[i], LSN: next})
			}
			continue
		}
		off := len(batch.Raw)
		willInit := true
		if in.isImage(b) {
			var err error
			if batch.Raw, err = appendPageImage(batch.Raw, b, next); err != nil {
				return err
			}
		} else {
			willInit = b.WillInit() || b.ApplyImage
			batch.Raw = AppendWalRecordValue(batch.Raw, willInit, d.Record)
		}
		batch.Metadata = append(batch.Metadata, ValueMeta{Kind: Serialized, Key: in.ckeys[i], LSN: next,
			BatchOffset: uint64(off), Len: uint64(len(batch.Raw) - off), WillInit: willInit})
		batch.MaxLSN = max(batch.MaxLSN, next)
		batch.Len++
	}
	return nil
}
