package walproposer

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/pgwal"
)

// Defaults, as the Neon walproposer GUCs have them (walproposer-protocol.md §6).
const (
	// DefaultReconnectTimeout is neon.safekeeper_reconnect_timeout: the
	// heartbeat period and the first reconnect delay.
	DefaultReconnectTimeout = time.Second
	// DefaultConnectTimeout is neon.safekeeper_connect_timeout: a walkeeper
	// silent this long is dropped.
	DefaultConnectTimeout = 10 * time.Second
	// maxBackoff caps the reconnect delay.
	maxBackoff = 2 * time.Second
	// DefaultAppName is the application_name on the primary: put it in
	// synchronous_standby_names.
	DefaultAppName = "walproposer"
	// DefaultSlot is the physical replication slot on the primary.
	DefaultSlot = "walproposer"
	// DefaultPgVersion is sent in greetings when no primary is given (sync
	// mode recovering from donors only).
	DefaultPgVersion = 150000
)

// ErrConfig: the Config cannot work.
var ErrConfig = errors.New("walproposer: bad config")

// Config is everything a Proposer needs; cmd/walproposer fills it from flags.
type Config struct {
	// Safekeepers are the walkeepers' libpq addresses, host:port.
	Safekeepers []string
	TenantID    ids.TenantID
	TimelineID  ids.TimelineID
	// Token, if set, is the JWT sent to walkeepers as the password.
	Token string
	// Primary is a libpq conninfo of the PostgreSQL primary (replication is
	// switched on here). In sync mode it may be empty: WAL a walkeeper
	// lacks then comes from the donor walkeeper.
	Primary string
	// AppName is the application_name of the connection that reports the
	// quorum commit as flush position; default DefaultAppName.
	AppName string
	// Slot is the physical slot that connection uses ("" = DefaultSlot,
	// "-" = none).
	Slot string
	// StartLSN is the timeline start for a new timeline; zero means the
	// first record boundary of the primary's current segment.
	StartLSN pgwal.LSN
	// SyncSafekeepers: elect, bring a quorum to a common end, return it.
	SyncSafekeepers bool
	// PgVersion is sent in greetings when there is no primary to ask.
	PgVersion uint32
	// ReconnectTimeout and ConnectTimeout: see the defaults.
	ReconnectTimeout time.Duration
	ConnectTimeout   time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if len(c.Safekeepers) == 0 || len(c.Safekeepers) > 31 {
		return fmt.Errorf("%w: %d safekeepers (1..31)", ErrConfig, len(c.Safekeepers))
	}
	if c.TenantID.IsZero() || c.TimelineID.IsZero() {
		return fmt.Errorf("%w: tenant and timeline ids are required", ErrConfig)
	}
	if c.Primary == "" && !c.SyncSafekeepers {
		return fmt.Errorf("%w: a primary conninfo is required outside sync mode", ErrConfig)
	}
	if c.AppName == "" {
		c.AppName = DefaultAppName
	}
	switch c.Slot {
	case "":
		c.Slot = DefaultSlot
	case "-":
		c.Slot = ""
	}
	if c.PgVersion == 0 {
		c.PgVersion = DefaultPgVersion
	}
	if c.ReconnectTimeout <= 0 {
		c.ReconnectTimeout = DefaultReconnectTimeout
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return nil
}
