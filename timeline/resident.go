package timeline

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/walkeeper/walkeeper/acceptor"
	"github.com/walkeeper/walkeeper/walproto"
	"github.com/walkeeper/walkeeper/walstore"
)

// openResident opens the timeline's WAL store, which finds the end of WAL
// by decoding from the persisted commit_lsn, and builds its consensus core
// on the timeline's lock.
func (tl *Timeline) openResident(cfg Config) error {
	st := tl.control.Persisted()
	wal, err := walstore.Open(walstore.Config{
		Dir:       tl.Dir,
		SegSize:   uint64(st.Server.WalSegSize),
		PGVersion: st.Server.PGVersion,
		SystemID:  st.Server.SystemID,
		NoSync:    cfg.NoSync,
		Logger:    tl.log,
		Metrics:   tl.walMetrics(cfg.WALMetrics),
	}, st.CommitLSN, st.TimelineStartLSN)
	if err != nil {
		return fmt.Errorf("open WAL: %w", err)
	}
	tl.newWalSenders(cfg)
	core, err := acceptor.NewCore(acceptor.Config{
		NodeID:     cfg.NodeID,
		WAL:        wal,
		Control:    tl.control,
		HotStandby: tl.hotStandbyFeedback,
		Logger:     tl.log,
		Lock:       tl,
	})
	if err != nil {
		wal.Close()
		return err
	}
	tl.Lock()
	tl.wal, tl.core = wal, core
	tl.Unlock() // publishes the watches' first values
	return nil
}

// Core is the timeline's consensus state machine.
func (tl *Timeline) Core() *acceptor.Core { return tl.core }

// WAL is the timeline's WAL store. Readers (NewReader) may be used without
// the lock; writes go through the Core.
func (tl *Timeline) WAL() *walstore.Store { return tl.wal }

// Status is a consistent snapshot of the timeline's positions.
func (tl *Timeline) Status() acceptor.Status { return tl.core.Status() }

// SetHotStandbyFeedback installs the function that aggregates hot-standby
// feedback of the replicas streaming from this timeline; every
// AppendResponse carries its value.
func (tl *Timeline) SetHotStandbyFeedback(fn func() walproto.HotStandbyFeedback) {
	tl.hsMu.Lock()
	tl.hs = fn
	tl.hsMu.Unlock()
}

func (tl *Timeline) hotStandbyFeedback() walproto.HotStandbyFeedback {
	tl.hsMu.Lock()
	fn := tl.hs
	tl.hsMu.Unlock()
	if fn == nil {
		return walproto.HotStandbyFeedback{}
	}
	return fn()
}

// closeResident flushes what can be flushed and closes the WAL store. It
// runs after every user of the timeline has left.
func (tl *Timeline) closeResident() error {
	tl.Lock()
	defer tl.Unlock()
	if tl.wal == nil {
		return nil
	}
	err := tl.control.Flush()
	if cerr := tl.wal.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	tl.wal = nil
	return err
}

// walMetrics is the shared WAL metrics with per-timeline taps on the
// written byte count and the write and flush times
// (safekeeper_written_wal_bytes_total, _written_wal_seconds_total,
// _flushed_wal_seconds_total): one atomic add per call.
func (tl *Timeline) walMetrics(shared *walstore.Metrics) *walstore.Metrics {
	m := &walstore.Metrics{}
	if shared != nil {
		*m = *shared
	}
	m.WriteBytes = tap{next: m.WriteBytes, n: &tl.written, scale: 1}
	m.WriteSeconds = tap{next: m.WriteSeconds, n: &tl.writeNanos, scale: 1e9}
	m.FlushSeconds = tap{next: m.FlushSeconds, n: &tl.flushNanos, scale: 1e9}
	return m
}

// tap adds every observed value, times scale, to n and passes it on.
type tap struct {
	next  walstore.Observer
	n     *atomic.Uint64
	scale float64
}

func (w tap) Observe(v float64) {
	w.n.Add(uint64(v * w.scale))
	if w.next != nil {
		w.next.Observe(v)
	}
}

// WALCounters are a timeline's WAL figures since it was loaded.
type WALCounters struct {
	WrittenBytes   uint64
	WriteSeconds   float64 // in Write calls, segment initialization included
	FlushedSeconds float64 // in WAL fsyncs
}

// WrittenBytes is the number of WAL bytes written to this timeline since it
// was loaded.
func (tl *Timeline) WrittenBytes() uint64 { return tl.written.Load() }

// WALCounters returns the timeline's WAL figures since load.
func (tl *Timeline) WALCounters() WALCounters {
	return WALCounters{
		WrittenBytes:   tl.written.Load(),
		WriteSeconds:   float64(tl.writeNanos.Load()) / 1e9,
		FlushedSeconds: float64(tl.flushNanos.Load()) / 1e9,
	}
}
