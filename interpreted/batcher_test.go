package interpreted

import (
	"testing"

	"github.com/walkeeper/walkeeper/interpreted/shard"
	"github.com/walkeeper/walkeeper/pgwal"
)

// walStream encodes records as WAL starting at a segment start.
type walStream struct {
	enc    *pgwal.Encoder
	data   []byte
	starts []pgwal.LSN
}

func newWALStream(start pgwal.LSN) *walStream {
	return &walStream{enc: pgwal.NewEncoder(start, 15, 1)}
}

func (w *walStream) add(rec []byte) {
	h, _ := pgwal.ParseXLogRecord(rec)
	var s pgwal.LSN
	w.data, s = w.enc.AppendRecord(w.data, h.RMID, h.Info, h.XID, rec[pgwal.SizeOfXLogRecord:])
	w.starts = append(w.starts, s)
}

func TestBatcher(t *testing.T) {
	const start = pgwal.LSN(0x1000000)
	w := newWALStream(start)
	s0, s3 := shard.Identity{Number: 0, Count: 4, StripeSize: 2048}, shard.Identity{Number: 3, Count: 4, StripeSize: 2048}
	w.add(buildRecord(11, 0, 0, []testBlock{{rel: testRel, blkno: 2048, data: []byte{1}}}, 0, nil)) // shard 3's block
	w.add(buildRecord(8, 0x00, 0, nil, 0, le(uint32(0))))                                           // standby lock: empty
	w.add(buildRecord(1, 0x00, 9, nil, 0, le(int64(1))))                                            // commit: everyone
	end1 := w.enc.LSN()
	w.add(buildRecord(21, 0, 0, nil, 0, le(uint32(5), uint32(0), uint64(2), uint64(3000), "p\x00", make([]byte, 3000))))
	end2 := w.enc.LSN()

	b, err := NewBatcher(start, Config{PGVersion: 15, HeapLayout: HeapLayoutVanilla})
	if err != nil {
		t.Fatal(err)
	}
	id0, _, _ := b.AddSender(s0, start)
	id3, _, _ := b.AddSender(s3, start)
	idU, _, _ := b.AddSender(shard.Unsharded(), start)

	first := int(end1 - start)
	batches, err := b.Process(Chunk{Data: w.data[:first], WALStartLSN: start, WALEndLSN: end1, AvailableWALEndLSN: end2})
	if err != nil {
		t.Fatal(err)
	}
	if len(batches) != 3 {
		t.Fatalf("%d batches", len(batches))
	}
	end3 := w.starts[2] + 24 + 2 + 8 // commit record: header, main data header, xact_time
	next3 := end3.Align8()
	nrec := map[SenderID]int{id0: 3, id3: 2, idU: 3}
	for _, bt := range batches {
		rs := bt.Records
		if len(rs.Records) != nrec[bt.Sender] || rs.NextRecordLSN != next3 || rs.RawWALStartLSN != Some(start) ||
			bt.WALEndLSN != end1 || bt.AvailableWALEndLSN != end2 {
			t.Fatalf("sender %d: %d records, next %s, raw start %v, wal end %s", bt.Sender, len(rs.Records), rs.NextRecordLSN, rs.RawWALStartLSN, bt.WALEndLSN)
		}
		for i := 1; i < len(rs.Records); i++ {
			if rs.Records[i].NextRecordLSN <= rs.Records[i-1].NextRecordLSN {
				t.Fatalf("sender %d: records out of order", bt.Sender)
			}
		}
	}
	if b.Position() != next3 {
		t.Fatalf("position %s, want %s", b.Position(), next3)
	}

	// Half of the logical message: nothing to send yet.
	mid := first + (len(w.data)-first)/2
	batches, err = b.Process(Chunk{Data: w.data[first:mid], WALStartLSN: end1, WALEndLSN: start + pgwal.LSN(mid), AvailableWALEndLSN: end2})
	if err != nil || batches != nil {
		t.Fatalf("partial record: %v, %v", batches, err)
	}
	batches, err = b.Process(Chunk{Data: w.data[mid:], WALStartLSN: start + pgwal.LSN(mid), WALEndLSN: end2, AvailableWALEndLSN: end2})
	if err != nil || len(batches) != 3 {
		t.Fatalf("rest: %d batches, %v", len(batches), err)
	}
	for _, bt := range batches {
		// raw_wal_start_lsn is the unaligned end of the previous batch's last record.
		if got := bt.Records.RawWALStartLSN.Value; got != end3 {
			t.Fatalf("raw start %s", got)
		}
		if bt.Records.NextRecordLSN != end2.Align8() {
			t.Fatalf("next %s, want %s", bt.Records.NextRecordLSN, end2.Align8())
		}
		// The message without a "neon-file:" prefix is empty: shard 0 only.
		if n := len(bt.Records.Records); n != map[SenderID]int{id0: 1, id3: 0, idU: 1}[bt.Sender] {
			t.Fatalf("sender %d got %d records", bt.Sender, n)
		}
	}

	// A sender attaching behind the reader resets it; replaying the stream
	// resends nothing to the others but tells them about the chunk.
	idLate, reset, err := b.AddSender(s3, start)
	if err != nil || !reset || b.Position() != start {
		t.Fatalf("late attach: reset %v position %s err %v", reset, b.Position(), err)
	}
	b.RemoveSender(idU)
	batches, err = b.Process(Chunk{Data: w.data, WALStartLSN: start, WALEndLSN: end2.Align8() + 8, AvailableWALEndLSN: end2})
	if err != nil {
		t.Fatal(err)
	}
	if len(batches) != 3 {
		t.Fatalf("replay: %d batches", len(batches))
	}
	for _, bt := range batches {
		rs := bt.Records
		switch bt.Sender {
		case idLate:
			if len(rs.Records) != 2 || rs.NextRecordLSN != end2.Align8() {
				t.Fatalf("late sender: %d records next %s", len(rs.Records), rs.NextRecordLSN)
			}
		case id0, id3:
			if len(rs.Records) != 0 || rs.NextRecordLSN != end2.Align8() || rs.RawWALStartLSN != Some(start) {
				t.Fatalf("sender %d on replay: %d records next %s", bt.Sender, len(rs.Records), rs.NextRecordLSN)
			}
		default:
			t.Fatalf("batch for removed sender %d", bt.Sender)
		}
	}
	if _, _, err := b.AddSender(shard.Identity{Number: 1, Count: 4}, start); err == nil {
		t.Fatal("stripe 0 accepted")
	}
}
