package interpreted_test

import (
	"bytes"
	"testing"

	"github.com/walkeeper/walkeeper/interpreted"
	"github.com/walkeeper/walkeeper/interpreted/reader"
	"github.com/walkeeper/walkeeper/interpreted/shard"
	"github.com/walkeeper/walkeeper/pgwal"
)

func recordBytes(r *interpreted.Record) []byte {
	return interpreted.AppendRecordsBincode(nil, &interpreted.Records{Records: []interpreted.Record{*r}})
}

// checkBatcher streams the WAL through a Batcher in 128 KiB chunks with an
// unsharded sender and the four senders of a 4-shard tenant, sends every
// batch through protobuf + zstd and the reader, and checks that each sender
// receives exactly its records, in order, with the §6.11 LSNs.
func checkBatcher(t *testing.T, w *realWAL, recs []interpretedRec) {
	b, err := interpreted.NewBatcher(w.start, interpreted.Config{PGVersion: 15, HeapLayout: interpreted.HeapLayoutVanilla})
	if err != nil {
		t.Fatal(err)
	}
	shards := append([]shard.Identity{shard.Unsharded()}, shardSets()[4]...)
	got := map[interpreted.SenderID][]interpreted.Record{}
	ids := make([]interpreted.SenderID, len(shards))
	for i, s := range shards {
		if ids[i], _, err = b.AddSender(s, w.start); err != nil {
			t.Fatal(err)
		}
	}
	enc := interpreted.Encoding{Format: interpreted.FormatProtobuf, Compression: interpreted.Compression{Zstd: true, Level: 1}}
	prevStreaming := map[interpreted.SenderID]pgwal.LSN{}
	prevNext := map[interpreted.SenderID]pgwal.LSN{}
	wire, raw := 0, 0
	for off := 0; off < len(w.stream); off += pgwal.MaxSendSize {
		end := min(off+pgwal.MaxSendSize, len(w.stream))
		c := interpreted.Chunk{Data: w.stream[off:end], WALStartLSN: w.start + pgwal.LSN(off),
			WALEndLSN: w.start + pgwal.LSN(end), AvailableWALEndLSN: w.end}
		batches, err := b.Process(c)
		if err != nil {
			t.Fatal(err)
		}
		for i := range batches {
			bt := &batches[i]
			msg, err := enc.AppendMessage(nil, bt)
			if err != nil {
				t.Fatal(err)
			}
			m, err := reader.DecodeMessage(msg, enc)
			if err != nil {
				t.Fatal(err)
			}
			gen, _ := interpreted.MarshalRecordsProto(nil, &bt.Records)
			if direct, _ := interpreted.AppendRecordsProto(nil, &bt.Records); !bytes.Equal(gen, direct) {
				t.Fatalf("sender %d: direct protobuf encoding differs from the generated code's", bt.Sender)
			}
			wire += len(msg)
			raw += len(interpreted.AppendRecordsBincode(nil, &bt.Records))
			if m.StreamingLSN != c.WALEndLSN || m.CommitLSN != w.end ||
				!bytes.Equal(interpreted.AppendRecordsBincode(nil, m.Records), interpreted.AppendRecordsBincode(nil, &bt.Records)) {
				t.Fatalf("sender %d: batch changed on the wire", bt.Sender)
			}
			rs := m.Records
			expect, seen := prevStreaming[bt.Sender], prevStreaming[bt.Sender] != 0
			if !seen {
				expect = w.start
			}
			if !rs.RawWALStartLSN.Valid || rs.RawWALStartLSN.Value > expect || rs.NextRecordLSN < prevNext[bt.Sender] {
				t.Fatalf("sender %d: raw start %v after streaming %s, next %s after %s", bt.Sender, rs.RawWALStartLSN, expect, rs.NextRecordLSN, prevNext[bt.Sender])
			}
			prevStreaming[bt.Sender], prevNext[bt.Sender] = m.StreamingLSN, rs.NextRecordLSN
			got[bt.Sender] = append(got[bt.Sender], rs.Records...)
		}
	}
	for si, s := range shards {
		var want []*interpreted.Record
		for i := range recs {
			r := &recs[i].unsharded
			if s.Count == 4 {
				r = &recs[i].sharded[4][s.Number]
			}
			if s.IsShardZero() || !r.IsEmpty() {
				want = append(want, r)
			}
		}
		g := got[ids[si]]
		if len(g) != len(want) {
			t.Fatalf("shard %s: %d records, want %d", s, len(g), len(want))
		}
		for i := range g {
			if !bytes.Equal(recordBytes(&g[i]), recordBytes(want[i])) {
				t.Fatalf("shard %s: record %d (next %s) differs", s, i, want[i].NextRecordLSN)
			}
		}
		t.Logf("shard %s: %d records", s, len(g))
	}
	t.Logf("protobuf+zstd level 1: %d bytes on the wire for %d bytes of bincode", wire, raw)
}
