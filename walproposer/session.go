package walproposer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/proposer"
	"github.com/walkeeper/walkeeper/walproto"
)

// Channel capacities between a session's goroutines.
const (
	walChunkQueue = 16 // chunks read from the WAL source, not yet sent
	responseQueue = 16 // AppendResponses read, not yet processed
)

// sessionLoop keeps walkeeper i connected for the term, reconnecting with
// backoff. It returns errNewElection, or nil when ctx ends.
func (p *Proposer) sessionLoop(ctx context.Context, st *termState, i int) error {
	b := newBackoff(p.cfg.ReconnectTimeout)
	addr := p.cfg.Safekeepers[i]
	for {
		began := time.Now()
		err := p.session(ctx, st, i)
		if time.Since(began) > p.cfg.ConnectTimeout {
			b.reset() // it worked for a while: reconnect quickly
		}
		p.setActive(st, i, false)
		if errors.Is(err, errNewElection) {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		p.log.Warn("safekeeper connection lost", "safekeeper", addr, "err", err)
		if !b.sleep(ctx) {
			return nil
		}
	}
}

// session is one connection to walkeeper i: greeting, vote, ProposerElected
// at its own common point, then streaming.
func (p *Proposer) session(ctx context.Context, st *termState, i int) error {
	dctx, cancel := context.WithTimeout(ctx, p.cfg.ConnectTimeout)
	defer cancel()
	conn, err := proposer.Dial(dctx, proposer.Config{Addr: p.cfg.Safekeepers[i], TenantID: p.cfg.TenantID,
		TimelineID: p.cfg.TimelineID, Token: p.cfg.Token, AllowTimelineCreation: true})
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	sysID := p.si.SystemID
	if p.cfg.SyncSafekeepers {
		sysID = 0 // as --sync-safekeepers sends it
	}
	ag, err := conn.Greet(dctx, walproto.ProposerGreeting{PgVersion: p.si.PgVersion, SystemID: sysID, WalSegSize: p.si.WalSegSize})
	if err != nil {
		return err
	}
	term, err := p.onGreeting(ctx, st, i, ag.Term)
	if err != nil {
		return err
	}
	vctx, cancel2 := context.WithTimeout(ctx, p.cfg.ConnectTimeout)
	defer cancel2()
	vr, err := conn.Vote(vctx, term)
	if err != nil {
		return err
	}
	if err := p.onVote(ctx, st, i, vr); err != nil {
		return err
	}
	p.mu.Lock()
	history, termStart, skip := st.history, st.termStart, st.noElected
	p.mu.Unlock()
	if skip {
		<-ctx.Done()
		return nil
	}
	start, err := CommonPoint(history, vr.TermHistory, vr.FlushLSN)
	if err != nil {
		return err
	}
	if err := conn.Elect(start, history); err != nil {
		return err
	}
	p.log.Info("safekeeper elected", "safekeeper", p.cfg.Safekeepers[i], "term", term,
		"start_streaming_at", start, "flush_lsn", vr.FlushLSN)
	p.setActive(st, i, true)
	until := pgwal.LSN(1<<64 - 1)
	if p.cfg.SyncSafekeepers {
		until = termStart
	}
	return p.stream(ctx, st, i, conn, start, until)
}

// stream sends walkeeper i the WAL from start (to until), heartbeats and
// commits, and feeds its AppendResponses to the term.
func (p *Proposer) stream(ctx context.Context, st *termState, i int, conn *proposer.Conn, start, until pgwal.LSN) error {
	g, ctx := errgroup.WithContext(ctx)
	wal := make(chan walChunk, walChunkQueue)
	resp := make(chan walproto.AppendResponse, responseQueue)
	if start < until {
		g.Go(func() error { return p.feedWAL(ctx, st, start, until, wal) })
	}
	g.Go(func() error {
		for {
			rctx, cancel := context.WithTimeout(ctx, p.cfg.ConnectTimeout)
			m, err := conn.Receive(rctx)
			cancel()
			if err != nil {
				return err
			}
			if r, ok := m.(walproto.AppendResponse); ok {
				select {
				case resp <- r:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
	})
	g.Go(func() error { return p.sendLoop(ctx, st, i, conn, start, wal, resp) })
	return g.Wait()
}

// sendLoop owns sending on conn: WAL, heartbeats each ReconnectTimeout of
// silence, and a heartbeat when the commit moved.
func (p *Proposer) sendLoop(ctx context.Context, st *termState, i int, conn *proposer.Conn,
	next pgwal.LSN, wal <-chan walChunk, resp <-chan walproto.AppendResponse) error {
	tick := time.NewTicker(p.cfg.ReconnectTimeout / 2)
	defer tick.Stop()
	var sentCommit pgwal.LSN
	lastSend := time.Now()
	send := func(data []byte) error {
		p.mu.Lock()
		commit, truncate := st.commit, st.truncate
		p.mu.Unlock()
		for {
			n := min(len(data), walproto.MaxWALPerAppend)
			if err := conn.Append(next, data[:n], commit, truncate); err != nil {
				return err
			}
			next += pgwal.LSN(n)
			data = data[n:]
			if len(data) == 0 {
				break
			}
		}
		sentCommit, lastSend = commit, time.Now()
		return nil
	}
	for {
		p.mu.Lock()
		changed, commit := p.changed, st.commit
		p.mu.Unlock()
		if commit != sentCommit {
			// The new commit rides on the next WAL if some is ready.
			var data []byte
			select {
			case c := <-wal:
				if c.start != next {
					return fmt.Errorf("walproposer: WAL chunk at %s, safekeeper is at %s", c.start, next)
				}
				data = c.data
			default:
			}
			if err := send(data); err != nil {
				return err
			}
			continue
		}
		select {
		case c := <-wal:
			if c.start != next {
				return fmt.Errorf("walproposer: WAL chunk at %s, safekeeper is at %s", c.start, next)
			}
			if err := send(c.data); err != nil {
				return err
			}
		case r := <-resp:
			if err := p.onAppendResponse(st, i, r); err != nil {
				return err
			}
		case <-changed:
		case <-tick.C:
			if time.Since(lastSend) >= p.cfg.ReconnectTimeout {
				if err := send(nil); err != nil {
					return err
				}
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
