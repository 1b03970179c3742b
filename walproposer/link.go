package walproposer

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
)

// runLink keeps the connection on which the primary sees this walproposer
// as a standby named AppName, using Slot: it reports the quorum commit as
// write, flush and apply position whenever it moves and whenever the
// primary asks, so synchronous_standby_names makes COMMIT wait for a
// walkeeper quorum. It relays the walkeepers' hot standby feedback (from
// standbys that stream from them) as 'h'. The WAL it receives is discarded.
func (p *Proposer) runLink(ctx context.Context) {
	b := newBackoff(p.cfg.ReconnectTimeout)
	for {
		err := p.linkOnce(ctx, b)
		if ctx.Err() != nil {
			return
		}
		p.log.Warn("primary feedback connection lost", "err", err)
		if !b.sleep(ctx) {
			return
		}
	}
}

func (p *Proposer) linkOnce(ctx context.Context, b *backoff) error {
	cfg, err := primaryConfig(p.cfg.Primary, p.cfg.AppName)
	if err != nil {
		return err
	}
	rc, err := dialRepl(ctx, cfg)
	if err != nil {
		return err
	}
	defer rc.Close()
	si, err := rc.identify(ctx)
	if err != nil {
		return err
	}
	slot := ""
	if p.cfg.Slot != "" {
		slot = "SLOT " + quoteIdent(p.cfg.Slot) + " "
	}
	if err := rc.start(ctx, fmt.Sprintf("START_REPLICATION %sPHYSICAL %s TIMELINE %d", slot, si.FlushLSN, si.Timeline)); err != nil {
		return err
	}
	b.reset()
	errc := make(chan error, 1)
	go func() {
		for {
			m, err := rc.Recv()
			if err == nil && m.WantReply {
				err = rc.SendReply(p.CommitLSN())
			}
			if err != nil {
				errc <- err
				return
			}
		}
	}()
	var sent pgwal.LSN
	var sentHS walproto.HotStandbyFeedback
	for {
		p.mu.Lock()
		commit, hs, changed := p.commit, p.hs, p.changed
		p.mu.Unlock()
		if commit != sent {
			if err := rc.SendReply(commit); err != nil {
				return err
			}
			sent = commit
		}
		if hs != sentHS && hs.TS != 0 {
			if err := rc.SendHotStandby(hs); err != nil {
				return err
			}
			sentHS = hs
		}
		select {
		case <-changed:
		case err := <-errc:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func splitHostPort(addr string) (string, uint16, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("walproposer: address %q: %w", addr, err)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("walproposer: port in %q: %w", addr, err)
	}
	return host, uint16(n), nil
}
