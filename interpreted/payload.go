package interpreted

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/walkeeper/walkeeper/pgwal"
)

// Format is the serialization the reader asked for in its protocol option.
type Format uint8

const (
	FormatProtobuf Format = iota // "protobuf", what the pageserver uses
	FormatBincode                // "bincode"
)

// ParseFormat accepts the protocol option's "protobuf" and "bincode".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "protobuf":
		return FormatProtobuf, nil
	case "bincode":
		return FormatBincode, nil
	}
	return 0, fmt.Errorf("interpreted format %q: want protobuf or bincode", s)
}

func (f Format) String() string {
	if f == FormatBincode {
		return "bincode"
	}
	return "protobuf"
}

// Compression is the compression option: none, or zstd at Level. The zstd
// library has four speeds; levels map onto them as zstd.EncoderLevelFromZstd
// says (1 and 2 are the fastest, what the pageserver asks for).
type Compression struct {
	Zstd  bool
	Level int8 // zstd level as sent by the pageserver (it sends 1)
}

// Encoding is the negotiated payload encoding of one connection.
type Encoding struct {
	Format      Format
	Compression Compression
}

// AppendPayload appends rs serialized and, with zstd, compressed as one
// standard zstd frame (spec §6.3). Batches without records are encoded too.
func (e Encoding) AppendPayload(dst []byte, rs *Records) ([]byte, error) {
	if !e.Compression.Zstd {
		return e.appendSerialized(dst, rs)
	}
	buf := bufPool.Get().(*[]byte)
	defer bufPool.Put(buf)
	raw, err := e.appendSerialized((*buf)[:0], rs)
	if err != nil {
		return dst, err
	}
	*buf = raw
	return zstdEncodeAll(dst, raw, e.Compression.Level), nil
}

func (e Encoding) appendSerialized(dst []byte, rs *Records) ([]byte, error) {
	switch e.Format {
	case FormatBincode:
		return AppendRecordsBincode(dst, rs), nil
	case FormatProtobuf:
		return AppendRecordsProto(dst, rs)
	}
	return dst, fmt.Errorf("unknown interpreted format %d", e.Format)
}

// bufPool holds serialization buffers between encode and compress.
var bufPool = sync.Pool{New: func() any { return new([]byte) }}

// zstdPools holds single-goroutine zstd encoders per klauspost level (the
// library maps zstd levels onto four speeds). Index: zstd.EncoderLevel.
var zstdPools [zstd.SpeedBestCompression + 1]sync.Pool

// AppendZstd appends src compressed as one zstd frame at the given zstd
// level, exactly as AppendPayload compresses a serialized batch (same
// encoder settings, same bytes). Benchmarks use it to time compression
// alone.
func AppendZstd(dst, src []byte, level int8) []byte { return zstdEncodeAll(dst, src, level) }

func zstdEncodeAll(dst, src []byte, level int8) []byte {
	l := zstd.EncoderLevelFromZstd(int(level))
	p := &zstdPools[l]
	enc, _ := p.Get().(*zstd.Encoder)
	if enc == nil {
		var err error
		enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(l), zstd.WithEncoderConcurrency(1),
			zstd.WithLowerEncoderMem(true))
		if err != nil {
			panic(fmt.Sprintf("zstd encoder with constant options: %v", err))
		}
	}
	dst = enc.EncodeAll(src, dst)
	p.Put(enc)
	return dst
}

// MessageTag is the first byte of an interpreted-records CopyData message.
const MessageTag = '0'

// MessageHeaderSize is the size of the '0' message before the payload.
const MessageHeaderSize = 1 + 8 + 8

// AppendMessageHeader appends the header of an interpreted-records message
// (spec §6.2): '0', streaming_lsn (end of the raw WAL the batch came from)
// and commit_lsn (the reader's end of available WAL), both BE u64. The
// payload follows.
func AppendMessageHeader(dst []byte, streamingLSN, commitLSN pgwal.LSN) []byte {
	dst = append(dst, MessageTag)
	return appendU64(appendU64(dst, uint64(streamingLSN)), uint64(commitLSN))
}

// ParseMessage splits an interpreted-records CopyData message; payload
// aliases msg.
func ParseMessage(msg []byte) (streamingLSN, commitLSN pgwal.LSN, payload []byte, err error) {
	if len(msg) < MessageHeaderSize || msg[0] != MessageTag {
		return 0, 0, nil, fmt.Errorf("%w: %d bytes", ErrBadMessage, len(msg))
	}
	return pgwal.LSN(binary.BigEndian.Uint64(msg[1:])), pgwal.LSN(binary.BigEndian.Uint64(msg[9:])), msg[MessageHeaderSize:], nil
}
