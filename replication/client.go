package replication

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"

	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
)

var (
	// ErrMalformed is returned for a message of a known type that does not
	// parse. From a client it ends the stream with SQLSTATE XX000.
	ErrMalformed = errors.New("replication: malformed message")
	// ErrUnknownMessage is returned for an empty CopyData or an unknown tag;
	// the stream logs a warning and carries on.
	ErrUnknownMessage = errors.New("replication: unknown client message")
)

// StandbyReply is the 'r' standby status update (walreceiver.c
// XLogWalRcvSendReply; Neon safekeeper_api StandbyReply). JSON names are
// Neon's.
type StandbyReply struct {
	WriteLSN       pgwal.LSN `json:"write_lsn"`
	FlushLSN       pgwal.LSN `json:"flush_lsn"`
	ApplyLSN       pgwal.LSN `json:"apply_lsn"`
	ReplyTS        int64     `json:"reply_ts"` // PG timestamp
	ReplyRequested bool      `json:"reply_requested"`
}

// AppendStandbyReply appends an 'r' payload.
func AppendStandbyReply(dst []byte, r StandbyReply) []byte {
	dst = append(dst, TagStandbyReply)
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.WriteLSN))
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.FlushLSN))
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.ApplyLSN))
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.ReplyTS))
	return append(dst, b2u8(r.ReplyRequested))
}

// ParseStandbyReply parses an 'r' payload. It must be exactly
// StandbyReplySize bytes and reply_requested must be 0 or 1.
func ParseStandbyReply(src []byte) (StandbyReply, error) {
	if len(src) != StandbyReplySize || src[0] != TagStandbyReply {
		return StandbyReply{}, fmt.Errorf("%w: StandbyReply of %d bytes, want %d", ErrMalformed, len(src), StandbyReplySize)
	}
	if src[33] > 1 {
		return StandbyReply{}, fmt.Errorf("%w: StandbyReply reply_requested %d", ErrMalformed, src[33])
	}
	return StandbyReply{
		WriteLSN:       pgwal.LSN(binary.BigEndian.Uint64(src[1:])),
		FlushLSN:       pgwal.LSN(binary.BigEndian.Uint64(src[9:])),
		ApplyLSN:       pgwal.LSN(binary.BigEndian.Uint64(src[17:])),
		ReplyTS:        int64(binary.BigEndian.Uint64(src[25:])),
		ReplyRequested: src[33] == 1,
	}, nil
}

// AppendHotStandbyFeedback appends an 'h' payload as walreceiver.c
// XLogWalRcvSendHSFeedback writes it: ts, then xmin's xid and epoch, then
// catalog_xmin's xid and epoch, each a BE u32.
func AppendHotStandbyFeedback(dst []byte, hs walproto.HotStandbyFeedback) []byte {
	dst = append(dst, TagHotStandbyFeedback)
	dst = binary.BigEndian.AppendUint64(dst, uint64(hs.TS))
	dst = binary.BigEndian.AppendUint64(dst, bits.RotateLeft64(hs.Xmin, 32))
	return binary.BigEndian.AppendUint64(dst, bits.RotateLeft64(hs.CatalogXmin, 32))
}

// ParseHotStandbyFeedback parses an 'h' payload of exactly
// HotStandbyFeedbackSize bytes. Like Neon it reads each xid/epoch pair as
// one BE u64 and rotates it by 32 bits, giving epoch<<32 | xid, a
// FullTransactionId.
func ParseHotStandbyFeedback(src []byte) (walproto.HotStandbyFeedback, error) {
	if len(src) != HotStandbyFeedbackSize || src[0] != TagHotStandbyFeedback {
		return walproto.HotStandbyFeedback{}, fmt.Errorf("%w: HotStandbyFeedback of %d bytes, want %d",
			ErrMalformed, len(src), HotStandbyFeedbackSize)
	}
	return walproto.HotStandbyFeedback{
		TS:          int64(binary.BigEndian.Uint64(src[1:])),
		Xmin:        bits.RotateLeft64(binary.BigEndian.Uint64(src[9:]), 32),
		CatalogXmin: bits.RotateLeft64(binary.BigEndian.Uint64(src[17:]), 32),
	}, nil
}

// AppendPageserverFeedbackMessage appends a 'z' payload as the pageserver
// writes it: tag, BE u64 body length, body.
func AppendPageserverFeedbackMessage(dst []byte, f walproto.PageserverFeedback) []byte {
	body := walproto.AppendPageserverFeedback(nil, f)
	dst = append(dst, TagPageserverFeedback)
	dst = binary.BigEndian.AppendUint64(dst, uint64(len(body)))
	return append(dst, body...)
}

// ParsePageserverFeedbackMessage parses a 'z' payload. Like Neon it ignores
// the length after the tag and parses the body from byte 9; bytes after the
// body are ignored. Malformed feedback, on which Neon panics, is ErrMalformed.
func ParsePageserverFeedbackMessage(src []byte) (walproto.PageserverFeedback, error) {
	if len(src) < pageserverFeedbackPrefix || src[0] != TagPageserverFeedback {
		return walproto.PageserverFeedback{}, fmt.Errorf("%w: PageserverFeedback message of %d bytes", ErrMalformed, len(src))
	}
	f, _, err := walproto.ParsePageserverFeedback(src[pageserverFeedbackPrefix:])
	if err != nil {
		return walproto.PageserverFeedback{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return f, nil
}

// ClientMessage is one parsed CopyData payload from the client. Tag says
// which of the fields is set.
type ClientMessage struct {
	Tag        byte
	Reply      StandbyReply                // 'r'
	HotStandby walproto.HotStandbyFeedback // 'h'
	Pageserver walproto.PageserverFeedback // 'z'
}

// ParseClientMessage parses a client CopyData payload (§4). An empty
// payload or unknown tag is ErrUnknownMessage (ignore with a warning); a
// known tag that does not parse is ErrMalformed (end the stream). Nothing
// in the result aliases src.
func ParseClientMessage(src []byte) (ClientMessage, error) {
	if len(src) == 0 {
		return ClientMessage{}, fmt.Errorf("%w: empty CopyData", ErrUnknownMessage)
	}
	m := ClientMessage{Tag: src[0]}
	var err error
	switch src[0] {
	case TagStandbyReply:
		m.Reply, err = ParseStandbyReply(src)
	case TagHotStandbyFeedback:
		m.HotStandby, err = ParseHotStandbyFeedback(src)
	case TagPageserverFeedback:
		m.Pageserver, err = ParsePageserverFeedbackMessage(src)
	default:
		return m, fmt.Errorf("%w: tag %q, %d bytes", ErrUnknownMessage, src[0], len(src))
	}
	return m, err
}
