package proposer

import (
	"context"
	"fmt"

	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
)

// Generation is the generation Vote, Elect and Append send: the one of the
// last greeting's configuration, or the last SetGeneration.
func (c *Conn) Generation() uint32 {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	return c.generation
}

// SetGeneration sets the generation later messages carry (v3 only).
func (c *Conn) SetGeneration(g uint32) {
	c.stateMu.Lock()
	c.generation = g
	c.stateMu.Unlock()
}

// Term is the term Elect and Append send: the one of the last Vote.
func (c *Conn) Term() uint64 {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	return c.term
}

// SetTerm sets the term Elect and Append send, e.g. for a connection that
// did not vote itself.
func (c *Conn) SetTerm(t uint64) {
	c.stateMu.Lock()
	c.term = t
	c.stateMu.Unlock()
}

// Greet sends a ProposerGreeting and waits for the AcceptorGreeting. Zero ids
// are taken from the Config and a zero WalSegSize is 16 MiB; in v2 a zero
// ProtocolVersion is 2 and a zero TLI is 1, as the walproposer sends them.
// The greeting's MConf.Generation becomes Generation, or the safekeeper's
// if that is higher (the walproposer adopts a newer configuration).
func (c *Conn) Greet(ctx context.Context, g walproto.ProposerGreeting) (walproto.AcceptorGreeting, error) {
	if g.TenantID.IsZero() {
		g.TenantID = c.cfg.TenantID
	}
	if g.TimelineID.IsZero() {
		g.TimelineID = c.cfg.TimelineID
	}
	if g.WalSegSize == 0 {
		g.WalSegSize = pgwal.DefaultSegmentSize
	}
	if c.version == walproto.Version2 {
		if g.ProtocolVersion == 0 {
			g.ProtocolVersion = walproto.Version2
		}
		if g.TLI == 0 {
			g.TLI = 1
		}
	}
	c.SetGeneration(g.MConf.Generation)
	if err := c.Send(g); err != nil {
		return walproto.AcceptorGreeting{}, err
	}
	ag, err := Expect[walproto.AcceptorGreeting](ctx, c)
	if err != nil {
		return ag, err
	}
	if ag.MConf.Generation > c.Generation() {
		c.SetGeneration(ag.MConf.Generation)
	}
	return ag, nil
}

// Vote sends a VoteRequest for term (with Generation) and waits for the
// VoteResponse. term becomes Term whether or not the vote is given.
func (c *Conn) Vote(ctx context.Context, term uint64) (walproto.VoteResponse, error) {
	c.SetTerm(term)
	if err := c.Send(walproto.VoteRequest{Generation: c.Generation(), Term: term}); err != nil {
		return walproto.VoteResponse{}, err
	}
	return Expect[walproto.VoteResponse](ctx, c)
}

// Expect receives the next message, which must be a T; anything else is
// an error wrapping ErrUnexpectedMessage.
func Expect[T walproto.AcceptorMessage](ctx context.Context, c *Conn) (T, error) {
	var want T
	m, err := c.Receive(ctx)
	if err != nil {
		return want, err
	}
	got, ok := m.(T)
	if !ok {
		return want, fmt.Errorf("%w: %T instead of %T", ErrUnexpectedMessage, m, want)
	}
	return got, nil
}

// Elect sends ProposerElected with Generation and Term. No reply follows.
// In v2 the trailing timeline_start_lsn is the first entry's LSN, as the
// walproposer sends it.
func (c *Conn) Elect(startStreamingAt pgwal.LSN, history walproto.TermHistory) error {
	m := walproto.ProposerElected{Generation: c.Generation(), Term: c.Term(),
		StartStreamingAt: startStreamingAt, TermHistory: history}
	if len(history) > 0 {
		m.TimelineStartLSN = history[0].LSN
	}
	return c.Send(m)
}

// Append sends WAL starting at begin (none: a heartbeat) with Generation and
// Term. It refuses more than walproto.MaxWALPerAppend bytes; use Send to
// send a malformed request on purpose. Replies come through Receive.
func (c *Conn) Append(begin pgwal.LSN, wal []byte, commit, truncate pgwal.LSN) error {
	if len(wal) > walproto.MaxWALPerAppend {
		return fmt.Errorf("proposer: %w: %d bytes", walproto.ErrAppendTooLarge, len(wal))
	}
	return c.sendAppend(&walproto.AppendRequest{Generation: c.Generation(), Term: c.Term(),
		BeginLSN: begin, EndLSN: begin + pgwal.LSN(len(wal)), CommitLSN: commit,
		TruncateLSN: truncate, WAL: wal})
}
