package replication

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/walkeeper/walkeeper/pgwal"
)

// Tags of the CopyData payloads of a physical replication stream.
const (
	TagXLogData           = 'w' // server → client: WAL bytes
	TagKeepalive          = 'k' // server → client: primary keepalive
	TagStandbyReply       = 'r' // client → server: standby status update
	TagHotStandbyFeedback = 'h' // client → server: hot standby feedback
	TagPageserverFeedback = 'z' // client → server: Neon pageserver feedback
)

// Sizes of the fixed-length messages, tag included.
const (
	XLogDataHeaderSize     = 1 + 8 + 8 + 8
	KeepaliveSize          = 1 + 8 + 8 + 1
	StandbyReplySize       = 1 + 8 + 8 + 8 + 8 + 1
	HotStandbyFeedbackSize = 1 + 8 + 4 + 4 + 4 + 4
	// pageserverFeedbackPrefix is the tag and the u64 length the server skips.
	pageserverFeedbackPrefix = 1 + 8
)

// pgEpochUnix is 2000-01-01 00:00:00 UTC in Unix seconds.
const pgEpochUnix = 946684800

// PGTimestamp converts t to a PostgreSQL TimestampTz (microseconds since
// 2000-01-01 UTC).
func PGTimestamp(t time.Time) int64 {
	return t.UnixMicro() - pgEpochUnix*1_000_000
}

// TimeFromPG converts a PostgreSQL TimestampTz to a time.Time in UTC.
func TimeFromPG(ts int64) time.Time {
	return time.UnixMicro(ts + pgEpochUnix*1_000_000).UTC()
}

// XLogDataHeader is the header of a 'w' message (PostgreSQL's XLogData in
// protocol-replication; walsender.c XLogSendPhysical).
type XLogDataHeader struct {
	WALStart pgwal.LSN // LSN of the first data byte
	WALEnd   pgwal.LSN // the server's current end of WAL (end_pos)
	SendTime int64     // PG timestamp when sent
}

// AppendXLogData appends a complete 'w' payload: header then data.
func AppendXLogData(dst []byte, h XLogDataHeader, data []byte) []byte {
	dst = appendXLogDataHeader(dst, h)
	return append(dst, data...)
}

func appendXLogDataHeader(dst []byte, h XLogDataHeader) []byte {
	dst = append(dst, TagXLogData)
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.WALStart))
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.WALEnd))
	return binary.BigEndian.AppendUint64(dst, uint64(h.SendTime))
}

// putXLogDataHeader writes the header into the first XLogDataHeaderSize
// bytes of dst, so WAL can be read straight behind it.
func putXLogDataHeader(dst []byte, h XLogDataHeader) {
	dst[0] = TagXLogData
	binary.BigEndian.PutUint64(dst[1:], uint64(h.WALStart))
	binary.BigEndian.PutUint64(dst[9:], uint64(h.WALEnd))
	binary.BigEndian.PutUint64(dst[17:], uint64(h.SendTime))
}

// ParseXLogData parses a 'w' payload. The returned data aliases src.
func ParseXLogData(src []byte) (XLogDataHeader, []byte, error) {
	if len(src) < XLogDataHeaderSize || src[0] != TagXLogData {
		return XLogDataHeader{}, nil, fmt.Errorf("%w: XLogData of %d bytes", ErrMalformed, len(src))
	}
	h := XLogDataHeader{
		WALStart: pgwal.LSN(binary.BigEndian.Uint64(src[1:])),
		WALEnd:   pgwal.LSN(binary.BigEndian.Uint64(src[9:])),
		SendTime: int64(binary.BigEndian.Uint64(src[17:])),
	}
	return h, src[XLogDataHeaderSize:], nil
}

// Keepalive is a 'k' message (PostgreSQL's Primary keepalive message).
// The safekeeper always sets ReplyRequested.
type Keepalive struct {
	WALEnd         pgwal.LSN
	SendTime       int64
	ReplyRequested bool
}

// AppendKeepalive appends a 'k' payload.
func AppendKeepalive(dst []byte, k Keepalive) []byte {
	dst = append(dst, TagKeepalive)
	dst = binary.BigEndian.AppendUint64(dst, uint64(k.WALEnd))
	dst = binary.BigEndian.AppendUint64(dst, uint64(k.SendTime))
	return append(dst, b2u8(k.ReplyRequested))
}

// ParseKeepalive parses a 'k' payload of exactly KeepaliveSize bytes.
func ParseKeepalive(src []byte) (Keepalive, error) {
	if len(src) != KeepaliveSize || src[0] != TagKeepalive || src[17] > 1 {
		return Keepalive{}, fmt.Errorf("%w: keepalive of %d bytes", ErrMalformed, len(src))
	}
	return Keepalive{
		WALEnd:         pgwal.LSN(binary.BigEndian.Uint64(src[1:])),
		SendTime:       int64(binary.BigEndian.Uint64(src[9:])),
		ReplyRequested: src[17] == 1,
	}, nil
}

func b2u8(b bool) byte {
	if b {
		return 1
	}
	return 0
}
