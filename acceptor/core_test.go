package acceptor

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
)

type fixture struct {
	c   *Core
	wal *fakeWAL
	ctl *fakeControl
	ev  *eventLog
}

func newFixture(t testing.TB, st controlfile.State, wal *fakeWAL) *fixture {
	t.Helper()
	if wal == nil {
		wal = newFakeWAL()
	}
	ev := &eventLog{}
	ctl := newFakeControl(st)
	wal.events, ctl.events = ev, ev
	c, err := NewCore(Config{
		NodeID:     tvNode,
		WAL:        wal,
		Control:    ctl,
		HotStandby: func() walproto.HotStandbyFeedback { return walproto.HotStandbyFeedback{TS: 1, Xmin: 2, CatalogXmin: 3} },
	})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{c: c, wal: wal, ctl: ctl, ev: ev}
}

// electFresh wins term on a fresh timeline and starts it at start.
func (f *fixture) electFresh(t *testing.T, term uint64, start pgwal.LSN) {
	t.Helper()
	v, err := f.c.Vote(&walproto.VoteRequest{Generation: 1, Term: term})
	if err != nil || !v.VoteGiven {
		t.Fatalf("vote: %+v, %v", v, err)
	}
	err = f.c.Elected(&walproto.ProposerElected{Generation: 1, Term: term, StartStreamingAt: start,
		TermHistory: walproto.TermHistory{{Term: term, LSN: start}}})
	if err != nil {
		t.Fatalf("elected: %v", err)
	}
}

func (f *fixture) append(t *testing.T, term uint64, begin pgwal.LSN, n int, commit pgwal.LSN) (walproto.AppendResponse, bool) {
	t.Helper()
	resp, ok, err := f.c.Append(&walproto.AppendRequest{Generation: 1, Term: term, BeginLSN: begin,
		EndLSN: begin + pgwal.LSN(n), CommitLSN: commit, WAL: make([]byte, n)}, false)
	if err != nil {
		t.Fatalf("append at %s: %v", begin, err)
	}
	return resp, ok
}

func wantErr(t *testing.T, err, kind error, text string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error %v, want %v", err, kind)
	}
	if !strings.Contains(err.Error(), text) {
		t.Fatalf("error text %q does not contain %q", err, text)
	}
}

func greeting() *walproto.ProposerGreeting {
	return &walproto.ProposerGreeting{TenantID: tvTenant, TimelineID: tvTimeline, PgVersion: tvPG,
		SystemID: tvSystemID, WalSegSize: tvSegSize}
}

func TestGreetingChecks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		stored   uint32 // stored pg_version
		mutate   func(*walproto.ProposerGreeting)
		kind     error
		wantText string
	}{
		{"ok", tvPG, func(g *walproto.ProposerGreeting) {}, nil, ""},
		{"other minor version", tvPG, func(g *walproto.ProposerGreeting) { g.PgVersion = 170009 }, nil, ""},
		{"major mismatch", tvPG, func(g *walproto.ProposerGreeting) { g.PgVersion = 160002 },
			ErrServerVersion, "incompatible server version 160002, expected 170004"},
		{"unknown version in message", tvPG, func(g *walproto.ProposerGreeting) { g.PgVersion = 0 },
			ErrServerVersion, "InvalidPgVersion(0)"},
		{"PG18 refused", tvPG, func(g *walproto.ProposerGreeting) { g.PgVersion = 180000 },
			ErrServerVersion, "InvalidPgVersion(180000)"},
		// The reference's caveat: the unknown stored version is converted
		// before the exemption is looked at, so it is refused too.
		{"stored unknown version", 0, func(g *walproto.ProposerGreeting) {},
			ErrServerVersion, "InvalidPgVersion(0)"},
		{"tenant", tvPG, func(g *walproto.ProposerGreeting) { g.TenantID[0]++ },
			ErrWrongTimeline, "invalid tenant ID, got d00480929707ee75372337efaa5ecf96, expected cf0480929707ee75372337efaa5ecf96"},
		{"timeline", tvPG, func(g *walproto.ProposerGreeting) { g.TimelineID[15]++ },
			ErrWrongTimeline, "invalid timeline ID"},
		{"wal_seg_size", tvPG, func(g *walproto.ProposerGreeting) { g.WalSegSize = 1 << 20 },
			ErrWalSegSize, "invalid wal_seg_size, got 1048576, expected 16777216"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := tvState()
			st.Server.PGVersion = tt.stored
			st.Acceptor.Term = 5
			f := newFixture(t, st, nil)
			g := greeting()
			tt.mutate(g)
			resp, err := f.c.Greeting(g)
			if tt.kind == nil {
				if err != nil {
					t.Fatal(err)
				}
				if resp.NodeID != tvNode || resp.Term != 5 || resp.MConf.Generation != 1 {
					t.Fatalf("reply %+v", resp)
				}
				return
			}
			wantErr(t, err, tt.kind, tt.wantText)
			if f.ctl.persistCount() != 0 {
				t.Fatal("refused greeting persisted state")
			}
		})
	}
}

