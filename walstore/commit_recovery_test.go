package walstore

import (
	"testing"

	"github.com/walkeeper/walkeeper/pgwal"
)

// TestRecoverFromCommitInsideRecord: a persisted commit_lsn that is no
// record start (inside a record, inside a record's continuation on a
// later page, or misaligned) must not make recovery stop there and forget
// the WAL after it: recovery decodes from the record start before it that
// the page headers give, and finds the same end as from a true boundary.
func TestRecoverFromCommitInsideRecord(t *testing.T) {
	w := getRealWAL(t)
	dir := t.TempDir()
	s := writeRealWAL(t, w, dir, 11)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	want := s.FlushLSN()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A record that crosses a page: commit inside its first piece, and
	// inside its continuation on the next page.
	var long pgwal.Record
	for _, r := range w.records[len(w.records)/2:] {
		next := r.StartLSN - pgwal.LSN(r.StartLSN.PageOffset()) + pgwal.XLogBlockSize
		if r.StartLSN+64 < next && r.EndLSN > next+64 {
			long = r
			break
		}
	}
	if long.StartLSN == 0 {
		t.Fatal("no record crossing a page in the real WAL")
	}
	page := long.StartLSN - pgwal.LSN(long.StartLSN.PageOffset()) + pgwal.XLogBlockSize
	mid := w.records[len(w.records)/3]
	for _, c := range []struct {
		name   string
		commit pgwal.LSN
	}{
		{"a record start", mid.StartLSN},
		{"inside a record", (mid.StartLSN + 16)},
		{"inside a record's first piece", long.StartLSN + 32},
		{"inside a continuation", page + 48},
		{"at the start of a page inside a record", page},
		{"misaligned", mid.StartLSN + 13},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(realConfig(dir, w.sysID), c.commit, w.start)
			if err != nil {
				t.Fatalf("Open with commit_lsn %s: %v", c.commit, err)
			}
			defer s.Close()
			if got := s.FlushLSN(); got != want {
				t.Fatalf("commit_lsn %s: recovered end %s, want %s", c.commit, got, want)
			}
		})
	}
}
