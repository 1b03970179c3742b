package timeline

import (
	"time"

	"github.com/walkeeper/walkeeper/controlfile"
)

// ManagerTick is how often the manager looks at a timeline: Neon's manager
// reacts to state changes at most once per 300 ms.
const ManagerTick = 300 * time.Millisecond

// Counter is what the manager needs from a prometheus.Counter.
type Counter interface{ Inc() }

// ManagerConfig configures the per-timeline manager (timeline_manager.rs,
// §3.3). Of Neon's duties it does the control-file save rule (§2.5); WAL
// backup, removal and eviction do not exist here yet.
type ManagerConfig struct {
	// SaveInterval is --control-file-save-interval: with an overlay value
	// ahead of disk, the control file is saved once this much time has
	// passed since the last persist. Zero means controlfile.DefaultSaveInterval.
	SaveInterval time.Duration
	// Tick is how often the manager looks; zero means ManagerTick.
	Tick time.Duration
	// Iterations counts safekeeper_manager_iterations_total; nil skips.
	Iterations Counter
}

// startManager runs the timeline's manager in its own goroutine. It holds
// the gate for its whole life, so deletion waits for it, and stops when the
// timeline is cancelled. It must be called before the timeline is shared.
func (tl *Timeline) startManager(cfg ManagerConfig) error {
	release, err := tl.Enter()
	if err != nil {
		return err
	}
	if cfg.Tick <= 0 {
		cfg.Tick = ManagerTick
	}
	if cfg.SaveInterval <= 0 {
		cfg.SaveInterval = controlfile.DefaultSaveInterval
	}
	segSize := uint64(tl.control.Persisted().Server.WalSegSize)
	go func() {
		defer release()
		tl.manage(cfg, segSize)
	}()
	return nil
}

func (tl *Timeline) manage(cfg ManagerConfig, segSize uint64) {
	tick := time.NewTicker(cfg.Tick)
	defer tick.Stop()
	for {
		select {
		case <-tl.ctx.Done():
			return
		case now := <-tick.C:
			if cfg.Iterations != nil {
				cfg.Iterations.Inc()
			}
			tl.saveControlIfDue(now, cfg.SaveInterval, segSize)
		}
	}
}

// saveControlIfDue applies §2.5's periodic rule under the timeline lock: a
// pending overlay change is persisted when the save interval has passed
// since the last persist, or when the in-memory commit_lsn is a segment or
// more ahead of the persisted one. A failure is logged; the next tick tries
// again.
func (tl *Timeline) saveControlIfDue(now time.Time, interval time.Duration, segSize uint64) {
	tl.Lock()
	defer tl.Unlock()
	if tl.wal == nil { // closed
		return
	}
	due, _ := tl.control.SaveDue(now, interval, segSize)
	if !due {
		return
	}
	if err := tl.control.Flush(); err != nil {
		tl.log.Error("periodic control file save failed", "err", err)
	}
}
