package replication

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/walkeeper/walkeeper/internal/backlog"
)

// yieldSettle is how long after the backlog emptied a yielding sender
// looks again, going on only if it is empty then too: between two appends
// the queue empties for a moment even while the push is at full speed,
// and a sender that went at every such moment would not be yielding at
// all.
const yieldSettle = 500 * time.Microsecond

// DefaultYieldMax is how long, by default, a sender holds back while the
// timeline's WalAcceptors have work queued (Config.YieldMax).
const DefaultYieldMax = 200 * time.Millisecond

// yielder lets a backlogged ingest of the timeline go first. Ingest is
// what computes wait for at commit; readers are served from the same
// cores, and on a small machine thirty readers copying WAL out take the
// CPU the WalAcceptor needs to take it in. So while the timeline's
// inbound queues hold work, a sender waits for them to drain before each
// chunk, but in all for at most max from the moment it first held back
// after being caught up. Past that it sends until it has caught up again,
// so a reader is never more than max behind for this reason.
type yielder struct {
	backlog *backlog.Counter   // nil: never yield
	max     time.Duration      // <= 0: never yield
	since   time.Time          // when it first held back since caught up; zero if not
	spent   prometheus.Counter // seconds held back; nil to skip
}

// newYielder returns cfg's yielder. A Flush-mode (term) stream never
// yields: it is recovery — the walproposer fetching WAL for a lagging
// walkeeper from a donor, or peer recovery — so it is part of ingest, and
// holding it back would delay the quorum the backlog itself waits for.
func newYielder(cfg *Config) yielder {
	if cfg.Command.Mode() == ModeFlush {
		return yielder{}
	}
	return yielder{backlog: cfg.IngestBacklog, max: cfg.YieldMax, spent: cfg.YieldSeconds}
}

// wait holds the sender back while ingest has work queued: until the
// queues are found empty, and empty again yieldSettle later, within the
// allowance left.
func (y *yielder) wait(ctx context.Context) {
	if y.backlog == nil || y.max <= 0 || y.backlog.Load() <= 0 {
		return
	}
	began := time.Now()
	if y.since.IsZero() {
		y.since = began
	}
	if began.Sub(y.since) >= y.max {
		return // catching up: no more holding back until caught up
	}
	if y.spent != nil {
		defer func() { y.spent.Add(time.Since(began).Seconds()) }()
	}
	var settle *time.Timer
	for {
		left := y.max - time.Since(y.since)
		if left <= 0 || !y.backlog.WaitDrained(ctx, left) {
			return // allowance used up, or cancelled
		}
		if settle == nil {
			settle = time.NewTimer(min(yieldSettle, left))
			defer settle.Stop()
		} else {
			settle.Reset(min(yieldSettle, left))
		}
		select {
		case <-settle.C:
		case <-ctx.Done():
			return
		}
		if y.backlog.Load() <= 0 {
			return
		}
	}
}

// caughtUp is called when the sender has sent all the WAL there is: the
// next backlog gets a whole allowance again.
func (y *yielder) caughtUp() { y.since = time.Time{} }
