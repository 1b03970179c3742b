package walproposer

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/walkeeper/walkeeper/pgwal"
)

// walChunk is WAL read from a source, to be sent to one walkeeper.
type walChunk struct {
	start pgwal.LSN
	data  []byte
}

// feedWAL reads WAL [from, until) into out: from the primary, or, for WAL
// the primary no longer has (below the commit or the term start), or with
// no primary (below the term start), from the donor walkeeper with
// START_REPLICATION … (term=…).
func (p *Proposer) feedWAL(ctx context.Context, st *termState, from, until pgwal.LSN, out chan<- walChunk) error {
	p.mu.Lock()
	term, termStart, donor := st.term, st.termStart, st.donor
	p.mu.Unlock()
	pos := from
	var gone error // the primary said it no longer has the WAL at pos
	for pos < until {
		limit := until
		var rc *replConn
		var err error
		if p.cfg.Primary != "" && gone == nil {
			rc, err = p.openPrimary(ctx, pos)
			if walRemoved(err) {
				gone, rc = err, nil
			}
		}
		// The primary's slot keeps WAL from about the commit on, so what it
		// recycled lies below the commit (or the term start).
		donorEnd := termStart
		if p.cfg.Primary != "" {
			donorEnd = max(termStart, p.CommitLSN())
		}
		if (p.cfg.Primary == "" || gone != nil) && pos < donorEnd {
			p.log.Info("recovering from donor", "donor", p.cfg.Safekeepers[donor], "from", pos, "to", donorEnd, "primary_err", gone)
			rc, err = p.openDonor(ctx, donor, pos, term)
			limit = min(until, donorEnd)
		}
		if err == nil && rc == nil {
			err = fmt.Errorf("walproposer: no source for WAL at %s (%v)", pos, gone)
		}
		if err != nil {
			return err
		}
		fromPrimary := gone == nil
		gone = nil
		pos, err = copyStream(ctx, rc, pos, limit, p.CommitLSN, out)
		rc.Close()
		if fromPrimary && walRemoved(err) {
			// PostgreSQL reports a recycled segment inside the stream.
			gone = err
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// walRemoved says the primary no longer has the WAL asked for.
func walRemoved(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && strings.Contains(pgErr.Message, "has already been removed")
}

// openPrimary starts a physical stream from the primary at pos.
func (p *Proposer) openPrimary(ctx context.Context, pos pgwal.LSN) (*replConn, error) {
	cfg, err := primaryConfig(p.cfg.Primary, p.cfg.AppName+"_wal")
	if err != nil {
		return nil, err
	}
	rc, err := dialRepl(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := rc.start(ctx, fmt.Sprintf("START_REPLICATION PHYSICAL %s TIMELINE %d", pos, p.si.Timeline)); err != nil {
		rc.Close()
		return nil, err
	}
	return rc, nil
}

// openDonor starts a flush-mode stream (term) from walkeeper i at pos.
func (p *Proposer) openDonor(ctx context.Context, i int, pos pgwal.LSN, term uint64) (*replConn, error) {
	cfg, err := pgconn.ParseConfig("sslmode=disable")
	if err != nil {
		return nil, err
	}
	host, port, err := splitHostPort(p.cfg.Safekeepers[i])
	if err != nil {
		return nil, err
	}
	cfg.Host, cfg.Port, cfg.Database, cfg.Password = host, port, "replication", p.cfg.Token
	cfg.TLSConfig, cfg.Fallbacks = nil, nil
	cfg.RuntimeParams = map[string]string{
		"options": fmt.Sprintf("-c timeline_id=%s tenant_id=%s", p.cfg.TimelineID, p.cfg.TenantID),
	}
	rc, err := dialRepl(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := rc.start(ctx, fmt.Sprintf("START_REPLICATION PHYSICAL %s (term='%d')", pos, term)); err != nil {
		rc.Close()
		return nil, err
	}
	return rc, nil
}

// copyStream forwards rc's XLogData from pos up to limit into out,
// answering keepalives with commit(), and returns where it stopped.
func copyStream(ctx context.Context, rc *replConn, pos, limit pgwal.LSN, commit func() pgwal.LSN, out chan<- walChunk) (pgwal.LSN, error) {
	for pos < limit {
		m, err := rc.Recv()
		if err != nil {
			return pos, err
		}
		if !m.XLog {
			if m.WantReply {
				if err := rc.SendReply(commit()); err != nil {
					return pos, err
				}
			}
			continue
		}
		if m.Start != pos {
			return pos, fmt.Errorf("walproposer: XLogData at %s, want %s", m.Start, pos)
		}
		data := m.Data
		if rest := limit - pos; pgwal.LSN(len(data)) > rest {
			data = data[:rest]
		}
		select {
		case out <- walChunk{start: pos, data: data}:
		case <-ctx.Done():
			return pos, ctx.Err()
		}
		pos += pgwal.LSN(len(data))
	}
	return pos, nil
}
