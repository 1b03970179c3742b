package walproposer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/replication"
	"github.com/walkeeper/walkeeper/walproto"
)

// maxReplMessage bounds one CopyData of a replication stream: a 128 KiB
// XLogData plus its header, with room to spare.
const maxReplMessage = 1 << 20

// ErrReplStreamEnded: the server ended the replication stream (CopyDone).
var ErrReplStreamEnded = errors.New("walproposer: replication stream ended")

// SystemInfo is what IDENTIFY_SYSTEM and two SHOWs tell about a primary.
type SystemInfo struct {
	SystemID   uint64
	Timeline   uint32
	FlushLSN   pgwal.LSN // xlogpos: the primary's flush position
	PgVersion  uint32    // server_version_num, e.g. 150008
	WalSegSize uint32
}

// replConn is a physical replication connection (replication=true) to a
// primary, or a START_REPLICATION connection to a walkeeper. Recv is for one
// goroutine; SendReply may be called from any.
type replConn struct {
	pc   *pgconn.PgConn
	conn net.Conn
	fe   *pgproto3.Frontend
	wmu  sync.Mutex
	once sync.Once
	// unwatch drops the context hook start installed (guarded by hookMu:
	// the hook itself may call Close).
	hookMu  sync.Mutex
	unwatch func() bool
}

// dialRepl connects with cfg (already in replication mode).
func dialRepl(ctx context.Context, cfg *pgconn.Config) (*replConn, error) {
	pc, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("walproposer: connect %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	return &replConn{pc: pc}, nil
}

// primaryConfig parses a libpq conninfo for a primary and turns it into a
// physical replication connection with application_name appName.
func primaryConfig(connString, appName string) (*pgconn.Config, error) {
	cfg, err := pgconn.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("walproposer: primary conninfo: %w", err)
	}
	cfg.RuntimeParams["replication"] = "true"
	if appName != "" {
		cfg.RuntimeParams["application_name"] = appName
	}
	return cfg, nil
}

// simpleQuery runs q before the stream starts and returns the first row.
func (c *replConn) simpleQuery(ctx context.Context, q string) ([][]byte, error) {
	res, err := c.pc.Exec(ctx, q).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("walproposer: %s: %w", q, err)
	}
	if len(res) == 0 || len(res[0].Rows) == 0 {
		return nil, fmt.Errorf("walproposer: %s: no rows", q)
	}
	return res[0].Rows[0], nil
}

// identify runs IDENTIFY_SYSTEM, SHOW server_version_num and SHOW
// wal_segment_size on a primary.
func (c *replConn) identify(ctx context.Context) (SystemInfo, error) {
	row, err := c.simpleQuery(ctx, "IDENTIFY_SYSTEM")
	if err != nil {
		return SystemInfo{}, err
	}
	if len(row) < 3 {
		return SystemInfo{}, fmt.Errorf("walproposer: IDENTIFY_SYSTEM: %d columns", len(row))
	}
	var si SystemInfo
	if si.SystemID, err = strconv.ParseUint(string(row[0]), 10, 64); err != nil {
		return si, fmt.Errorf("walproposer: IDENTIFY_SYSTEM systemid: %w", err)
	}
	tli, err := strconv.ParseUint(string(row[1]), 10, 32)
	if err != nil {
		return si, fmt.Errorf("walproposer: IDENTIFY_SYSTEM timeline: %w", err)
	}
	si.Timeline = uint32(tli)
	if si.FlushLSN, err = pgwal.ParseLSN(string(row[2])); err != nil {
		return si, fmt.Errorf("walproposer: IDENTIFY_SYSTEM xlogpos: %w", err)
	}
	if row, err = c.simpleQuery(ctx, "SHOW server_version_num"); err != nil {
		return si, err
	}
	v, err := strconv.ParseUint(string(row[0]), 10, 32)
	if err != nil {
		return si, fmt.Errorf("walproposer: server_version_num %q: %w", row[0], err)
	}
	si.PgVersion = uint32(v)
	if row, err = c.simpleQuery(ctx, "SHOW wal_segment_size"); err != nil {
		return si, err
	}
	if string(row[0]) != "16MB" {
		return si, fmt.Errorf("walproposer: wal_segment_size %s is not supported (16MB only)", row[0])
	}
	si.WalSegSize = pgwal.DefaultSegmentSize
	return si, nil
}

// createSlot creates a physical slot that reserves WAL now; one that
// already exists is fine.
func (c *replConn) createSlot(ctx context.Context, name string) error {
	_, err := c.pc.Exec(ctx, "CREATE_REPLICATION_SLOT "+quoteIdent(name)+" PHYSICAL RESERVE_WAL").ReadAll()
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42710" { // duplicate_object
		return nil
	}
	if err != nil {
		return fmt.Errorf("walproposer: create slot %s: %w", name, err)
	}
	return nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// start sends a START_REPLICATION command and waits for CopyBothResponse.
