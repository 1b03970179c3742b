package timeline

import (
	"errors"
	"fmt"

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
		Metrics:   cfg.WALMetrics,
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
