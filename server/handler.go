package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/walkeeper/walkeeper/pgwire"
)

// ErrNotImplemented is returned for commands a later issue will serve.
var ErrNotImplemented = errors.New("not implemented yet")

// noTimelines is the pgwire.Handler until the timeline registry exists:
// every timeline is "not found", answered exactly as Neon answers it.
type noTimelines struct{}

var _ pgwire.Handler = noTimelines{}

// notFound is Neon's GlobalTimelines "not found" text.
func notFound(s *pgwire.Session) error {
	return fmt.Errorf("Timeline %s was not found in global map", s.TTID) //nolint:staticcheck // exact wire text
}

func (noTimelines) IdentifySystem(ctx context.Context, s *pgwire.Session) (pgwire.IdentifySystemRow, error) {
	return pgwire.IdentifySystemRow{}, notFound(s)
}

func (noTimelines) TimelineStatus(ctx context.Context, s *pgwire.Session) (*pgwire.TimelineStatusRow, error) {
	return nil, nil
}

func (noTimelines) StartWALPush(ctx context.Context, s *pgwire.Session, opts pgwire.WALPushOptions, cb *pgwire.CopyBoth) error {
	return fmt.Errorf("START_WAL_PUSH: %w", ErrNotImplemented)
}

func (noTimelines) StartReplication(ctx context.Context, s *pgwire.Session, opts pgwire.ReplicationOptions, cb *pgwire.CopyBoth) error {
	return notFound(s)
}
