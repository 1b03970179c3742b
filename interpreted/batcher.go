package interpreted

import (
	"fmt"
	"slices"

	"github.com/walkeeper/walkeeper/interpreted/shard"
	"github.com/walkeeper/walkeeper/pgwal"
)

// Chunk is one piece of raw WAL from the streaming WAL reader (spec §6.11):
// Data covers [WALStartLSN, WALEndLSN); AvailableWALEndLSN is the end of
// available WAL as of the reader's last wait.
type Chunk struct {
	Data               []byte
	WALStartLSN        pgwal.LSN
	WALEndLSN          pgwal.LSN
	AvailableWALEndLSN pgwal.LSN
}

// SenderID names one subscriber of a Batcher.
type SenderID uint64

// Batch is what one sender is to send for one chunk: an interpreted-records
// message with streaming_lsn = WALEndLSN and commit_lsn = AvailableWALEndLSN.
type Batch struct {
	Sender             SenderID
	Shard              shard.Identity
	Records            Records
	WALEndLSN          pgwal.LSN
	AvailableWALEndLSN pgwal.LSN
}

// AppendMessage appends b as a complete '0' message.
func (e Encoding) AppendMessage(dst []byte, b *Batch) ([]byte, error) {
	return e.AppendPayload(AppendMessageHeader(dst, b.WALEndLSN, b.AvailableWALEndLSN), &b.Records)
}

type senderState struct {
	id      SenderID
	shard   shard.Identity
	next    pgwal.LSN // next_record_lsn: records ending at or before it are not resent
	pending []Record
	// lastLen is the length of the last batch handed out, the capacity a
	// new pending starts with (it is handed out, so never reused).
	lastLen int
}

// Batcher is the interpreted WAL reader's state machine (spec §6.11, with
// the attach rules of §6.12) without any I/O: it is fed raw WAL chunks and
// returns, per sender, the batch to send. Several senders, of one or more
// shards, can share it (fan-out). Not safe for concurrent use.
type Batcher struct {
	cfg        Config
	interp     *Interpreter
	dec        *pgwal.Decoder
	senders    []*senderState
	shards     []shard.Identity // distinct shards of senders
	lastID     SenderID
	position   pgwal.LSN         // current_position: last decoded record boundary
	batchStart Option[pgwal.LSN] // current_batch_wal_start
	scratch    []Record
}

// NewBatcher starts a reader at start, a record start as normalised by the
// pageserver (§6.1).
func NewBatcher(start pgwal.LSN, cfg Config) (*Batcher, error) {
	in, err := NewInterpreter(cfg)
	if err != nil {
		return nil, err
	}
	return &Batcher{cfg: cfg, interp: in, dec: pgwal.NewDecoder(start, cfg.PGVersion), position: start}, nil
}

// Position is current_position: the record boundary the reader has reached,
// which decides whether a new shard may attach (§6.12).
func (b *Batcher) Position() pgwal.LSN { return b.position }

// AddSender attaches a sender for shard s that has everything before start.
// If start is behind the reader, the reader resets to start (fresh decoder,
// pending batch start cleared): reset is true and the caller must restart
// the raw WAL stream at start, discarding chunks in flight. Existing senders
// are protected from duplicates by their own next_record_lsn.
func (b *Batcher) AddSender(s shard.Identity, start pgwal.LSN) (id SenderID, reset bool, err error) {
	if err := s.Validate(); err != nil {
		return 0, false, err
	}
	b.lastID++
	b.senders = append(b.senders, &senderState{id: b.lastID, shard: s, next: start})
	if !slices.Contains(b.shards, s) {
		b.shards = append(b.shards, s)
	}
	if start < b.position {
		b.position = start
		b.batchStart = Option[pgwal.LSN]{}
		b.dec = pgwal.NewDecoder(start, b.cfg.PGVersion)
		return b.lastID, true, nil
	}
	if b.batchStart.Valid && start < b.batchStart.Value {
		b.batchStart.Value = start
	}
	return b.lastID, false, nil
}

// RemoveSender detaches a sender (its receiver is gone).
func (b *Batcher) RemoveSender(id SenderID) {
	b.senders = slices.DeleteFunc(b.senders, func(s *senderState) bool { return s.id == id })
	b.shards = b.shards[:0]
	for _, s := range b.senders {
		if !slices.Contains(b.shards, s.shard) {
			b.shards = append(b.shards, s.shard)
		}
	}
}

// Senders returns the number of attached senders.
func (b *Batcher) Senders() int { return len(b.senders) }

// Process feeds one chunk and returns the batches to send, in sender order.
// It assumes every batch is delivered: the caller removes a sender whose
// receiver is gone. An error (corrupt WAL, a record the interpreter refuses)
// is fatal for the reader.
func (b *Batcher) Process(c Chunk) ([]Batch, error) {
	if !b.batchStart.Valid {
		b.batchStart = Some(c.WALStartLSN)
	}
	b.dec.Feed(c.Data)
	var maxNext, maxEnd pgwal.LSN
	decoded := false
	for {
		rec, ok, err := b.dec.Next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		decoded, maxNext, maxEnd = true, rec.NextLSN, rec.EndLSN
		b.scratch, err = b.interp.Interpret(b.scratch, rec.Data, rec.NextLSN, b.shards)
		if err != nil {
			return nil, fmt.Errorf("interpret record at %s: %w", rec.StartLSN, err)
		}
		for i, s := range b.shards {
			r := &b.scratch[i]
			if !s.IsShardZero() && r.IsEmpty() {
				continue
			}
			for _, st := range b.senders {
				if st.shard == s && st.next < r.NextRecordLSN {
					if st.pending == nil {
						st.pending = make([]Record, 0, max(st.lastLen, 16))
					}
					st.pending = append(st.pending, *r)
				}
			}
		}
	}
	if !decoded {
		return nil, nil
	}
	b.position = maxNext
	rawStart := b.batchStart.Value
	b.batchStart = Some(maxEnd)
	out := make([]Batch, 0, len(b.senders))
	for _, st := range b.senders {
		batch := Batch{Sender: st.id, Shard: st.shard, WALEndLSN: c.WALEndLSN, AvailableWALEndLSN: c.AvailableWALEndLSN,
			Records: Records{RawWALStartLSN: Some(rawStart)}}
		switch {
		case maxNext > st.next:
			batch.Records.Records, batch.Records.NextRecordLSN = st.pending, maxNext
		case c.WALEndLSN > st.next:
			batch.Records.NextRecordLSN = st.next
		default:
			continue
		}
		st.lastLen, st.pending = len(st.pending), nil
		st.next = max(st.next, maxNext)
		out = append(out, batch)
	}
	return out, nil
}
