package acceptor

import (
	"errors"
	"testing"

	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
)

var tvHS = walproto.HotStandbyFeedback{TS: 1, Xmin: 2, CatalogXmin: 3}

func TestAppendBeforeElected(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tvState(), nil)
	_, _, err := f.c.Append(&walproto.AppendRequest{Generation: 1, Term: 1, BeginLSN: 0x1000028, EndLSN: 0x1000028}, false)
	wantErr(t, err, ErrAppendBeforeElected, "got AppendRequest before ProposerElected")
}

func TestAppendLowerTermGetsTermOnlyResponse(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tvState(), nil)
	f.electFresh(t, 1, 0x1000028)
	if _, err := f.c.Vote(&walproto.VoteRequest{Generation: 1, Term: 2}); err != nil { // another proposer
		t.Fatal(err)
	}
	resp, ok, err := f.c.Append(&walproto.AppendRequest{Generation: 1, Term: 1, BeginLSN: 0x1000028, EndLSN: 0x1000030,
		CommitLSN: 0x1000030, TruncateLSN: 0x1000030, WAL: make([]byte, 8)}, false)
	if err != nil || !ok {
		t.Fatalf("append: ok %v, %v", ok, err)
	}
	want := walproto.AppendResponse{Generation: 1, Term: 2, HotStandby: tvHS}
	if resp != want {
		t.Fatalf("response %+v, want %+v", resp, want)
	}
	if w, _ := f.wal.counts(); w != 0 || f.c.CommitLSN() != 0x1000028 || f.ctl.State().PeerHorizonLSN != 0x1000028 {
		t.Fatalf("stale append changed state: %d writes, commit %s", w, f.c.CommitLSN())
	}
}

func TestAppendContinuity(t *testing.T) {
	t.Parallel()
	// Record ends at 0x1000050 and 0x1000150: a write ending at 0x1000100 is
	// mid-record, so the raw write_lsn and the record-aligned one differ.
	f := newFixture(t, tvState(), newFakeWAL(0x1000028, 0x1000050, 0x1000150))
	f.electFresh(t, 1, 0x1000028)
	f.append(t, 1, 0x1000028, 0xD8, 0) // to 0/1000100
	if f.wal.WriteRecordLSN() != 0x1000050 {
		t.Fatalf("write_record_lsn %s", f.wal.WriteRecordLSN())
	}
	_, _, err := f.c.Append(&walproto.AppendRequest{Generation: 1, Term: 1, BeginLSN: 0x1000050, EndLSN: 0x1000058, WAL: make([]byte, 8)}, false)
	wantErr(t, err, ErrRewrite, "append request rewrites WAL written before, write_lsn=0/1000100, msg lsn=0/1000050")
	_, _, err = f.c.Append(&walproto.AppendRequest{Generation: 1, Term: 1, BeginLSN: 0x1000108, EndLSN: 0x1000110, WAL: make([]byte, 8)}, false)
	wantErr(t, err, ErrGap, "append request creates gap in written WAL, write_lsn=0/1000100, msg lsn=0/1000108")
	f.append(t, 1, 0x1000100, 0x50, 0) // contiguous: fine
	if w, _ := f.wal.counts(); w != 2 {
		t.Fatalf("%d writes, want 2", w)
	}
}

func TestAppendAtAnyLSNWhenNothingWritten(t *testing.T) {
	t.Parallel()
	// write_lsn 0 means "nothing written yet": no gap check (§3.6 step 4).
	st := tvState()
	st.Acceptor.Term = 3
	f := newFixture(t, st, nil)
	if _, ok := f.append(t, 3, 0x2000000, 8, 0); ok {
		t.Fatal("unexpected reply")
	}
	if f.wal.WriteLSN() != 0x2000008 {
		t.Fatalf("write_lsn %s", f.wal.WriteLSN())
	}
}

