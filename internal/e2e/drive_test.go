package e2e

import (
	"testing"

	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
)

// e is a term history entry.
func e(term uint64, lsn pgwal.LSN) walproto.TermLsn { return walproto.TermLsn{Term: term, LSN: lsn} }

func TestStartPointAndDonor(t *testing.T) {
	type th = walproto.TermHistory
	tests := []struct {
		name     string
		prop, sk th
		end      pgwal.LSN
		want     pgwal.LSN
	}{
		{"empty safekeeper", th{e(2, 100)}, nil, 0, 100},
		{"same last term: its end", th{e(1, 100), e(2, 500)}, th{e(1, 100), e(2, 500)}, 900, 900},
		{"ahead in an old term: cut at the new term's start", th{e(1, 100), e(2, 500)}, th{e(1, 100)}, 900, 500},
		{"behind in an old term: its end", th{e(1, 100), e(2, 500)}, th{e(1, 100)}, 300, 300},
		{"diverged in a term the proposer lacks", th{e(1, 100), e(3, 600)}, th{e(1, 100), e(2, 400)}, 900, 400},
		{"no common term", th{e(4, 100)}, th{e(3, 50)}, 900, 100},
	}
	for _, tt := range tests {
		if got := StartPoint(tt.prop, tt.sk, tt.end); got != tt.want {
			t.Errorf("%s: StartPoint = %d, want %d", tt.name, got, tt.want)
		}
	}
	votes := []walproto.VoteResponse{
		{FlushLSN: 900, TermHistory: th{e(1, 100)}},
		{FlushLSN: 500, TermHistory: th{e(1, 100), e(2, 400)}},
		{FlushLSN: 600, TermHistory: th{e(1, 100), e(2, 400)}},
	}
	if got := Donor(votes); got != 2 {
		t.Errorf("Donor = %d, want 2 (highest last_log_term, then flush_lsn)", got)
	}
}
