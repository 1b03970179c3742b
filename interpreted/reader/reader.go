// Package reader decodes what an interpreted-protocol safekeeper sends, the
// way the pageserver does: the '0' CopyData message, zstd decompression, then
// protobuf or bincode into the model of package interpreted, and the values
// inside a batch. It is for tests and tools; it owns no connection.
package reader

import (
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/walkeeper/walkeeper/interpreted"
	"github.com/walkeeper/walkeeper/pgwal"
)

// ErrDecompress: a payload that is not a valid zstd stream, or one that
// inflates beyond MaxPayload.
var ErrDecompress = errors.New("cannot decompress interpreted payload")

// MaxPayload bounds a decompressed payload; a batch comes from at most one
// WAL chunk (128 KiB) whose records may repeat per block, so 1 GiB is far
// beyond anything legitimate.
const MaxPayload = 1 << 30

// Message is one decoded '0' message.
type Message struct {
	StreamingLSN pgwal.LSN
	CommitLSN    pgwal.LSN
	Records      *interpreted.Records
}

// DecodeMessage decodes a whole '0' CopyData message. The result may alias
// msg when the payload is not compressed.
func DecodeMessage(msg []byte, enc interpreted.Encoding) (Message, error) {
	s, c, payload, err := interpreted.ParseMessage(msg)
	if err != nil {
		return Message{}, err
	}
	rs, err := DecodePayload(payload, enc)
	return Message{StreamingLSN: s, CommitLSN: c, Records: rs}, err
}

// DecodePayload decompresses (if negotiated) and deserializes one batch.
func DecodePayload(payload []byte, enc interpreted.Encoding) (*interpreted.Records, error) {
	if enc.Compression.Zstd {
		var err error
		if payload, err = decompress(payload); err != nil {
			return nil, err
		}
	}
	switch enc.Format {
	case interpreted.FormatBincode:
		return interpreted.ParseRecordsBincode(payload)
	case interpreted.FormatProtobuf:
		return interpreted.ParseRecordsProto(payload)
	}
	return nil, fmt.Errorf("unknown interpreted format %d", enc.Format)
}

var decoders = sync.Pool{New: func() any {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxPayload))
	if err != nil {
		panic(fmt.Sprintf("zstd decoder with constant options: %v", err))
	}
	return d
}}

func decompress(src []byte) ([]byte, error) {
	d := decoders.Get().(*zstd.Decoder)
	defer decoders.Put(d)
	out, err := d.DecodeAll(src, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecompress, err)
	}
	return out, nil
}

// Values returns the values of a record's batch in metadata order, with nil
// entries for Observed metadata. It checks that every Serialized value lies
// within Raw, decodes, and has the recorded will_init.
func Values(b *interpreted.ValueBatch) ([]*interpreted.Value, error) {
	out := make([]*interpreted.Value, len(b.Metadata))
	for i, m := range b.Metadata {
		if m.Kind == interpreted.Observed {
			continue
		}
		if m.BatchOffset > uint64(len(b.Raw)) || m.Len > uint64(len(b.Raw))-m.BatchOffset {
			return nil, fmt.Errorf("value %d at %d+%d outside raw of %d bytes", i, m.BatchOffset, m.Len, len(b.Raw))
		}
		v, err := interpreted.ParseValue(b.Raw[m.BatchOffset : m.BatchOffset+m.Len])
		if err != nil {
			return nil, fmt.Errorf("value %d: %w", i, err)
		}
		if v.WillInit != m.WillInit {
			return nil, fmt.Errorf("value %d: will_init %v, metadata says %v", i, v.WillInit, m.WillInit)
		}
		out[i] = &v
	}
	return out, nil
}
