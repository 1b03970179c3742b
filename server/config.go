package server

import (
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/walkeeper/walkeeper/interpreted"
	"github.com/walkeeper/walkeeper/replication"
)

// Defaults, as Neon's safekeeper has them.
const (
	DefaultListenPG   = "127.0.0.1:5454"
	DefaultListenHTTP = "127.0.0.1:7676"
	DefaultLogFormat  = "plain"
)

// Config is every setting of a walkeeper process; cmd/walkeeper fills it
// from flags with Neon's names.
type Config struct {
	// DataDir holds safekeeper.pid, safekeeper.id and the timelines.
	DataDir string
	// ID is --id; 0 means not given (the stored id is used).
	ID uint64
	// Init writes the id file and returns without serving (--init).
	Init bool
	// ListenPG is the WAL service address (libpq).
	ListenPG string
	// ListenPGTenantOnly is an optional second libpq listener that accepts
	// only tenant-scoped tokens.
	ListenPGTenantOnly string
	// ListenHTTP is the HTTP API address.
	ListenHTTP string
	// NoSync skips every fsync (tests only).
	NoSync bool
	// PGAuthKeyPath, PGTenantOnlyAuthKeyPath and HTTPAuthKeyPath are
	// Ed25519 PEM files or directories; empty disables auth there.
	PGAuthKeyPath           string
	PGTenantOnlyAuthKeyPath string
	HTTPAuthKeyPath         string
	// ControlFileSaveInterval is --control-file-save-interval: how long an
	// in-memory control-file change may wait before the timeline manager
	// persists it (zero means controlfile.DefaultSaveInterval, 300 s).
	ControlFileSaveInterval time.Duration
	// InterpretedHeapLayout is --interpreted-heap-layout: how interpreted
	// readers parse PostgreSQL 14/15 heap records, HeapLayoutNeon (the zero
	// value) for Neon computes, HeapLayoutVanilla for upstream PostgreSQL.
	InterpretedHeapLayout interpreted.HeapLayout
	// WALReaderFanout is --wal-reader-fanout: sharded interpreted readers
	// of one timeline share one WAL decode (replication.md §6.12).
	WALReaderFanout bool
	// MaxDeltaForFanout is --max-delta-for-fanout: a stream joins a shared
	// reader only within this many bytes of it (0: any distance).
	MaxDeltaForFanout uint64
	// ReplicationSendfile is --replication-sendfile: when raw
	// START_REPLICATION streams send WAL with sendfile (auto, the zero
	// value: except to loopback clients; on; off).
	ReplicationSendfile replication.ZeroCopyMode
	// ReplicationYieldMax is --replication-yield-max: how long a
	// timeline's replication senders may hold back, until they have caught
	// up again, while its WalAcceptors have appends queued (zero means
	// replication.DefaultYieldMax; negative: never hold back; at most
	// replication.IdleTimeout, 1 s, since a yielding sender sends no
	// keepalives).
	ReplicationYieldMax time.Duration
	// AvailabilityZone is --availability-zone, this safekeeper's zone: the
	// sk_az label of safekeeper_pg_io_bytes_total, whose same_az compares
	// it with each client's availability_zone option ("" : unknown).
	AvailabilityZone string
	// LogFormat is "plain" or "json".
	LogFormat string
	// LogOutput defaults to os.Stdout; Logger, if set, overrides both.
	LogOutput io.Writer
	Logger    *slog.Logger
	// Ready, if set, is called once every listener is bound.
	Ready func(Addrs)
}

// Addrs are the bound listener addresses (useful with port 0).
type Addrs struct {
	PG           net.Addr
	PGTenantOnly net.Addr // nil when not configured
	HTTP         net.Addr
}

func (c *Config) setDefaults() {
	if c.DataDir == "" {
		c.DataDir = "."
	}
	if c.ListenPG == "" {
		c.ListenPG = DefaultListenPG
	}
	if c.ListenHTTP == "" {
		c.ListenHTTP = DefaultListenHTTP
	}
	if c.LogFormat == "" {
		c.LogFormat = DefaultLogFormat
	}
}
