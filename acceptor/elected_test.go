package acceptor

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
)

func TestCommonPoint(t *testing.T) {
	t.Parallel()
	type th = []controlfile.TermLsn
	tests := []struct {
		name string
		prop th
		sk   th
		end  pgwal.LSN
		want controlfile.TermLsn
		err  error
	}{
		{"empty proposer history", nil, th{{Term: 1, LSN: 10}}, 20, controlfile.TermLsn{}, ErrTermHistory},
		{"fresh safekeeper", th{{Term: 6, LSN: 0x1000028}}, nil, 0, controlfile.TermLsn{Term: 6, LSN: 0x1000028}, nil},
		{"no common term", th{{Term: 2, LSN: 100}, {Term: 6, LSN: 300}}, th{{Term: 1, LSN: 50}}, 400, controlfile.TermLsn{Term: 2, LSN: 100}, nil},
		// §9 TV4: last common term 5, the proposer's next term starts at our end.
		{"TV4", th{{Term: 5, LSN: 0x1000028}, {Term: 6, LSN: 0x1000150}}, th{{Term: 5, LSN: 0x1000028}}, 0x1000150, controlfile.TermLsn{Term: 5, LSN: 0x1000150}, nil},
		{"proposer is behind us in its last term", th{{Term: 5, LSN: 100}}, th{{Term: 5, LSN: 100}}, 900, controlfile.TermLsn{Term: 5, LSN: 900}, nil},
		{"divergent tail: our term 5 runs past the proposer's term 6 start",
			th{{Term: 5, LSN: 100}, {Term: 6, LSN: 500}, {Term: 7, LSN: 600}}, th{{Term: 5, LSN: 100}}, 800, controlfile.TermLsn{Term: 5, LSN: 500}, nil},
		{"divergent tail: our term 6 is not the proposer's",
			th{{Term: 5, LSN: 100}, {Term: 7, LSN: 600}}, th{{Term: 5, LSN: 100}, {Term: 6, LSN: 500}}, 800, controlfile.TermLsn{Term: 5, LSN: 500}, nil},
		{"we lack WAL the proposer's term 5 has", th{{Term: 5, LSN: 100}, {Term: 6, LSN: 700}}, th{{Term: 5, LSN: 100}}, 400, controlfile.TermLsn{Term: 5, LSN: 400}, nil},
		{"same term, different start", th{{Term: 5, LSN: 100}, {Term: 6, LSN: 700}}, th{{Term: 5, LSN: 200}}, 400, controlfile.TermLsn{}, ErrTermHistory},
		{"history above WAL end", th{{Term: 5, LSN: 100}}, th{{Term: 5, LSN: 100}, {Term: 6, LSN: 500}}, 400, controlfile.TermLsn{}, ErrTermHistory},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := commonPoint(tt.prop, tt.sk, tt.end)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Fatalf("commonPoint = %v, %v; want %v, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

// tv4State is a safekeeper that has WAL of term 5 up to 0/1000150 (§9 TV4).
func tv4State() (controlfile.State, *fakeWAL) {
	st := tvState()
	st.Acceptor.Term = 5
	st.Acceptor.TermHistory = []controlfile.TermLsn{{Term: 5, LSN: 0x1000028}}
	st.TimelineStartLSN, st.LocalStartLSN = 0x1000028, 0x1000028
	st.CommitLSN, st.BackupLSN, st.PeerHorizonLSN, st.RemoteConsistentLSN = 0x1000028, 0x1000028, 0x1000028, 0x1000028
	wal := newFakeWAL()
	wal.write, wal.flush, wal.writeRec, wal.flushRec = 0x1000150, 0x1000150, 0x1000150, 0x1000150
	return st, wal
}

func tv4Elected() *walproto.ProposerElected {
	return &walproto.ProposerElected{Generation: 1, Term: 6, StartStreamingAt: 0x1000150,
		TermHistory: walproto.TermHistory{{Term: 5, LSN: 0x1000028}, {Term: 6, LSN: 0x1000150}}}
}

func TestElectedAdoptsHistory(t *testing.T) {
	t.Parallel()
	st, wal := tv4State()
	f := newFixture(t, st, wal)
	if _, err := f.c.Vote(&walproto.VoteRequest{Generation: 1, Term: 6}); err != nil {
		t.Fatal(err)
	}
	if err := f.c.Elected(tv4Elected()); err != nil {
		t.Fatal(err)
	}
	if f.wal.truncates != 1 || f.wal.truncatedAt != 0x1000150 || f.wal.inits != 0 {
		t.Fatalf("truncations %d at %s, inits %d", f.wal.truncates, f.wal.truncatedAt, f.wal.inits)
	}
	if got := f.ctl.Persisted().Acceptor; !reflect.DeepEqual(got, controlfile.AcceptorState{Term: 6, TermHistory: historyFromWire(tv4Elected().TermHistory)}) {
		t.Fatalf("persisted acceptor state %+v", got)
	}
	if f.c.TermStartLSN() != 0x1000150 || f.c.LastLogTerm() != 6 {
		t.Fatalf("term_start_lsn %s last_log_term %d", f.c.TermStartLSN(), f.c.LastLogTerm())
	}
}

func TestElectedRaisesTermWithoutVote(t *testing.T) {
	t.Parallel()
	st, wal := tv4State()
	f := newFixture(t, st, wal)
	if err := f.c.Elected(tv4Elected()); err != nil {
		t.Fatal(err)
	}
	if got := f.ctl.Persisted().Acceptor.Term; got != 6 {
		t.Fatalf("persisted term %d, want 6", got)
	}
}

func TestElectedLowerTermIgnored(t *testing.T) {
	t.Parallel()
	st, wal := tv4State()
	st.Acceptor.Term = 7
	f := newFixture(t, st, wal)
	m := tv4Elected()
	m.StartStreamingAt = 0x1000000 // would be refused if looked at
	if err := f.c.Elected(m); err != nil {
		t.Fatalf("lower-term Elected: %v", err)
	}
	if f.wal.truncates != 0 || f.ctl.persistCount() != 0 || f.c.TermStartLSN() != 0 {
		t.Fatal("lower-term Elected changed state")
	}
}

func TestElectedUnexpectedTruncationPoint(t *testing.T) {
	t.Parallel()
	st, wal := tv4State()
	f := newFixture(t, st, wal)
	m := tv4Elected()
	m.StartStreamingAt = 0x1000100
	err := f.c.Elected(m)
	wantErr(t, err, ErrUnexpectedTruncationPoint,
		"refusing ProposerElected with unexpected truncation point: lcp=TermLsn { term: 5, lsn: 0/1000150 } start_streaming_at=0/1000100")
	if f.wal.truncates != 0 {
		t.Fatal("refused Elected truncated WAL")
	}
}

func TestElectedBelowCommitIsFatal(t *testing.T) {
	t.Parallel()
	st, wal := tv4State()
	st.CommitLSN = 0x1000150
	// Our WAL of term 5 runs to 0/1000150, but the proposer's history says
	// term 6 started at 0/1000100: the common point is below commit_lsn.
	f := newFixture(t, st, wal)
	err := f.c.Elected(&walproto.ProposerElected{Generation: 1, Term: 6, StartStreamingAt: 0x1000100,
		TermHistory: walproto.TermHistory{{Term: 5, LSN: 0x1000028}, {Term: 6, LSN: 0x1000100}}})
	wantErr(t, err, ErrTruncateCommitted, "attempt to truncate committed data: start_streaming_at=0/1000100, commit_lsn=0/1000150")
	if f.wal.truncates != 0 {
		t.Fatal("committed WAL truncated")
	}
}

func TestElectedTruncatesDivergentTail(t *testing.T) {
	t.Parallel()
	// We hold term 5 WAL up to 0/1000400; the new proposer's donor had
	// term 6 starting at 0/1000200, so our 0/1000200..0/1000400 must go.
	st, wal := tv4State()
	wal.write, wal.flush, wal.writeRec, wal.flushRec = 0x1000400, 0x1000400, 0x1000400, 0x1000400
	f := newFixture(t, st, wal)
	m := &walproto.ProposerElected{Generation: 1, Term: 7, StartStreamingAt: 0x1000200,
		TermHistory: walproto.TermHistory{{Term: 5, LSN: 0x1000028}, {Term: 6, LSN: 0x1000200}, {Term: 7, LSN: 0x1000300}}}
	if err := f.c.Elected(m); err != nil {
		t.Fatal(err)
	}
	if f.wal.truncatedAt != 0x1000200 || f.wal.WriteLSN() != 0x1000200 {
		t.Fatalf("truncated at %s", f.wal.truncatedAt)
	}
	p := f.ctl.Persisted()
	if !reflect.DeepEqual(p.Acceptor.TermHistory, historyFromWire(m.TermHistory)) || p.Acceptor.Term != 7 {
		t.Fatalf("persisted %+v", p.Acceptor)
	}
	// The full history is kept, but only the part we have WAL for counts.
	if f.c.LastLogTerm() != 6 || f.c.TermStartLSN() != 0x1000300 {
		t.Fatalf("last_log_term %d term_start_lsn %s", f.c.LastLogTerm(), f.c.TermStartLSN())
	}
}

func TestElectedInitializesFreshTimeline(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tvState(), nil)
	f.electFresh(t, 1, 0x1000028)
	if f.wal.inits != 1 || f.wal.initAt != 0x1000028 || f.wal.truncatedAt != 0x1000028 {
		t.Fatalf("inits %d at %s, truncated at %s", f.wal.inits, f.wal.initAt, f.wal.truncatedAt)
	}
	p := f.ctl.Persisted()
	for name, got := range map[string]pgwal.LSN{
		"timeline_start_lsn": p.TimelineStartLSN, "local_start_lsn": p.LocalStartLSN,
		"peer_horizon_lsn": p.PeerHorizonLSN, "commit_lsn": p.CommitLSN,
		"backup_lsn": p.BackupLSN, "remote_consistent_lsn": p.RemoteConsistentLSN,
	} {
		if got != 0x1000028 {
			t.Errorf("%s = %s, want 0/1000028", name, got)
		}
	}
	// A second election on a store that has WAL does not re-initialize,
	// and the set-once start LSNs stay.
	f.append(t, 1, 0x1000028, 0x100, 0)
	if _, err := f.c.FlushWAL(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.Vote(&walproto.VoteRequest{Generation: 1, Term: 2}); err != nil {
		t.Fatal(err)
	}
	err := f.c.Elected(&walproto.ProposerElected{Generation: 1, Term: 2, StartStreamingAt: 0x1000128,
		TermHistory: walproto.TermHistory{{Term: 1, LSN: 0x1000028}, {Term: 2, LSN: 0x1000128}}})
	if err != nil {
		t.Fatal(err)
	}
	if p := f.ctl.Persisted(); f.wal.inits != 1 || p.LocalStartLSN != 0x1000028 || p.TimelineStartLSN != 0x1000028 {
		t.Fatalf("inits %d, state %+v", f.wal.inits, p)
	}
}

func TestElectedEmptyHistory(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tvState(), nil)
	err := f.c.Elected(&walproto.ProposerElected{Generation: 1, Term: 1})
	wantErr(t, err, ErrTermHistory, "empty walproposer term history")
}

// TestFormatHistory: term histories print as Neon's Debug does, newest
// first and at most 20 entries.
func TestFormatHistory(t *testing.T) {
	t.Parallel()
	var th controlfile.TermHistory
	if got := formatHistory(th); got != "[]" {
		t.Errorf("empty: %q", got)
	}
	for i := range 25 {
		th = append(th, controlfile.TermLsn{Term: uint64(i + 1), LSN: pgwal.LSN(0x1000000 + 8*i)})
	}
	if got, want := formatHistory(th[:2]), "[(2, 0/1000008), (1, 0/1000000)]"; got != want {
		t.Errorf("two entries: %q, want %q", got, want)
	}
	got := formatHistory(th)
	if !strings.HasPrefix(got, "... [(25, 0/10000C0), (24, 0/10000B8), ") || !strings.HasSuffix(got, ", (6, 0/1000028)]") ||
		strings.Count(got, "(") != 20 {
		t.Errorf("25 entries: %q", got)
	}
}
