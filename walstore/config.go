package walstore

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/walkeeper/walkeeper/pgwal"
)

// Config describes one timeline's WAL directory.
type Config struct {
	Dir       string // the timeline directory; must exist
	SegSize   uint64 // wal_seg_size, normally pgwal.DefaultSegmentSize
	PGVersion uint32 // PG_VERSION_NUM, selects the page magic
	SystemID  uint64 // database system identifier, for synthetic page headers
	// NoSync turns off every fsync and fdatasync (walkeeper --no-sync) and
	// nothing else: writes, renames and their order stay the same.
	NoSync  bool
	Logger  *slog.Logger // nil discards
	Metrics *Metrics     // nil records nothing

	// decoder replaces the pgwal decoder in tests that use segment sizes
	// or record formats the real one does not accept.
	decoder decoderFactory
}

// Observer is the method walstore needs from a histogram; a
// prometheus.Observer (Histogram, or HistogramVec.WithLabelValues) fits.
type Observer interface{ Observe(float64) }

// Metrics receives timings and sizes. Field names follow Neon's metrics
// (storage-and-operations §4.4); nil fields are skipped.
type Metrics struct {
	WriteSeconds Observer // safekeeper_write_wal_seconds: one Write call
	WriteBytes   Observer // safekeeper_write_wal_bytes: bytes per Write call
	FlushSeconds Observer // safekeeper_flush_wal_seconds: each WAL fdatasync
	// OpSeconds returns the observer of
	// safekeeper_wal_storage_operation_seconds{operation=op}, op one of
	// OpInitializeSegment, OpInitializeFirstSegment, OpTruncateWAL.
	OpSeconds func(op string) Observer
}

// Operation label values of safekeeper_wal_storage_operation_seconds.
const (
	OpInitializeSegment      = "initialize_segment"
	OpInitializeFirstSegment = "initialize_first_segment"
	OpTruncateWAL            = "truncate_wal"
)

func (m *Metrics) observeSince(o Observer, start time.Time) {
	if m != nil && o != nil {
		o.Observe(time.Since(start).Seconds())
	}
}

func (m *Metrics) op(name string) Observer {
	if m == nil || m.OpSeconds == nil {
		return nil
	}
	return m.OpSeconds(name)
}

func (c *Config) check() error {
	minSeg := uint64(1 << 20) // PostgreSQL's minimum wal_segment_size
	if c.decoder != nil {
		minSeg = pgwal.XLogBlockSize
	}
	if c.SegSize < minSeg || c.SegSize&(c.SegSize-1) != 0 || c.SegSize > 1<<30 {
		return fmt.Errorf("walstore: invalid segment size %d", c.SegSize)
	}
	st, err := os.Stat(c.Dir)
	if err != nil {
		return fmt.Errorf("walstore: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("walstore: %s is not a directory", c.Dir)
	}
	return nil
}

func (c *Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
