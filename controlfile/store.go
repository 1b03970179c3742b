package controlfile

import (
	"errors"
	"fmt"
	"time"

	"github.com/walkeeper/walkeeper/pgwal"
)

// DefaultSaveInterval is Neon's --control-file-save-interval default.
const DefaultSaveInterval = 300 * time.Second

// Observer receives the duration of each persist in seconds;
// prometheus.Observer (a Histogram for
// safekeeper_persist_control_file_seconds) satisfies it.
type Observer interface{ Observe(float64) }

// Overlay holds the fields that change often and are saved lazily
// (state::TimelineMemState). Its values are the current ones; the persisted
// copy may lag behind.
type Overlay struct {
	CommitLSN           pgwal.LSN
	BackupLSN           pgwal.LSN
	PeerHorizonLSN      pgwal.LSN
	RemoteConsistentLSN pgwal.LSN
	ProposerUUID        [16]byte
}

func overlayOf(s *State) Overlay {
	return Overlay{s.CommitLSN, s.BackupLSN, s.PeerHorizonLSN, s.RemoteConsistentLSN, s.ProposerUUID}
}

func (o *Overlay) applyTo(s *State) {
	s.CommitLSN, s.BackupLSN, s.PeerHorizonLSN = o.CommitLSN, o.BackupLSN, o.PeerHorizonLSN
	s.RemoteConsistentLSN, s.ProposerUUID = o.RemoteConsistentLSN, o.ProposerUUID
}

// ErrOffloadedCreate is returned by Create for a state that is not Present.
var ErrOffloadedCreate = errors.New("cannot create a timeline in offloaded state")

// Store is one timeline's control file: the persisted copy plus the
// in-memory overlay (state::TimelineState over control_file::FileStorage).
//
// A Store is not safe for concurrent use: it is owned by one timeline, whose
// lock serializes every call, reads included.
type Store struct {
	dir         string
	noSync      bool
	persisted   State
	overlay     Overlay
	lastPersist time.Time
	// unsure is set by a failed persist: the file may hold the state that
	// failed (a write can fail after its rename, at the directory fsync),
	// so the next Update writes even if nothing differs from persisted.
	unsure bool
	// persistFile writes the file; Persist, except in tests.
	persistFile func(dir string, s *State, noSync bool) error

	// PersistSeconds, if not nil, observes the duration of every persist
	// made through the Store (not the one inside Create).
	PersistSeconds Observer
}

// Create persists s as a new control file in dir and returns its Store.
func Create(dir string, s *State, noSync bool) (*Store, error) {
	if s.Eviction.Offloaded {
		return nil, ErrOffloadedCreate
	}
	if err := Persist(dir, s, noSync); err != nil {
		return nil, err
	}
	return newStore(dir, s.Clone(), noSync), nil
}

// Open loads the control file in dir.
func Open(dir string, noSync bool) (*Store, error) {
	s, err := Load(dir)
	if err != nil {
		return nil, err
	}
	return newStore(dir, *s, noSync), nil
}

func newStore(dir string, s State, noSync bool) *Store {
	return &Store{dir: dir, noSync: noSync, persisted: s, overlay: overlayOf(&s), lastPersist: time.Now()}
}

// Dir is the timeline directory holding the file.
func (st *Store) Dir() string { return st.dir }

// Persisted returns a copy of the state as it is on disk.
func (st *Store) Persisted() State { return st.persisted.Clone() }

// State returns a copy of the persisted state with the overlay applied: the
// current state ("start change").
func (st *Store) State() State {
	s := st.persisted.Clone()
	st.overlay.applyTo(&s)
	return s
}

// Overlay returns the overlay for direct changes; they reach disk on the
// next Update or Flush.
func (st *Store) Overlay() *Overlay { return &st.overlay }

// SetCommitLSN sets the in-memory commit_lsn.
func (st *Store) SetCommitLSN(l pgwal.LSN) { st.overlay.CommitLSN = l }

// SetBackupLSN sets the in-memory backup_lsn.
func (st *Store) SetBackupLSN(l pgwal.LSN) { st.overlay.BackupLSN = l }

