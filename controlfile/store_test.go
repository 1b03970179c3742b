package controlfile

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/pgwal"
)

type countObserver struct{ n int }

func (c *countObserver) Observe(float64) { c.n++ }

// storeState is layoutState made Present, as Create requires.
func storeState() *State {
	s := layoutState()
	s.Eviction = EvictionState{}
	return s
}

func newTestStore(t *testing.T) (*Store, *countObserver) {
	t.Helper()
	st, err := Create(t.TempDir(), storeState(), true)
	if err != nil {
		t.Fatal(err)
	}
	obs := &countObserver{}
	st.PersistSeconds = obs
	return st, obs
}

func onDisk(t *testing.T, st *Store) *State {
	t.Helper()
	s, err := Load(st.Dir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreCreateOpen(t *testing.T) {
	t.Parallel()
	st, _ := newTestStore(t)
	re, err := Open(st.Dir(), false)
	if err != nil {
		t.Fatal(err)
	}
	p, want := re.Persisted(), storeState()
	compareFields(t, &p, want)
	s := re.State()
	compareFields(t, &s, want)

	off := layoutState()
	if _, err := Create(t.TempDir(), off, true); !errors.Is(err, ErrOffloadedCreate) {
		t.Fatalf("create offloaded: %v", err)
	}
	off.Eviction = EvictionState{}
	if _, err := Create(t.TempDir(), off, false); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.TempDir(), true); err == nil {
		t.Fatal("open of an empty dir succeeded")
	}
}

func TestStoreOverlay(t *testing.T) {
	t.Parallel()
	st, obs := newTestStore(t)
	base := storeState()
	before, _ := readControl(st.Dir())

	st.SetCommitLSN(base.CommitLSN + 100)
	st.SetBackupLSN(base.BackupLSN + 1)
	st.SetPeerHorizonLSN(base.PeerHorizonLSN + 2)
	st.SetRemoteConsistentLSN(base.RemoteConsistentLSN + 3)
	st.SetProposerUUID([16]byte{9})
	st.Overlay().CommitLSN += 8

	cur, pers := st.State(), st.Persisted()
	if cur.CommitLSN != base.CommitLSN+108 || cur.BackupLSN != base.BackupLSN+1 ||
		cur.PeerHorizonLSN != base.PeerHorizonLSN+2 || cur.RemoteConsistentLSN != base.RemoteConsistentLSN+3 ||
		cur.ProposerUUID != [16]byte{9} {
		t.Fatalf("overlay not applied: %+v", cur)
	}
	compareFields(t, &pers, base)
	if after, _ := readControl(st.Dir()); !bytes.Equal(before, after) || obs.n != 0 {
		t.Fatal("overlay setters wrote the file")
	}

	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	if obs.n != 1 {
		t.Fatalf("flush persisted %d times", obs.n)
	}
	compareFields(t, onDisk(t, st), &cur)
	if err := st.Flush(); err != nil || obs.n != 1 {
		t.Fatalf("second flush: %v, %d persists", err, obs.n)
	}
}

func TestStoreUpdate(t *testing.T) {
	t.Parallel()
	st, obs := newTestStore(t)
	st.SetCommitLSN(0x5_0000_0000)
	t0 := st.LastPersistAt()
	time.Sleep(2 * time.Millisecond)

	// A real change persists, together with the overlay values.
	if err := st.Update(func(s *State) { s.Acceptor.Term = 99 }); err != nil {
		t.Fatal(err)
	}
	d := onDisk(t, st)
	if obs.n != 1 || d.Acceptor.Term != 99 || d.CommitLSN != 0x5_0000_0000 {
		t.Fatalf("after update: %d persists, %+v", obs.n, d)
	}
	if !st.LastPersistAt().After(t0) {
		t.Fatal("last persist time not updated by persist")
	}

	// No change: no write.
	if err := st.Update(func(s *State) {}); err != nil || obs.n != 1 {
		t.Fatalf("no-op update: %v, %d persists", err, obs.n)
	}

	// The update function sees a copy: keeping slices does not alias.
	var kept TermHistory
	if err := st.Update(func(s *State) {
		s.Acceptor.TermHistory = append(s.Acceptor.TermHistory, TermLsn{Term: 100, LSN: 0x6_0000_0000})
		kept = s.Acceptor.TermHistory
	}); err != nil {
		t.Fatal(err)
	}
	kept[0].Term = 12345
	if p := st.Persisted(); p.Acceptor.TermHistory[0].Term == 12345 {
		t.Fatal("persisted copy aliases the update's slice")
	}
	p := st.Persisted()
	p.Acceptor.TermHistory[0].Term = 777
	if st.Persisted().Acceptor.TermHistory[0].Term == 777 {
		t.Fatal("Persisted returned an alias")
	}

	// Overlay takes the updated values.
	if err := st.Update(func(s *State) { s.CommitLSN = 0x7_0000_0000 }); err != nil {
		t.Fatal(err)
	}
	if st.Overlay().CommitLSN != 0x7_0000_0000 {
		t.Fatal("overlay not refreshed")
	}

	// A failed persist changes nothing.
	n := obs.n
	if err := os.RemoveAll(st.Dir()); err != nil {
		t.Fatal(err)
	}
	st.SetBackupLSN(0x9_0000_0000)
	if err := st.Update(func(s *State) { s.Acceptor.Term = 1000 }); err == nil {
		t.Fatal("persist into a removed dir succeeded")
	}
	if st.Persisted().Acceptor.Term != 99 || st.State().Acceptor.Term != 99 || obs.n != n ||
		st.Overlay().BackupLSN != 0x9_0000_0000 || st.Persisted().BackupLSN == 0x9_0000_0000 {
		t.Fatalf("state changed by a failed persist: %+v", st.State())
	}
}

func TestStoreSaveDue(t *testing.T) {
	t.Parallel()
	const seg = 16 << 20
	const interval = DefaultSaveInterval
	st, _ := newTestStore(t)
	last := st.LastPersistAt()
	base := st.Persisted()

	check := func(name string, now time.Time, wantDue bool, wantNext time.Time) {
		t.Helper()
		due, next := st.SaveDue(now, interval, seg)
		if due != wantDue || !next.Equal(wantNext) {
			t.Fatalf("%s: got (%v, %v), want (%v, %v)", name, due, next, wantDue, wantNext)
		}
	}
	check("nothing pending", last.Add(time.Hour), false, time.Time{})
	st.SetProposerUUID([16]byte{1})
	check("uuid only is not pending", last.Add(time.Hour), false, time.Time{})
	st.SetCommitLSN(base.CommitLSN - 8)
	check("overlay behind is not pending", last.Add(time.Hour), false, time.Time{})

	st.SetCommitLSN(base.CommitLSN + seg - 8)
	check("pending, recent", last.Add(time.Second), false, last.Add(interval))
	check("pending, exactly interval", last.Add(interval), false, last.Add(interval))
	check("pending, interval passed", last.Add(interval+time.Millisecond), true, time.Time{})
	st.SetCommitLSN(base.CommitLSN + seg)
	check("commit lag one segment", last.Add(time.Second), true, time.Time{})

	st.SetCommitLSN(base.CommitLSN)
	for _, set := range []func(pgwal.LSN){st.SetBackupLSN, st.SetPeerHorizonLSN, st.SetRemoteConsistentLSN} {
		cur := st.State()
		set(cur.BackupLSN + cur.PeerHorizonLSN + cur.RemoteConsistentLSN + 1) // ahead of each
		check("other lsn pending", last.Add(time.Second), false, last.Add(interval))
		if err := st.Flush(); err != nil {
			t.Fatal(err)
		}
		last = st.LastPersistAt()
	}
	// Every persist moves the base of the interval (Neon's quirk fixed).
	st.SetCommitLSN(st.Persisted().CommitLSN + 8)
	check("after flush", last.Add(time.Second), false, last.Add(interval))
}

func TestStorePeerInfoSaveDue(t *testing.T) {
	t.Parallel()
	const seg = 16 << 20
	st, _ := newTestStore(t)
	p := st.Persisted()
	if st.PeerInfoSaveDue(seg) {
		t.Fatal("due with nothing changed")
	}
	st.SetBackupLSN(p.BackupLSN + seg)
	if st.PeerInfoSaveDue(seg) {
		t.Fatal("due at exactly one segment")
	}
	st.SetBackupLSN(p.BackupLSN + seg + 1)
	if !st.PeerInfoSaveDue(seg) {
		t.Fatal("not due beyond one segment")
	}
	st.SetBackupLSN(p.BackupLSN)
	st.SetRemoteConsistentLSN(p.RemoteConsistentLSN + seg + 1)
	if !st.PeerInfoSaveDue(seg) {
		t.Fatal("remote_consistent_lsn not counted")
	}
	st.SetRemoteConsistentLSN(p.RemoteConsistentLSN)
	st.SetPeerHorizonLSN(p.PeerHorizonLSN + seg + 1)
	if !st.PeerInfoSaveDue(seg) {
		t.Fatal("peer_horizon_lsn not counted")
	}
}

func TestTermHistory(t *testing.T) {
	t.Parallel()
	h := TermHistory{{1, 0x100}, {3, 0x200}, {5, 0x300}}
	for _, tc := range []struct {
		flush    pgwal.LSN
		wantLen  int
		wantTerm uint64
	}{
		{0, 0, 0}, {0xFF, 0, 0}, {0x100, 1, 1}, {0x1FF, 1, 1}, {0x200, 2, 3}, {0x300, 3, 5}, {0xFFFF, 3, 5},
	} {
		up := h.UpTo(tc.flush)
		if len(up) != tc.wantLen || h.LastLogTerm(tc.flush) != tc.wantTerm {
			t.Errorf("flush %s: UpTo %v, LastLogTerm %d", tc.flush, up, h.LastLogTerm(tc.flush))
		}
	}
	up := h.UpTo(0x300)
	up[0].Term = 42
	if h[0].Term != 1 {
		t.Fatal("UpTo aliases the history")
	}
	a := AcceptorState{Term: 5, TermHistory: h}
	if a.LastLogTerm(0x250) != 3 {
		t.Fatal("AcceptorState.LastLogTerm")
	}
	if (TermHistory(nil)).LastLogTerm(1) != 0 {
		t.Fatal("empty history")
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	ttid := ids.TTID{Tenant: ids.MustParse(tenantHex), Timeline: ids.MustParse(timelineHex)}
	srv := ServerInfo{PGVersion: 170005, SystemID: 7, WalSegSize: 16 << 20}
	mconf := Configuration{Generation: 1, Members: MemberSet{{ID: 1, Host: "a", PgPort: 5454}}}
	now := time.Unix(1700000000, 5).UTC()

	s, err := New(ttid, mconf, srv, 0x1000028, 0x1000100, now)
	if err != nil {
		t.Fatal(err)
	}
	want := &State{TenantID: ttid.Tenant, TimelineID: ttid.Timeline, MConf: mconf,
		Acceptor: AcceptorState{TermHistory: TermHistory{{0, 0x1000028}}}, Server: srv,
		TimelineStartLSN: 0x1000028, LocalStartLSN: 0x1000028, CommitLSN: 0x1000100,
		BackupLSN: 0x1000028, PeerHorizonLSN: 0x1000028, CreationTS: now}
	compareFields(t, s, want)

	// Created by a compute: no LSNs, empty history, generation 0.
	s, err = New(ttid, Configuration{}, srv, 0, 0, now)
	if err != nil || len(s.Acceptor.TermHistory) != 0 || s.MConf.Generation != 0 {
		t.Fatalf("compute creation: %+v, %v", s, err)
	}

	for name, f := range map[string]func() error{
		"no seg size":   func() error { _, err := New(ttid, mconf, ServerInfo{PGVersion: 1}, 0, 0, now); return err },
		"no pg version": func() error { _, err := New(ttid, mconf, ServerInfo{WalSegSize: 16 << 20}, 0, 0, now); return err },
		"seg size not a power of two": func() error {
			_, err := New(ttid, mconf, ServerInfo{PGVersion: 1, WalSegSize: 12345 << 10}, 0, 0, now)
			return err
		},
		"seg size below 1 MiB": func() error {
			_, err := New(ttid, mconf, ServerInfo{PGVersion: 1, WalSegSize: 512 << 10}, 0, 0, now)
			return err
		},
		"seg size above 1 GiB": func() error {
			_, err := New(ttid, mconf, ServerInfo{PGVersion: 1, WalSegSize: 2 << 30}, 0, 0, now)
			return err
		},
		"commit below start": func() error { _, err := New(ttid, mconf, srv, 0x200, 0x100, now); return err },
		"start misaligned":   func() error { _, err := New(ttid, mconf, srv, 0x1000029, 0x1000030, now); return err },
		"start in a header":  func() error { _, err := New(ttid, mconf, srv, 0x1002008, 0x1002030, now); return err },
		"commit misaligned":  func() error { _, err := New(ttid, mconf, srv, 0x1000028, 0x1000031, now); return err },
	} {
		if err := f(); !errors.Is(err, ErrInvalidInitialState) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestMembership(t *testing.T) {
	t.Parallel()
	c := Configuration{Generation: 2, Members: MemberSet{{ID: 1}, {ID: 2}}, NewMembers: MemberSet{{ID: 3}}}
	if !c.Contains(1) || c.Contains(3) {
		t.Fatal("Contains without new members")
	}
	c.HasNewMembers = true
	if !c.Contains(3) || c.Contains(4) {
		t.Fatal("Contains with new members")
	}
	a := Configuration{Generation: 1, NewMembers: MemberSet{{ID: 9}}}
	b := Configuration{Generation: 1, Members: MemberSet{}}
	if !a.Equal(&b) {
		t.Fatal("NewMembers without HasNewMembers must be ignored; nil == empty")
	}
	cl := c.Clone()
	cl.Members[0].Host = "x"
	if c.Members[0].Host == "x" {
		t.Fatal("Clone aliases")
	}
}

// TestStoreUpdateAfterFailedPersist: a persist can fail after its rename
// (at the directory fsync), leaving the new state on disk while the Store
// keeps the old one. The next Update must then write the file again even
// though its state equals the persisted copy, so that disk and memory
// agree.
func TestStoreUpdateAfterFailedPersist(t *testing.T) {
	t.Parallel()
	st, _ := newTestStore(t)
	if err := st.Update(func(s *State) { s.Acceptor.Term = 4 }); err != nil {
		t.Fatal(err)
	}
	errSync := errors.New("fsync of the directory failed")
	st.persistFile = func(dir string, s *State, noSync bool) error {
		if err := Persist(dir, s, noSync); err != nil {
			t.Fatal(err)
		}
		return errSync
	}
	if err := st.Update(func(s *State) { s.Acceptor.Term = 5 }); !errors.Is(err, errSync) {
		t.Fatalf("update: %v, want the injected error", err)
	}
	if got := onDisk(t, st).Acceptor.Term; got != 5 {
		t.Fatalf("on disk after the failed persist: term %d, want 5 (written before the failure)", got)
	}
	if got := st.State().Acceptor.Term; got != 4 {
		t.Fatalf("in memory after the failed persist: term %d, want 4", got)
	}
	st.persistFile = nil
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := onDisk(t, st).Acceptor.Term; got != 4 {
		t.Fatalf("on disk after the next Update: term %d, want 4, as in memory", got)
	}
	// Once they agree, an Update without changes writes nothing again.
	before := st.LastPersistAt()
	time.Sleep(2 * time.Millisecond)
	if err := st.Flush(); err != nil || st.LastPersistAt() != before {
		t.Fatalf("no-op Flush after recovery: %v, persisted again: %v", err, st.LastPersistAt() != before)
	}
}
