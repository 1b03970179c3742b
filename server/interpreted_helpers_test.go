package server

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/interpreted"
	interpreader "github.com/walkeeper/walkeeper/interpreted/reader"
	"github.com/walkeeper/walkeeper/interpreted/shard"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/replication"
	"github.com/walkeeper/walkeeper/walproto"
)

// This file holds the client side of the interpreted-protocol tests: a
// reader that negotiates like the pageserver (§6.1) and decodes '0'
// messages with package interpreted/reader.

// protocolOption is the startup option value for enc, in the compact JSON
// the pageserver sends.
func protocolOption(enc interpreted.Encoding) string {
	comp := "null"
	if enc.Compression.Zstd {
		comp = fmt.Sprintf(`{"zstd":{"level":%d}}`, enc.Compression.Level)
	}
	return fmt.Sprintf(`{"type":"interpreted","args":{"format":"%s","compression":%s}}`, enc.Format, comp)
}

// interpClient is one interpreted-protocol connection to walkeeper.
type interpClient struct {
	c     *pgconn.PgConn
	enc   interpreted.Encoding
	shard shard.Identity
	wire  int   // bytes of '0' messages received
	err   error // drainQuiet's failure
	// suffix is appended to START_REPLICATION, e.g. " (term='1')".
	suffix string
}

// dialInterpreted connects with the pageserver's startup options.
func dialInterpreted(ctx context.Context, t testing.TB, addr string, enc interpreted.Encoding, s shard.Identity) (*interpClient, error) {
	t.Helper()
	return dialProtocol(ctx, t, addr, protocolOption(enc), enc, s)
}

