package walstore

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"

	"github.com/walkeeper/walkeeper/pgwal"
)

// Store is the WAL of one timeline on local disk. Write, Flush, Truncate,
// InitializeFirstSegment and Close must be called from one goroutine; the
// position getters may be called from any goroutine.
type Store struct {
	cfg Config
	log *slog.Logger

	// Positions (storage-and-operations §1.4), written by the writer
	// goroutine only and read by anyone.
	writeLSN, writeRecordLSN, flushLSN, flushRecordLSN atomic.Uint64

	// The database identity for synthetic page headers and the page
	// magic. A greeting may set them after Open (a timeline created over
	// HTTP learns its system id from the first compute), and readers are
	// made on other goroutines, so they live outside the immutable cfg.
	systemID  atomic.Uint64
	pgVersion atomic.Uint32

	pending atomic.Bool // pending_wal_truncation: writes refused
	err     error       // sticky: a write or sync failed, nothing more is acknowledged
	closed  bool

	cur    *os.File // the .partial being written, nil if none is open
	curSeg uint64

	// Early writeback (startWriteback): the segment and the offset in it
	// below which the kernel was last asked to start writing.
	wbSeg    uint64
	wbFrom   uint64
	wbFailed bool // a writeback request failed (logged once)

	dec     recordDecoder // nil until the first Write after a (re)start
	decNext pgwal.LSN     // LSN of the next byte the decoder expects

	pre    *preallocator
	syncer *syncer
}

// Open loads the WAL in cfg.Dir. With commitLSN == 0 every position is 0;
// otherwise WAL is decoded from commitLSN (a record boundary; if it is not
// one, from the record start before it, never below timelineStartLSN) to
// find the end of the last valid record, which becomes every position. A torn tail
// is ignored (the next Truncate removes it); invalid WAL followed by valid
// WAL is reported as ErrCorrupt. Writes are refused until Truncate succeeds.
func Open(cfg Config, commitLSN, timelineStartLSN pgwal.LSN) (*Store, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, log: cfg.logger(), syncer: &syncer{noSync: cfg.NoSync}, wbSeg: noSegment}
	s.systemID.Store(cfg.SystemID)
	s.pgVersion.Store(cfg.PGVersion)
	s.pending.Store(true)
	if commitLSN != 0 {
		end, err := findEnd(&s.cfg, s.log, commitLSN, timelineStartLSN)
		if err != nil {
			return nil, err
		}
		if err := syncRange(&s.cfg, s.syncer, commitLSN, end); err != nil {
			return nil, err
		}
		s.setAll(end)
		s.log.Info("found end of WAL", "commit_lsn", commitLSN, "end_lsn", end, "timeline_start_lsn", timelineStartLSN)
	}
	s.pre = newPreallocator(cfg.Dir, cfg.SegSize, s.syncer, cfg.Metrics)
	return s, nil
}

// syncRange fsyncs the segment files holding [from, to): recovered WAL is
// reported as flushed, so it must be durable even if the previous process
// died before its fdatasync (Neon relies on a syncfs at start instead).
func syncRange(cfg *Config, y *syncer, from, to pgwal.LSN) error {
	if to <= from {
		return nil
	}
	for n := from.SegmentNumber(cfg.SegSize); n <= (to - 1).SegmentNumber(cfg.SegSize); n++ {
		f, err := openForRead(cfg.Dir, n, cfg.SegSize)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		err = y.fsync(f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) setAll(l pgwal.LSN) {
	s.writeLSN.Store(uint64(l))
	s.writeRecordLSN.Store(uint64(l))
	s.flushLSN.Store(uint64(l))
	s.flushRecordLSN.Store(uint64(l))
}

// WriteLSN is the end of the bytes handed to the OS; it may be mid-record.
func (s *Store) WriteLSN() pgwal.LSN { return pgwal.LSN(s.writeLSN.Load()) }

// WriteRecordLSN is the record-aligned end of the last complete record
// written. After an XLOG_SWITCH it is the next segment's start and may
// exceed WriteLSN until the padding arrives.
func (s *Store) WriteRecordLSN() pgwal.LSN { return pgwal.LSN(s.writeRecordLSN.Load()) }

// FlushLSN is the end of the last complete record known durable: what the
// rest of walkeeper calls flush_lsn.
func (s *Store) FlushLSN() pgwal.LSN { return pgwal.LSN(s.flushRecordLSN.Load()) }

// FlushRecordLSN is the same as FlushLSN, under Neon's field name.
func (s *Store) FlushRecordLSN() pgwal.LSN { return pgwal.LSN(s.flushRecordLSN.Load()) }

// RawFlushLSN is the end of the bytes known durable; it may be mid-record.
func (s *Store) RawFlushLSN() pgwal.LSN { return pgwal.LSN(s.flushLSN.Load()) }

// TruncationPending reports whether writes are refused until a Truncate.
func (s *Store) TruncationPending() bool { return s.pending.Load() }

// usable returns the sticky error, ErrClosed, or nil.
func (s *Store) usable() error {
	if s.closed {
		return ErrClosed
	}
	return s.err
}

// poison makes err sticky: after a failed write or sync nothing more may
// be acknowledged (the page cache may have dropped the failed pages).
func (s *Store) poison(err error) error {
	if s.err == nil {
		s.err = fmt.Errorf("walstore poisoned: %w", err)
		s.log.Error("WAL I/O failed, refusing further writes", "err", err, "write_lsn", s.WriteLSN())
	}
	return s.err
}

// Close closes the open segment without syncing it (call Flush first) and
// stops the preallocation goroutine. It is idempotent.
func (s *Store) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.pre.close()
	if s.cur != nil {
		err := s.cur.Close()
		s.cur = nil
		return err
	}
	return nil
}

// SetServerInfo records the database's system id and PG_VERSION_NUM after a
// greeting changed them; pgVersion 0 keeps the current version. Synthetic
// page headers written or read from now on carry them. Safe to call from
// any goroutine.
func (s *Store) SetServerInfo(systemID uint64, pgVersion uint32) {
	s.systemID.Store(systemID)
	if pgVersion != 0 {
		s.pgVersion.Store(pgVersion)
	}
}

// config is cfg with the current server identity.
func (s *Store) config() Config {
	c := s.cfg
	c.SystemID = s.systemID.Load()
	c.PGVersion = s.pgVersion.Load()
	return c
}