func TestGreetingSystemID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		stored, got uint64
		gotPG       uint32
		wantID      uint64
		wantPG      uint32
		wantPersist int
	}{
		{"same", tvSystemID, tvSystemID, 170004, tvSystemID, tvPG, 0},
		{"sync-safekeepers sends 0", tvSystemID, 0, 170004, tvSystemID, tvPG, 0},
		{"first real id", 0, tvSystemID, 170007, tvSystemID, 170007, 1},
		{"changed id", 42, tvSystemID, 170007, tvSystemID, 170007, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := tvState()
			st.Server.SystemID = tt.stored
			f := newFixture(t, st, nil)
			g := greeting()
			g.SystemID, g.PgVersion = tt.got, tt.gotPG
			if _, err := f.c.Greeting(g); err != nil {
				t.Fatal(err)
			}
			p := f.ctl.Persisted()
			if p.Server.SystemID != tt.wantID || p.Server.PGVersion != tt.wantPG || f.ctl.persistCount() != tt.wantPersist {
				t.Fatalf("persisted server %+v after %d persists", p.Server, f.ctl.persistCount())
			}
			// The WAL store learns a changed identity for its synthetic
			// page headers; an unchanged one is not pushed.
			if tt.wantPersist > 0 && (f.wal.systemID != tt.wantID || f.wal.pgVersion != tt.wantPG) {
				t.Fatalf("WAL store told system id %d, pg %d", f.wal.systemID, f.wal.pgVersion)
			}
		})
	}
}

func TestGreetingMembershipSwitch(t *testing.T) {
	t.Parallel()
	joint := tvConf(3, 2, 3)
	joint.NewMembers = tvConf(0, tvNode, 2).Members
	joint.HasNewMembers = true
	tests := []struct {
		name    string
		conf    controlfile.Configuration
		wantGen uint32
		err     string
	}{
		{"lower generation ignored", tvConf(0), 1, ""},
		{"equal generation ignored", tvConf(1, 7), 1, ""},
		{"higher generation, member", tvConf(2, tvNode, 2, 3), 2, ""},
		{"higher generation, new member of joint conf", joint, 3, ""},
		{"higher generation, not a member", tvConf(2, 2, 3), 1,
			"refused to switch into gen=2, members=([id=2, ep=sk-2:5454], [id=3, ep=sk-3:5454]), new_members=none, node 1 is not a member of it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := tvState()
			st.Acceptor.Term = 9
			f := newFixture(t, st, nil)
			g := greeting()
			g.MConf = confToWire(&tt.conf)
			resp, err := f.c.Greeting(g)
			if tt.err != "" {
				wantErr(t, err, ErrNotMember, tt.err)
			} else if err != nil {
				t.Fatal(err)
			} else if resp.MConf.Generation != tt.wantGen || resp.Term != 9 {
				t.Fatalf("reply %+v, want generation %d term 9", resp, tt.wantGen)
			}
			p := f.ctl.Persisted()
			if p.MConf.Generation != tt.wantGen || p.Acceptor.Term != 9 {
				t.Fatalf("persisted mconf generation %d term %d", p.MConf.Generation, p.Acceptor.Term)
			}
		})
	}
}

func TestVoteGrantedOnlyForHigherTerm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		reqTerm  uint64
		granted  bool
		wantTerm uint64
	}{
		{"higher term granted", 6, true, 6},
		{"equal term refused", 5, false, 5},
		{"lower term refused", 4, false, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := tvState()
			st.Acceptor.Term = 5
			f := newFixture(t, st, nil)
			resp, err := f.c.Vote(&walproto.VoteRequest{Generation: 1, Term: tt.reqTerm})
			if err != nil {
				t.Fatal(err)
			}
			if resp.VoteGiven != tt.granted || resp.Term != tt.wantTerm || resp.Generation != 1 {
				t.Fatalf("response %+v", resp)
			}
			if got := f.ctl.Persisted().Acceptor.Term; got != tt.wantTerm {
				t.Fatalf("persisted term %d, want %d", got, tt.wantTerm)
			}
			if wantPersists := map[bool]int{true: 1, false: 0}[tt.granted]; f.ctl.persistCount() != wantPersists {
				t.Fatalf("%d persists", f.ctl.persistCount())
			}
		})
	}
}

func TestVoteNotGrantedWhenPersistFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tvState(), nil)
	f.ctl.persistErr = errors.New("disk full")
	resp, err := f.c.Vote(&walproto.VoteRequest{Generation: 1, Term: 1})
	if err == nil || resp.VoteGiven {
		t.Fatalf("vote granted without durable term: %+v, %v", resp, err)
	}
}

