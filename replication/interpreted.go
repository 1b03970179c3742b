package replication

import (
	"context"
	"errors"
	"fmt"

	"github.com/walkeeper/walkeeper/interpreted"
	"github.com/walkeeper/walkeeper/interpreted/shard"
	"github.com/walkeeper/walkeeper/pgwal"
)

// ErrInterpretedReader is what the client is told when the interpreted WAL
// reader fails (decode or interpretation error): as in Neon, the stream ends
// with a generic message and the cause is only logged (replication.md §10).
var ErrInterpretedReader = errors.New("Interpreted WAL reader exited early") //nolint:staticcheck // Neon's wire text

// InterpretedConfig is what an interpreted START_REPLICATION adds to Config
// (replication.md §6): the shard the client serves and how batches are
// encoded.
type InterpretedConfig struct {
	Shard    shard.Identity
	Encoding interpreted.Encoding
	// Interp is the timeline's PostgreSQL version and heap layout.
	Interp interpreted.Config
	// Hub, if set, shares one reader between the shards of a timeline
	// (--wal-reader-fanout, §6.12). It applies to Commit-mode streams of
	// sharded clients (Shard.Count ≠ 0); others get a private reader.
	Hub *ReaderHub
	// HubContext bounds a shared reader's life: the timeline's context.
	HubContext context.Context
}

func (ic *InterpretedConfig) fanout(cfg *Config) bool {
	return ic.Hub != nil && ic.HubContext != nil && cfg.Command.Mode() == ModeCommit && ic.Shard.Count != 0
}

// ServeInterpreted runs one interpreted START_REPLICATION stream: like
// Serve (same registry slot, reply reader, stop rule and terminal
// messages), but instead of XLogData it decodes the WAL, interprets it for
// ic.Shard and sends '0' messages (§6.2, §6.11). A keepalive goes out
// after each idle period without a '0'. cfg.Info.Kind should be
// KindInterpreted with the shard filled in.
func ServeInterpreted(ctx context.Context, cfg Config, ic InterpretedConfig, stream Stream) error {
	return serve(ctx, cfg, stream, &ic)
}

// interpState is the private reader of one interpreted stream: a Batcher
// with one sender, and the buffer the '0' messages are built in.
type interpState struct {
	enc     interpreted.Encoding
	batcher *interpreted.Batcher
	msg     []byte
}

func newInterpState(ic InterpretedConfig, start pgwal.LSN) (*interpState, error) {
	b, err := interpreted.NewBatcher(start, ic.Interp)
	if err != nil {
		return nil, fmt.Errorf("interpreted reader: %w", err)
	}
	if _, _, err := b.AddSender(ic.Shard, start); err != nil {
		return nil, fmt.Errorf("interpreted reader: %w", err)
	}
	return &interpState{enc: ic.Encoding, batcher: b}, nil
}

// sendInterpreted reads one chunk, feeds it to the Batcher and sends the
// batch it yields, if any (§6.11 steps 1–5). commit_lsn in the message is
// end, the end of WAL as of the last wait (§9 item 5).
func (s *sender) sendInterpreted(end pgwal.LSN) *endReason {
	n, r := s.readChunk(end)
	if r != nil {
		return r
	}
	st := s.interp
	batches, err := st.batcher.Process(interpreted.Chunk{
		Data: s.data[:n], WALStartLSN: s.pos, WALEndLSN: s.pos + pgwal.LSN(n), AvailableWALEndLSN: end})
	if err != nil {
		s.cfg.Logger.Error("interpreted WAL reader failed", "lsn", s.pos, "err", err)
		return &endReason{kind: endError, sqlstate: SQLStateInternal, msg: ErrInterpretedReader.Error(),
			err: fmt.Errorf("%w: %w", ErrInterpretedReader, err)}
	}
	s.pos += pgwal.LSN(n)
	for i := range batches {
		st.msg, err = st.enc.AppendMessage(st.msg[:0], &batches[i])
		if err != nil {
			return internalError(fmt.Errorf("encode interpreted batch: %w", err))
		}
		if err := s.out.send(st.msg); err != nil {
			return &endReason{kind: endSilent, err: err}
		}
	}
	return nil
}