// dialProtocol connects with protocol as the protocol startup option.
func dialProtocol(ctx context.Context, t testing.TB, addr, protocol string, enc interpreted.Encoding, s shard.Identity) (*interpClient, error) {
	t.Helper()
	cfg, err := pgconn.ParseConfig(walkeeperConnString(addr, "pageserver"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["replication"] = "true"
	cfg.RuntimeParams["options"] = fmt.Sprintf("-c timeline_id=%s tenant_id=%s protocol=%s shard_count=%d shard_number=%d shard_stripe_size=%d",
		replTTID.Timeline, replTTID.Tenant, protocol, s.Count, s.Number, s.StripeSize)
	c, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return &interpClient{c: c, enc: enc, shard: s}, nil
}

// start sends IDENTIFY_SYSTEM, then START_REPLICATION PHYSICAL at, as the
// pageserver does, and returns IDENTIFY_SYSTEM's xlogpos.
func (ic *interpClient) start(ctx context.Context, t testing.TB, at pgwal.LSN) pgwal.LSN {
	t.Helper()
	res, err := ic.c.Exec(ctx, "IDENTIFY_SYSTEM").ReadAll()
	if err != nil || len(res) != 1 || len(res[0].Rows) != 1 {
		t.Fatalf("IDENTIFY_SYSTEM: %v %v", res, err)
	}
	xlogpos, err := pgwal.ParseLSN(string(res[0].Rows[0][2]))
	if err != nil {
		t.Fatal(err)
	}
	if err := startStream(ctx, ic.c, "START_REPLICATION PHYSICAL "+at.String()+ic.suffix); err != nil {
		t.Fatal(err)
	}
	return xlogpos
}

// interpMsg is one server message of an interpreted stream.
type interpMsg struct {
	tag byte // '0' or 'k'
	m   interpreader.Message
	end pgwal.LSN // keepalive wal_end
}

// next returns the next '0' or 'k', or the stream's ErrorResponse as a
// *pgconn.PgError.
func (ic *interpClient) next(ctx context.Context) (interpMsg, error) {
	for {
		msg, err := ic.c.ReceiveMessage(ctx)
		if err != nil {
			return interpMsg{}, err
		}
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			return interpMsg{}, pgconn.ErrorResponseToPgError(m)
		case *pgproto3.CopyDone:
			return interpMsg{}, errCopyDone
		case *pgproto3.CopyData:
			d := m.Data
			switch {
			case len(d) > 0 && d[0] == '0':
				ic.wire += len(d)
				dm, err := interpreader.DecodeMessage(d, ic.enc)
				return interpMsg{tag: '0', m: dm}, err
			case len(d) == 18 && d[0] == 'k':
				k, err := replication.ParseKeepalive(d)
				return interpMsg{tag: 'k', end: k.WALEnd}, err
			default:
				return interpMsg{}, fmt.Errorf("unexpected CopyData %q", d)
			}
		}
	}
}

var errCopyDone = errors.New("server sent CopyDone")

// sendFeedback sends a 'z' reporting rcl as ps_applylsn.
func (ic *interpClient) sendFeedback(rcl pgwal.LSN) error {
	fb := walproto.PageserverFeedback{LastReceivedLSN: rcl, DiskConsistentLSN: rcl, RemoteConsistentLSN: rcl,
		ShardNumber: uint32(ic.shard.Number)}
	ic.c.Frontend().Send(&pgproto3.CopyData{Data: replication.AppendPageserverFeedbackMessage(nil, fb)})
	return ic.c.Frontend().Flush()
}

// streamed is what a client took from a stream, checked as the pageserver
// checks it.
type streamed struct {
	records  []interpreted.Record
	batches  int
	empty    int // batches without records
	lastNext pgwal.LSN
}

// drain reads '0' messages until a batch's next_record_lsn reaches until,
// applying the pageserver's contiguity rules (§6.11): raw_wal_start_lsn
// present and ≤ the previous streaming_lsn (startpoint at first),
// next_record_lsn never decreasing and strictly beyond every record before
// it, records in LSN order.
func (ic *interpClient) drain(ctx context.Context, t testing.TB, startpoint, until pgwal.LSN) streamed {
	t.Helper()
	s, err := ic.drainChecked(ctx, startpoint, until)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// drainChecked is drain returning its failure (for other goroutines).
func (ic *interpClient) drainChecked(ctx context.Context, startpoint, until pgwal.LSN) (streamed, error) {
	var s streamed
	expected, prevNext := startpoint, startpoint
	for s.lastNext < until {
		msg, err := ic.next(ctx)
		if err != nil {
			return s, fmt.Errorf("shard %s after %d batches (next %s, want %s): %v", ic.shard, s.batches, s.lastNext, until, err)
		}
		if msg.tag != '0' {
			continue
		}
		rs := msg.m.Records
		switch {
		case !rs.RawWALStartLSN.Valid:
			return s, fmt.Errorf("batch %d without raw_wal_start_lsn", s.batches)
		case rs.RawWALStartLSN.Value > expected:
			return s, fmt.Errorf("Gap in streamed WAL: batch %d raw_wal_start_lsn %s > expected %s", s.batches, rs.RawWALStartLSN.Value, expected)
		case rs.NextRecordLSN < prevNext:
			return s, fmt.Errorf("batch %d next_record_lsn %s < previous %s", s.batches, rs.NextRecordLSN, prevNext)
		case msg.m.CommitLSN < msg.m.StreamingLSN:
			return s, fmt.Errorf("batch %d commit_lsn %s before streaming_lsn %s", s.batches, msg.m.CommitLSN, msg.m.StreamingLSN)
		case msg.m.StreamingLSN < expected:
			return s, fmt.Errorf("batch %d streaming_lsn %s went back from %s", s.batches, msg.m.StreamingLSN, expected)
		}
		last := pgwal.LSN(0)
		if n := len(s.records); n > 0 {
			last = s.records[n-1].NextRecordLSN
		}
		for i := range rs.Records {
			r := rs.Records[i]
			if r.NextRecordLSN <= last || r.NextRecordLSN > rs.NextRecordLSN {
				return s, fmt.Errorf("batch %d record %d: next %s after %s, batch next %s", s.batches, i, r.NextRecordLSN, last, rs.NextRecordLSN)
			}
			last = r.NextRecordLSN
			s.records = append(s.records, r)
		}
		if len(rs.Records) == 0 {
			s.empty++
		}
		s.batches++
		expected, prevNext, s.lastNext = msg.m.StreamingLSN, rs.NextRecordLSN, rs.NextRecordLSN
	}
	return s, nil
}

// drainQuiet reads '0' messages until next_record_lsn reaches until,
// keeping only the byte count; it may run on another goroutine and leaves
// a failure in ic.err.
func (ic *interpClient) drainQuiet(ctx context.Context, until pgwal.LSN) {
	for next := pgwal.LSN(0); next < until; {
		msg, err := ic.next(ctx)
		if err != nil {
			ic.err = err
			return
		}
		if msg.tag == '0' {
			next = msg.m.Records.NextRecordLSN
		}
	}
}

// endStream sends CopyDone and expects CopyDone back.
func (ic *interpClient) endStream(ctx context.Context, t testing.TB) {
	t.Helper()
	ic.c.Frontend().Send(&pgproto3.CopyDone{})
	if err := ic.c.Frontend().Flush(); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := ic.next(ctx)
		if errors.Is(err, errCopyDone) {
			return
		}
		if err != nil {
			t.Fatalf("after CopyDone: %v", err)
		}
	}
}

var waldumpLSN = regexp.MustCompile(`^rmgr: \S+\s+len \(rec/tot\):\s*\d+/\s*\d+, tx:\s*\d+, lsn: ([0-9A-F]+/[0-9A-F]+),`)

// waldumpStarts lists the start LSNs pg_waldump prints for [start, end) of
// the primary's WAL.
func waldumpStarts(t testing.TB, p *primary, start, end pgwal.LSN) []pgwal.LSN {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, pgtest.Bin(t, "pg_waldump"), "-p", p.WALDir(),
		"-s", start.String(), "-e", end.String()).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "error in WAL record") {
		t.Fatalf("pg_waldump: %v\n%s", err, out)
	}
	var lsns []pgwal.LSN
	for _, line := range strings.Split(string(out), "\n") {
		if m := waldumpLSN.FindStringSubmatch(line); m != nil {
			l, err := pgwal.ParseLSN(m[1])
			if err != nil {
				t.Fatal(err)
			}
			lsns = append(lsns, l)
		}
	}
	return lsns
}
