package server

import (
	"context"

	"github.com/walkeeper/walkeeper/pgwire"
	"github.com/walkeeper/walkeeper/timeline"
)

// trackReceivers registers every START_WAL_PUSH connection as a walreceiver
// of its timeline for as long as it runs (TimelineStatus.walreceivers,
// safekeeper_connected_computes). It wraps the handler so the push path
// itself stays untouched; connections are registered by ttid because the
// timeline may only be created by their greeting.
type trackReceivers struct {
	pgwire.Handler
	receivers *timeline.Receivers
}

func (t trackReceivers) StartWALPush(ctx context.Context, s *pgwire.Session, opts pgwire.WALPushOptions, cb *pgwire.CopyBoth) error {
	remove := t.receivers.Add(s.TTID, s.ConnID)
	defer remove()
	return t.Handler.StartWALPush(ctx, s, opts, cb)
}
