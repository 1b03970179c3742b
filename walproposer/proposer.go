package walproposer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
)

// errNewElection ends a term: a walkeeper holds a higher term (or refused
// our vote before we were elected), so a new election must be run.
var errNewElection = errors.New("walproposer: new election needed")

// Proposer runs elections and streams WAL; see Run.
type Proposer struct {
	cfg Config
	log *slog.Logger
	n   int
	si  SystemInfo
	// freshStart is the timeline start used when no walkeeper has WAL.
	freshStart pgwal.LSN

	mu      sync.Mutex
	changed chan struct{}               // closed and replaced on every change below
	maxTerm uint64                      // highest term seen by this process
	commit  pgwal.LSN                   // quorum commit reported to the primary; monotone
	hs      walproto.HotStandbyFeedback // walkeepers' aggregate, relayed to the primary
	st      *termState                  // the current election attempt
}

// New checks cfg and returns a Proposer.
func New(cfg Config) (*Proposer, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	return &Proposer{cfg: cfg, log: cfg.Logger, n: len(cfg.Safekeepers), changed: make(chan struct{})}, nil
}

// CommitLSN is the quorum commit LSN reported to the primary.
func (p *Proposer) CommitLSN() pgwal.LSN {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.commit
}

// Status is a snapshot for logs and tests.
type Status struct {
	Term      uint64
	Elected   bool
	TermStart pgwal.LSN
	Commit    pgwal.LSN
	Flush     []pgwal.LSN // per walkeeper, in this term
}

// Status returns the current state.
func (p *Proposer) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Status{Commit: p.commit}
	if st := p.st; st != nil {
		s.Term, s.Elected, s.TermStart = st.term, st.elected, st.termStart
		s.Flush = append(s.Flush, st.flush...)
	}
	return s
}

// broadcast wakes every waiter; p.mu is held.
func (p *Proposer) broadcast() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// waitFor blocks until cond (called with p.mu held) is true or ctx ends.
func (p *Proposer) waitFor(ctx context.Context, cond func() bool) error {
	for {
		p.mu.Lock()
		ok, ch := cond(), p.changed
		p.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Run identifies the primary, keeps its feedback connection and runs terms
// until ctx ends (nil) or, in sync mode, until a quorum holds a common end,
// which it returns.
func (p *Proposer) Run(ctx context.Context) (pgwal.LSN, error) {
	if err := p.setup(ctx); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var link sync.WaitGroup
	if !p.cfg.SyncSafekeepers {
		link.Add(1)
		go func() { defer link.Done(); p.runLink(ctx) }()
	}
	defer link.Wait()
	backoff := newBackoff(p.cfg.ReconnectTimeout)
	for {
		lsn, err := p.runTerm(ctx)
		if ctx.Err() != nil {
			return 0, nil
		}
		if !errors.Is(err, errNewElection) {
			return lsn, err
		}
		p.log.Info("new election", "after", err)
		if !backoff.sleep(ctx) {
			return 0, nil
		}
	}
}

// setup learns the primary's system and the fresh-timeline start.
func (p *Proposer) setup(ctx context.Context) error {
	p.si = SystemInfo{PgVersion: p.cfg.PgVersion, WalSegSize: pgwal.DefaultSegmentSize, Timeline: 1}
	if p.cfg.Primary == "" {
		p.freshStart = p.cfg.StartLSN
		return nil
	}
	cfg, err := primaryConfig(p.cfg.Primary, p.cfg.AppName+"_setup")
	if err != nil {
		return err
	}
	rc, err := dialRepl(ctx, cfg)
	if err != nil {
		return err
	}
	defer rc.Close()
	if p.si, err = rc.identify(ctx); err != nil {
		return err
	}
	if p.cfg.Slot != "" {
		if err := rc.createSlot(ctx, p.cfg.Slot); err != nil {
			return err
		}
	}
	p.freshStart = p.cfg.StartLSN
	if p.freshStart == 0 {
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if p.freshStart, err = segmentStartBoundary(sctx, p.cfg.Primary, p.si); err != nil {
			return fmt.Errorf("walproposer: timeline start: %w", err)
		}
	}
	p.log.Info("primary identified", "system_id", p.si.SystemID, "pg_version", p.si.PgVersion,
		"flush_lsn", p.si.FlushLSN, "fresh_timeline_start", p.freshStart)
	return nil
}

// runTerm runs one election attempt with a session per walkeeper.
func (p *Proposer) runTerm(ctx context.Context) (pgwal.LSN, error) {
	st := newTermState(p.n)
	p.mu.Lock()
	p.st = st
	p.mu.Unlock()
	g, gctx := errgroup.WithContext(ctx)
	for i := range p.n {
		g.Go(func() error { return p.sessionLoop(gctx, st, i) })
	}
	var synced pgwal.LSN
	if p.cfg.SyncSafekeepers {
		g.Go(func() error {
			lsn, err := p.waitSynced(gctx, st)
			if err == nil {
				synced = lsn
				return errSynced
			}
			return err
		})
	}
	err := g.Wait()
	if errors.Is(err, errSynced) {
		return synced, nil
	}
	return 0, err
}

// backoff is a doubling delay capped at maxBackoff.
type backoff struct{ first, cur time.Duration }

func newBackoff(first time.Duration) *backoff { return &backoff{first: first / 4, cur: first / 4} }

func (b *backoff) reset() { b.cur = b.first }

// sleep waits the current delay and doubles it; false if ctx ended.
func (b *backoff) sleep(ctx context.Context) bool {
	t := time.NewTimer(b.cur)
	defer t.Stop()
	b.cur = min(2*b.cur, maxBackoff)
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