func TestAppendShape(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tvState(), nil)
	f.electFresh(t, 1, 0x1000028)
	big := pgwal.LSN(pgwal.MaxSendSize + 1)
	tests := []struct {
		name string
		m    walproto.AppendRequest
	}{
		{"over 128 KiB", walproto.AppendRequest{BeginLSN: 0x1000028, EndLSN: 0x1000028 + big, WAL: make([]byte, big)}},
		{"begin above end", walproto.AppendRequest{BeginLSN: 0x1000030, EndLSN: 0x1000028}},
		{"payload shorter than bounds", walproto.AppendRequest{BeginLSN: 0x1000028, EndLSN: 0x1000030, WAL: make([]byte, 4)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.m.Generation, tt.m.Term = 1, 1
			_, _, err := f.c.Append(&tt.m, false)
			if !errors.Is(err, ErrBadAppend) {
				t.Fatalf("error %v", err)
			}
		})
	}
	// Exactly MAX_SEND_SIZE is fine.
	f.append(t, 1, 0x1000028, pgwal.MaxSendSize, 0)
	if w, _ := f.wal.counts(); w != 1 {
		t.Fatalf("%d writes", w)
	}
}

func TestAppendNoFlushRepliesOnlyWhenFlushAdvanced(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tvState(), nil)
	f.electFresh(t, 1, 0xFFF000)
	_, flushes := f.wal.counts()
	if _, ok := f.append(t, 1, 0xFFF000, 0x800, 0); ok {
		t.Fatal("no-flush append replied")
	}
	if _, fl := f.wal.counts(); fl != flushes {
		t.Fatal("no-flush append fsynced")
	}
	// Completing the segment makes it durable: flush_lsn advanced, reply.
	resp, ok := f.append(t, 1, 0xFFF800, 0x900, 0)
	if !ok || resp.FlushLSN != 0x1000000 || resp.Term != 1 || resp.Generation != 1 {
		t.Fatalf("segment completion: ok %v, %+v", ok, resp)
	}
}

func TestAppendRequireFlush(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tvState(), nil)
	f.electFresh(t, 1, 0x1000028)
	resp, ok, err := f.c.Append(&walproto.AppendRequest{Generation: 1, Term: 1, BeginLSN: 0x1000028, EndLSN: 0x1000030, WAL: make([]byte, 8)}, true)
	if err != nil || !ok || resp.FlushLSN != 0x1000030 {
		t.Fatalf("ok %v %+v %v", ok, resp, err)
	}
}

func TestHeartbeatAnsweredByFlush(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tvState(), nil)
	f.electFresh(t, 1, 0x1000028)
	if _, ok := f.append(t, 1, 0x1000028, 0, 0); ok {
		t.Fatal("heartbeat replied on the no-flush path")
	}
	if w, _ := f.wal.counts(); w != 0 {
		t.Fatal("empty append wrote")
	}
	resp, err := f.c.FlushWAL()
	want := walproto.AppendResponse{Generation: 1, Term: 1, FlushLSN: 0x1000028, CommitLSN: 0x1000028, HotStandby: tvHS}
	if err != nil || resp != want {
		t.Fatalf("FlushWAL = %+v, %v; want %+v", resp, err, want)
	}
}

func TestFlushWALError(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tvState(), nil)
	f.electFresh(t, 1, 0x1000028)
	f.wal.flushErr = errors.New("EIO")
	if _, err := f.c.FlushWAL(); err == nil {
		t.Fatal("fsync error not reported")
	}
}

func TestCommitLSNClampedAndMonotone(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tvState(), nil)
	f.electFresh(t, 1, 0x1000028)
	steps := []struct {
		name       string
		n          int
		commit     pgwal.LSN
		flush      bool // FlushWAL after the append
		wantCommit pgwal.LSN
	}{
		// The write is not durable yet: commit is clamped to the old flush_lsn.
		{"clamped to flush_lsn", 0x100, 0x1000128, false, 0x1000028},
		{"after the flush", 0, 0x1000128, true, 0x1000028},
		{"now durable", 0, 0x1000128, false, 0x1000128},
		{"lower value ignored", 0, 0x1000050, false, 0x1000128},
		{"zero means unknown", 0, 0, false, 0x1000128},
		{"beyond flush_lsn clamped", 0x10, 0x2000000, true, 0x1000128},
		{"again after flush", 0, 0x2000000, false, 0x1000138},
	}
	next := pgwal.LSN(0x1000028)
	for _, s := range steps {
		f.append(t, 1, next, s.n, s.commit)
		next += pgwal.LSN(s.n)
		if s.flush {
			if _, err := f.c.FlushWAL(); err != nil {
				t.Fatal(err)
			}
		}
		if got := f.c.CommitLSN(); got != s.wantCommit {
			t.Fatalf("%s: commit_lsn %s, want %s", s.name, got, s.wantCommit)
		}
	}
}