func TestVoteFlushesWrittenWALFirst(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tvState(), nil)
	f.electFresh(t, 1, 0x1000028)
	f.append(t, 1, 0x1000028, 0x128, 0)
	if f.wal.FlushRecordLSN() != 0x1000028 {
		t.Fatal("append was flushed")
	}
	resp, err := f.c.Vote(&walproto.VoteRequest{Generation: 1, Term: 2})
	if err != nil {
		t.Fatal(err)
	}
	if resp.FlushLSN != 0x1000150 {
		t.Fatalf("vote flush_lsn %s, want 0/1000150", resp.FlushLSN)
	}
	ev := f.ev.list()
	if i, j := slices.Index(ev, "wal.flush 0/1000150"), slices.Index(ev, "persist term=2 commit=0/1000028"); i < 0 || j < i {
		t.Fatalf("events %q: want the WAL flush before the vote is persisted", ev)
	}
}

func TestVoteResponseFields(t *testing.T) {
	t.Parallel()
	st := tvState()
	st.Acceptor.Term = 5
	st.Acceptor.TermHistory = []controlfile.TermLsn{{Term: 3, LSN: 0x1000028}, {Term: 4, LSN: 0x1000100}, {Term: 5, LSN: 0x1002000}}
	st.TimelineStartLSN = 0x1000028
	st.PeerHorizonLSN = 0x1000050
	wal := newFakeWAL()
	wal.write, wal.flush, wal.writeRec, wal.flushRec = 0x1000150, 0x1000150, 0x1000150, 0x1000150
	f := newFixture(t, st, wal)
	resp, err := f.c.Vote(&walproto.VoteRequest{Generation: 1, Term: 6})
	if err != nil {
		t.Fatal(err)
	}
	want := walproto.VoteResponse{Generation: 1, Term: 6, VoteGiven: true, FlushLSN: 0x1000150, TruncateLSN: 0x1000050,
		TermHistory: walproto.TermHistory{{Term: 3, LSN: 0x1000028}, {Term: 4, LSN: 0x1000100}}}
	if !reflect.DeepEqual(resp, want) {
		t.Fatalf("response\n %+v\nwant\n %+v", resp, want)
	}
	// Before any WAL exists flush_lsn() is timeline_start_lsn.
	wal.Truncate(0)
	st.TimelineStartLSN = 0x1000100
	f = newFixture(t, st, wal)
	resp, _ = f.c.Vote(&walproto.VoteRequest{Generation: 1, Term: 7})
	if resp.FlushLSN != 0x1000100 || len(resp.TermHistory) != 2 {
		t.Fatalf("empty WAL: %+v", resp)
	}
}

func TestGenerationMismatch(t *testing.T) {
	t.Parallel()
	st := tvState()
	st.Acceptor.Term = 6
	f := newFixture(t, st, nil)
	_, err := f.c.Vote(&walproto.VoteRequest{Generation: 0, Term: 7})
	wantErr(t, err, ErrGenerationMismatch, "refusing VoteRequest { generation: SafekeeperGeneration(0), term: 7 } due to generation mismatch: sk generation 1")
	err = f.c.Elected(&walproto.ProposerElected{Generation: 2, Term: 6, TermHistory: walproto.TermHistory{{Term: 6, LSN: 0x1000028}}})
	wantErr(t, err, ErrGenerationMismatch, "due to generation mismatch: sk generation 1")
	_, _, err = f.c.Append(&walproto.AppendRequest{Generation: 0, Term: 6}, false)
	wantErr(t, err, ErrGenerationMismatch, "refusing append request due to generation mismatch: request 0, sk 1")
	if f.ctl.persistCount() != 0 || f.wal.truncates != 0 {
		t.Fatal("refused messages changed state")
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	st, wal := tv4State()
	st.TimelineStartLSN = 0x1000200 // above the WAL: consensus and status flush_lsn differ
	f := newFixture(t, st, wal)
	s := f.c.Status()
	if s.FlushLSN != 0x1000150 || s.Term != 5 || s.LastLogTerm != 5 || s.CommitLSN != 0x1000028 || f.c.FlushLSN() != 0x1000200 {
		t.Fatalf("status %+v, consensus flush_lsn %s", s, f.c.FlushLSN())
	}
	var ran bool
	if err := f.c.Do(func() error { ran = f.ctl.Flush() == nil; return nil }); err != nil || !ran {
		t.Fatal("Do did not run")
	}
}

func TestCoreUsesTimelineLock(t *testing.T) {
	t.Parallel()
	var lock sync.Mutex
	c, err := NewCore(Config{NodeID: tvNode, WAL: newFakeWAL(), Control: newFakeControl(tvState()), Lock: &lock})
	if err != nil {
		t.Fatal(err)
	}
	lock.Lock()
	done := make(chan struct{})
	go func() { c.Term(); close(done) }()
	select {
	case <-done:
		t.Fatal("Core ran without the timeline lock")
	case <-time.After(20 * time.Millisecond):
	}
	lock.Unlock()
	<-done
}
