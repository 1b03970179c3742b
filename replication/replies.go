package replication

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
)

// readReplies is the half that consumes the client's CopyData (§4) and
// records feedback in the slot. It ends the stream on CopyDone (answered
// with CopyDone), CopyFail (ErrorResponse 00000) or a malformed 'r', 'h'
// or 'z' (XX000); unknown messages are logged and skipped.
func readReplies(ctx context.Context, stream Stream, slot *Sender, out *outStream, log *slog.Logger) error {
	for {
		msg, err := stream.Receive()
		if err != nil {
			if ctx.Err() != nil {
				return errStreamEnded // closed because the stream already ended
			}
			switch {
			case errors.Is(err, ErrClientGone) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed):
				out.finish(endReason{kind: endSilent})
			case errors.Is(err, io.EOF):
				out.finish(endReason{kind: endCopyDone})
			case errors.Is(err, ErrCopyFail):
				out.finish(endReason{kind: endError, sqlstate: SQLStateSuccess, msg: "received CopyFail"})
			default:
				out.finish(*internalError(err))
			}
			return errStreamEnded
		}
		m, err := ParseClientMessage(msg)
		switch {
		case errors.Is(err, ErrUnknownMessage):
			log.Warn("unexpected message", "err", err)
			continue
		case err != nil:
			out.finish(*internalError(err))
			return errStreamEnded
		}
		switch m.Tag {
		case TagStandbyReply:
			slot.RecordStandbyReply(m.Reply)
		case TagHotStandbyFeedback:
			slot.RecordHotStandbyFeedback(m.HotStandby)
		case TagPageserverFeedback:
			slot.RecordPageserverFeedback(m.Pageserver)
		}
	}
}
