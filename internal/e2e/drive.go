package e2e

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/proposer"
	"github.com/walkeeper/walkeeper/walproto"
)

// NewTTID is a fresh random tenant and timeline.
func NewTTID() ids.TTID {
	var t ids.TTID
	rand.Read(t.Tenant[:])
	rand.Read(t.Timeline[:])
	return t
}

// Dial opens a START_WAL_PUSH connection that may create the timeline.
func Dial(ctx context.Context, addr string, ttid ids.TTID) (*proposer.Conn, error) {
	return proposer.Dial(ctx, proposer.Config{Addr: addr, TenantID: ttid.Tenant, TimelineID: ttid.Timeline,
		ProtoVersion: walproto.Version3, AllowTimelineCreation: true})
}

// Greet sends the greeting of w's PostgreSQL.
func Greet(ctx context.Context, c *proposer.Conn, w *WAL) (walproto.AcceptorGreeting, error) {
	return c.Greet(ctx, walproto.ProposerGreeting{PgVersion: w.PgVersion, SystemID: w.SystemID})
}

// ElectAlone runs greeting, vote for term and ProposerElected as the
// walproposer does when this safekeeper is the donor: the new term starts
// at its flush_lsn, or at first on an empty timeline. It returns the
// start_streaming_at it sent and the VoteResponse.
func ElectAlone(ctx context.Context, c *proposer.Conn, w *WAL, term uint64, first pgwal.LSN) (pgwal.LSN, walproto.VoteResponse, error) {
	if _, err := Greet(ctx, c, w); err != nil {
		return 0, walproto.VoteResponse{}, err
	}
	vr, err := c.Vote(ctx, term)
	if err != nil {
		return 0, vr, err
	}
	if !vr.VoteGiven {
		return 0, vr, fmt.Errorf("vote for term %d refused: %+v", term, vr)
	}
	start := vr.FlushLSN
	if start == 0 {
		start = first
	}
	history := append(append(walproto.TermHistory{}, vr.TermHistory...), walproto.TermLsn{Term: term, LSN: start})
	return start, vr, c.Elect(StartPoint(history, vr.TermHistory, vr.FlushLSN), history)
}

// LastLogTerm is the term of a VoteResponse history's last entry, 0 if
// empty.
func LastLogTerm(h walproto.TermHistory) uint64 {
	if len(h) == 0 {
		return 0
	}
	return h[len(h)-1].Term
}

// Donor is the index of the voter the walproposer takes WAL from: the
// highest last_log_term, then the highest flush_lsn (§3.4).
func Donor(votes []walproto.VoteResponse) int {
	best := 0
	for i, v := range votes {
		b := votes[best]
		if lt, bt := LastLogTerm(v.TermHistory), LastLogTerm(b.TermHistory); lt > bt || (lt == bt && v.FlushLSN > b.FlushLSN) {
			best = i
		}
	}
	return best
}

// StartPoint is the walproposer's start_streaming_at for a safekeeper that
// voted with history sk and flush_lsn end, given the proposer's history
// prop: the point where the two histories diverge (§3.5 step 4).
func StartPoint(prop, sk walproto.TermHistory, end pgwal.LSN) pgwal.LSN {
	k := -1
	for i := 0; i < len(prop) && i < len(sk) && prop[i].Term == sk[i].Term; i++ {
		k = i
	}
	switch {
	case k < 0:
		return prop[0].LSN
	case k == len(prop)-1:
		return end
	default:
		skEnd := end
		if k+1 < len(sk) {
			skEnd = sk[k+1].LSN
		}
		return min(prop[k+1].LSN, skEnd)
	}
}

// RandomChunks returns a source of AppendRequest sizes cut at arbitrary
// bytes: a third tiny (1–64 B), a third up to a page, the rest up to
// 128 KiB.
func RandomChunks(rng *mrand.Rand) func() int {
	return func() int {
		switch rng.IntN(3) {
		case 0:
			return 1 + rng.IntN(64)
		case 1:
			return 1 + rng.IntN(pgwal.XLogBlockSize)
		default:
			return 1 + rng.IntN(walproto.MaxWALPerAppend)
		}
	}
}