func TestCommitPersistedWhenReachingTermStart(t *testing.T) {
	t.Parallel()
	// TV4/TV5: term 6 starts at 0/1000150; persisted commit is 0/1000028.
	st, wal := tv4State()
	f := newFixture(t, st, wal)
	if err := f.c.Elected(tv4Elected()); err != nil {
		t.Fatal(err)
	}
	persists := f.ctl.persistCount()
	f.append(t, 6, 0x1000150, 8, 0x1000100) // below term start: in memory only
	if f.c.CommitLSN() != 0x1000100 || f.ctl.Persisted().CommitLSN != 0x1000028 || f.ctl.persistCount() != persists {
		t.Fatalf("commit below term start: in-memory %s, persisted %s", f.c.CommitLSN(), f.ctl.Persisted().CommitLSN)
	}
	resp, err := f.c.FlushWAL()
	if err != nil || resp.CommitLSN != 0x1000028 {
		t.Fatalf("AppendResponse must report the persisted commit_lsn: %+v %v", resp, err)
	}
	f.append(t, 6, 0x1000158, 0, 0x1000150) // reaches term start: persisted now
	if f.ctl.Persisted().CommitLSN != 0x1000150 || f.ctl.persistCount() != persists+1 {
		t.Fatalf("persisted commit %s after %d persists", f.ctl.Persisted().CommitLSN, f.ctl.persistCount()-persists)
	}
	f.append(t, 6, 0x1000158, 0, 0x1000158) // past it: lazy again
	if f.c.CommitLSN() != 0x1000158 || f.ctl.Persisted().CommitLSN != 0x1000150 {
		t.Fatalf("commit past term start: in-memory %s, persisted %s", f.c.CommitLSN(), f.ctl.Persisted().CommitLSN)
	}
	if resp, _ := f.c.FlushWAL(); resp.CommitLSN != 0x1000150 {
		t.Fatalf("response commit %s, want the persisted 0/1000150", resp.CommitLSN)
	}
}

func TestPeerHorizonOnlyRises(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tvState(), nil)
	f.electFresh(t, 1, 0x1000028)
	for _, tc := range []struct{ in, want pgwal.LSN }{{0x1000100, 0x1000100}, {0x1000050, 0x1000100}, {0, 0x1000100}} {
		if _, _, err := f.c.Append(&walproto.AppendRequest{Generation: 1, Term: 1, BeginLSN: 0x1000028, EndLSN: 0x1000028, TruncateLSN: tc.in}, false); err != nil {
			t.Fatal(err)
		}
		if got := f.ctl.State().PeerHorizonLSN; got != tc.want {
			t.Fatalf("peer_horizon_lsn %s, want %s", got, tc.want)
		}
	}
	if f.ctl.Persisted().PeerHorizonLSN != 0x1000028 {
		t.Fatal("peer_horizon_lsn persisted eagerly")
	}
}

func TestRecordPeerCommit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tvState(), nil)
	f.electFresh(t, 1, 0x1000028)
	f.append(t, 1, 0x1000028, 0x100, 0)
	f.c.FlushWAL()
	if err := f.c.RecordPeerCommit(0x1000100, 7); err != nil || f.c.CommitLSN() != 0x1000028 {
		t.Fatalf("commit from a peer of another term adopted: %s %v", f.c.CommitLSN(), err)
	}
	if err := f.c.RecordPeerCommit(0x1000100, 1); err != nil || f.c.CommitLSN() != 0x1000100 {
		t.Fatalf("commit from a peer of our term: %s %v", f.c.CommitLSN(), err)
	}
}
