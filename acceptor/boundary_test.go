package acceptor

import (
	"errors"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
	"github.com/walkeeper/walkeeper/walstore"
)

// newSimSK makes a fresh timeline of 1 MiB segments on real stores.
func newSimSK(t *testing.T) *simSK {
	t.Helper()
	s := &simSK{t: t, dir: t.TempDir(), seg: 1 << 20}
	server := controlfile.ServerInfo{PGVersion: simPG, SystemID: 7, WalSegSize: 1 << 20}
	st, err := controlfile.New(ids.TTID{Tenant: tvTenant, Timeline: tvTimeline}, controlfile.Configuration{}, server, 0, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := controlfile.Create(s.dir, st, true); err != nil {
		t.Fatal(err)
	}
	s.open()
	t.Cleanup(func() { s.wal.Close() })
	return s
}

// TestElectedRefusesStartThatIsNotARecordBoundary: start_streaming_at and
// the term starts come from the proposer. One that is misaligned or inside
// a page header would be truncated to and persisted (timeline_start_lsn,
// commit_lsn), and after a restart walstore could not decode from it, so
// the timeline would not load. Elected refuses it before it touches WAL or
// the control file, and a valid election afterwards still works.
func TestElectedRefusesStartThatIsNotARecordBoundary(t *testing.T) {
	t.Parallel()
	const good = pgwal.LSN(0x300028)
	for _, c := range []struct {
		name        string
		start, hist pgwal.LSN
	}{
		{"misaligned start", 0x300005, 0x300005},
		{"start inside a page header", 0x302000 + 8, 0x302000 + 8},
		{"start inside a long page header", 0x300000 + 32, 0x300000 + 32},
		{"term start misaligned", good, 0x300029},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSimSK(t)
			if _, err := s.core.Vote(&walproto.VoteRequest{Term: 1}); err != nil {
				t.Fatal(err)
			}
			before := s.ctl.Persisted()
			err := s.core.Elected(&walproto.ProposerElected{Term: 1, StartStreamingAt: c.start,
				TermHistory: walproto.TermHistory{{Term: 1, LSN: c.hist}}})
			if !errors.Is(err, ErrNotRecordBoundary) {
				t.Fatalf("Elected = %v, want ErrNotRecordBoundary", err)
			}
			if after := s.ctl.Persisted(); after.CommitLSN != before.CommitLSN || after.TimelineStartLSN != before.TimelineStartLSN ||
				len(after.Acceptor.TermHistory) != len(before.Acceptor.TermHistory) {
				t.Fatalf("refused Elected changed the control file: %+v", after)
			}
			if err := s.core.Elected(&walproto.ProposerElected{Term: 1, StartStreamingAt: good,
				TermHistory: walproto.TermHistory{{Term: 1, LSN: good}}}); err != nil {
				t.Fatalf("a valid Elected after the refusal: %v", err)
			}
			s.crash()
		})
	}
}

// TestAppendRefusesCommitThatIsNotARecordBoundary: an AppendRequest's
// commit_lsn is clamped to flush_lsn but otherwise taken as sent, and the
// next control-file save persists it; recovery then decodes from it. A
// misaligned one, or one inside a page header, would make the timeline
// fail to load after a restart, so the request is refused before its WAL
// is written, and the timeline still loads with every acknowledged byte.
//
// An 8-aligned commit_lsn inside a record cannot be told from a record end
// without reading the WAL, so it is taken; recovery then decodes from the
// record start before it (walstore's findEnd) and forgets nothing: the
// last case shows it.
func TestAppendRefusesCommitThatIsNotARecordBoundary(t *testing.T) {
	t.Parallel()
	const seg = 1 << 20
	start := pgwal.LSN(3*seg + 40)
	// Misaligned; inside the second page's header; inside the first record.
	for i, commit := range []pgwal.LSN{start + 3, 3*seg + 8192 + 8, start + 16} {
		taken := i == 2
		s := newSimSK(t)
		if _, err := s.core.Vote(&walproto.VoteRequest{Term: 1}); err != nil {
			t.Fatal(err)
		}
		if err := s.core.Elected(&walproto.ProposerElected{Term: 1, StartStreamingAt: start,
			TermHistory: walproto.TermHistory{{Term: 1, LSN: start}}}); err != nil {
			t.Fatal(err)
		}
		enc := pgwal.NewEncoderSegSize(start, simPG, 7, seg)
		var wal []byte
		for range 100 {
			wal, _ = enc.AppendRecord(wal, pgwal.RMLogicalMsgID, 0, 1, make([]byte, 100))
		}
		end := start + pgwal.LSN(len(wal))
		r, _, err := s.core.Append(&walproto.AppendRequest{Term: 1, BeginLSN: start, EndLSN: end, WAL: wal}, true)
		if err != nil || r.FlushLSN < end {
			t.Fatalf("append: %+v, %v", r, err)
		}
		acked := r.FlushLSN
		_, _, err = s.core.Append(&walproto.AppendRequest{Term: 1, BeginLSN: end, EndLSN: end, CommitLSN: commit}, true)
		if taken && err != nil || !taken && !errors.Is(err, ErrNotRecordBoundary) {
			t.Fatalf("commit_lsn %s: %v", commit, err)
		}
		// The timeline manager's periodic save, or closeResident at shutdown.
		if err := s.core.Do(s.ctl.Flush); err != nil {
			t.Fatal(err)
		}
		s.wal.Close()
		p := s.ctl.Persisted()
		if taken && p.CommitLSN != commit {
			t.Fatalf("persisted commit_lsn %s, want the taken %s", p.CommitLSN, commit)
		}
		w, err := walstore.Open(walstore.Config{Dir: s.dir, SegSize: seg, PGVersion: simPG, NoSync: true},
			p.CommitLSN, p.TimelineStartLSN)
		if err != nil {
			t.Fatalf("commit_lsn %s persisted; after a restart the timeline does not load: %v", p.CommitLSN, err)
		}
		if f := w.FlushRecordLSN(); f < acked {
			t.Errorf("after a restart flush_lsn is %s, below the acknowledged %s", f, acked)
		}
		w.Close()
		s.open() // for the cleanup's Close
	}
}