// From here on the connection is a raw COPY stream; ctx's end closes it.
func (c *replConn) start(ctx context.Context, cmd string) error {
	hc, err := c.pc.Hijack()
	if err != nil {
		return fmt.Errorf("walproposer: %w", err)
	}
	c.conn, c.fe = hc.Conn, hc.Frontend
	c.fe.SetMaxBodyLen(maxReplMessage)
	stop := context.AfterFunc(ctx, func() { c.Close() })
	c.hookMu.Lock()
	c.unwatch = stop
	c.hookMu.Unlock()
	buf, _ := (&pgproto3.Query{String: cmd}).Encode(nil)
	if _, err := c.conn.Write(buf); err != nil {
		stop()
		return fmt.Errorf("walproposer: send %s: %w", cmd, err)
	}
	for {
		msg, err := c.fe.Receive()
		if err != nil {
			stop()
			return fmt.Errorf("walproposer: %s: %w", cmd, err)
		}
		switch m := msg.(type) {
		case *pgproto3.CopyBothResponse:
			return nil
		case *pgproto3.ErrorResponse:
			stop()
			return fmt.Errorf("walproposer: %s: %w", cmd, pgconn.ErrorResponseToPgError(m))
		case *pgproto3.NoticeResponse, *pgproto3.ParameterStatus:
		default:
			stop()
			return fmt.Errorf("walproposer: %T in reply to %s", msg, cmd)
		}
	}
}

// replMsg is one server message of a stream: XLogData (Data set, a copy)
// or a keepalive.
type replMsg struct {
	XLog      bool
	Start     pgwal.LSN // XLogData wal_start
	End       pgwal.LSN // wal_end of either message
	Data      []byte
	WantReply bool // keepalive with reply_requested
}

// Recv returns the next XLogData or keepalive.
func (c *replConn) Recv() (replMsg, error) {
	for {
		msg, err := c.fe.Receive()
		if err != nil {
			return replMsg{}, fmt.Errorf("walproposer: replication receive: %w", err)
		}
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			if len(m.Data) == 0 {
				continue
			}
			switch m.Data[0] {
			case replication.TagXLogData:
				h, data, err := replication.ParseXLogData(m.Data)
				if err != nil {
					return replMsg{}, err
				}
				return replMsg{XLog: true, Start: h.WALStart, End: h.WALEnd, Data: append([]byte(nil), data...)}, nil
			case replication.TagKeepalive:
				k, err := replication.ParseKeepalive(m.Data)
				if err != nil {
					return replMsg{}, err
				}
				return replMsg{End: k.WALEnd, WantReply: k.ReplyRequested}, nil
			}
		case *pgproto3.ErrorResponse:
			return replMsg{}, fmt.Errorf("walproposer: replication stream: %w", pgconn.ErrorResponseToPgError(m))
		case *pgproto3.CopyDone:
			return replMsg{}, ErrReplStreamEnded
		case *pgproto3.NoticeResponse, *pgproto3.ParameterStatus:
		default:
			return replMsg{}, fmt.Errorf("walproposer: %T in replication stream", msg)
		}
	}
}

// SendReply sends a standby status update 'r' with write, flush and apply
// all at lsn (0 reports nothing, which PostgreSQL ignores).
func (c *replConn) SendReply(lsn pgwal.LSN) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	r := replication.StandbyReply{WriteLSN: lsn, FlushLSN: lsn, ApplyLSN: lsn, ReplyTS: replication.PGTimestamp(time.Now())}
	return c.sendCopyData(replication.AppendStandbyReply(nil, r))
}

// SendHotStandby sends hot standby feedback 'h'.
func (c *replConn) SendHotStandby(hs walproto.HotStandbyFeedback) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.sendCopyData(replication.AppendHotStandbyFeedback(nil, hs))
}

// sendCopyData writes payload as one CopyData; wmu is held.
func (c *replConn) sendCopyData(payload []byte) error {
	buf, _ := (&pgproto3.CopyData{Data: payload}).Encode(nil)
	c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.conn.Write(buf)
	return err
}

// Close closes the connection; it is idempotent.
func (c *replConn) Close() {
	c.once.Do(func() {
		c.hookMu.Lock()
		if c.unwatch != nil {
			c.unwatch()
		}
		c.hookMu.Unlock()
		if c.conn != nil {
			c.conn.Close()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c.pc.Close(ctx)
	})
}