// SetPeerHorizonLSN sets the in-memory peer_horizon_lsn.
func (st *Store) SetPeerHorizonLSN(l pgwal.LSN) { st.overlay.PeerHorizonLSN = l }

// SetRemoteConsistentLSN sets the in-memory remote_consistent_lsn.
func (st *Store) SetRemoteConsistentLSN(l pgwal.LSN) { st.overlay.RemoteConsistentLSN = l }

// SetProposerUUID sets the in-memory proposer_uuid.
func (st *Store) SetProposerUUID(u [16]byte) { st.overlay.ProposerUUID = u }

// LastPersistAt is when the file was last written, or loaded. Unlike Neon
// (whose last_persist_at is set only at load), every persist updates it.
func (st *Store) LastPersistAt() time.Time { return st.lastPersist }

// Update applies fn to the current state and persists the result if it
// differs from the persisted copy; then the overlay takes the result's
// values ("start change → modify → finish change"). On a persist error
// nothing changes in memory, and the next Update writes the file whether
// or not its state differs, since the failed write may have reached the
// disk. fn must not keep s.
func (st *Store) Update(fn func(s *State)) error {
	s := st.State()
	if fn != nil {
		fn(&s)
	}
	if st.unsure || !s.Equal(&st.persisted) {
		if err := st.persist(&s); err != nil {
			st.unsure = true
			return err
		}
		st.unsure = false
		st.persisted = s.Clone()
	}
	st.overlay = overlayOf(&s)
	return nil
}

// Flush persists the overlay values if they differ from the persisted ones.
func (st *Store) Flush() error { return st.Update(nil) }

func (st *Store) persist(s *State) error {
	start := time.Now()
	write := st.persistFile
	if write == nil {
		write = Persist
	}
	if err := write(st.dir, s, st.noSync); err != nil {
		return err
	}
	if st.PersistSeconds != nil {
		st.PersistSeconds.Observe(time.Since(start).Seconds())
	}
	st.lastPersist = time.Now()
	return nil
}

// FlushPending reports whether an overlay LSN is ahead of its persisted
// value (the timeline manager's inmem_flush_pending; proposer_uuid alone
// does not count).
func (st *Store) FlushPending() bool {
	p, o := &st.persisted, &st.overlay
	return o.CommitLSN > p.CommitLSN || o.BackupLSN > p.BackupLSN ||
		o.PeerHorizonLSN > p.PeerHorizonLSN || o.RemoteConsistentLSN > p.RemoteConsistentLSN
}

// SaveDue applies the timeline manager's periodic rule (§2.5): when a flush
// is pending, it is due if more than interval has passed since the last
// persist or the in-memory commit_lsn is at least segSize ahead of the
// persisted one; otherwise next is when to look again. With nothing pending
// it returns false and the zero time.
func (st *Store) SaveDue(now time.Time, interval time.Duration, segSize uint64) (due bool, next time.Time) {
	if !st.FlushPending() {
		return false, time.Time{}
	}
	lag := uint64(0)
	if st.overlay.CommitLSN > st.persisted.CommitLSN {
		lag = uint64(st.overlay.CommitLSN - st.persisted.CommitLSN)
	}
	if now.Sub(st.lastPersist) > interval || lag >= segSize {
		return true, time.Time{}
	}
	return false, st.lastPersist.Add(interval)
}

// PeerInfoSaveDue is the rule for LSNs learned from peers or the broker:
// persist now if the in-memory backup_lsn, remote_consistent_lsn or
// peer_horizon_lsn is more than segSize ahead of its persisted value.
func (st *Store) PeerInfoSaveDue(segSize uint64) bool {
	p, o := &st.persisted, &st.overlay
	ahead := func(mem, disk pgwal.LSN) bool { return uint64(disk)+segSize < uint64(mem) }
	return ahead(o.BackupLSN, p.BackupLSN) || ahead(o.RemoteConsistentLSN, p.RemoteConsistentLSN) ||
		ahead(o.PeerHorizonLSN, p.PeerHorizonLSN)
}

// String names the store for logs.
func (st *Store) String() string { return fmt.Sprintf("control file in %s", st.dir) }