// FixedChunks always returns n.
func FixedChunks(n int) func() int { return func() int { return n } }

// StreamOptions shape a Stream.
type StreamOptions struct {
	// Chunks gives the size of each AppendRequest (required).
	Chunks func() int
	// Pause, if set, is called after each append; a positive result makes
	// the sender sleep that long, which lets the server's queue drain and
	// so makes it flush and acknowledge at that arbitrary point.
	Pause func() time.Duration
	// OnAck, if set, sees every AppendResponse and may stop the stream by
	// returning an error.
	OnAck func(walproto.AppendResponse) error
}

// Stream appends w's bytes in [from, to) from a sender goroutine, as the
// walproposer pipelines them, and receives AppendResponses until one
// reports flush_lsn ≥ to. It returns the last flush_lsn received.
func Stream(ctx context.Context, c *proposer.Conn, w *WAL, from, to pgwal.LSN, o StreamOptions) (pgwal.LSN, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sent := make(chan error, 1)
	go func() {
		for pos := from; pos < to && ctx.Err() == nil; {
			n := min(pgwal.LSN(o.Chunks()), to-pos)
			if err := c.Append(pos, w.Bytes(pos, pos+n), 0, 0); err != nil {
				sent <- err
				return
			}
			pos += n
			if o.Pause != nil {
				if d := o.Pause(); d > 0 {
					time.Sleep(d)
				}
			}
		}
		sent <- nil
	}()
	var flush pgwal.LSN
	for flush < to {
		ar, err := proposer.Expect[walproto.AppendResponse](ctx, c)
		if err != nil {
			return flush, err
		}
		if o.OnAck != nil {
			if err := o.OnAck(ar); err != nil {
				return flush, err
			}
		}
		flush = max(flush, ar.FlushLSN)
	}
	// With an XLOG_SWITCH at the end the flush position can reach to
	// while the zero padding is still being sent.
	select {
	case err := <-sent:
		return flush, err
	case <-ctx.Done():
		return flush, ctx.Err()
	}
}

// TimelineStatus runs TIMELINE_STATUS over libpq; ok is false when the
// timeline does not exist (no rows).
func TimelineStatus(ctx context.Context, addr string, ttid ids.TTID) (flush, commit pgwal.LSN, ok bool, err error) {
	cfg, err := pgconn.ParseConfig("sslmode=disable dbname=x user=x host=127.0.0.1")
	if err != nil {
		return 0, 0, false, err
	}
	var port uint16
	if _, err := fmt.Sscanf(addrPort(addr), "%d", &port); err != nil {
		return 0, 0, false, fmt.Errorf("address %q: %w", addr, err)
	}
	cfg.Port = port
	cfg.RuntimeParams = map[string]string{"options": "-c tenant_id=" + ttid.Tenant.String() + " timeline_id=" + ttid.Timeline.String()}
	pc, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return 0, 0, false, err
	}
	defer pc.Close(context.Background())
	res, err := pc.Exec(ctx, "TIMELINE_STATUS").ReadAll()
	if err != nil {
		return 0, 0, false, err
	}
	if len(res) != 1 {
		return 0, 0, false, errors.New("TIMELINE_STATUS: not one result")
	}
	if len(res[0].Rows) == 0 {
		return 0, 0, false, nil
	}
	row := res[0].Rows[0]
	if flush, err = pgwal.ParseLSN(string(row[0])); err != nil {
		return 0, 0, false, err
	}
	if commit, err = pgwal.ParseLSN(string(row[1])); err != nil {
		return 0, 0, false, err
	}
	return flush, commit, true, nil
}

func addrPort(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[i+1:]
		}
	}
	return addr
}
