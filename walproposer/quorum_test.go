package walproposer

import (
	"errors"
	"testing"

	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
)

type th = walproto.TermHistory

func e(term uint64, lsn pgwal.LSN) walproto.TermLsn { return walproto.TermLsn{Term: term, LSN: lsn} }

func TestCommonPoint(t *testing.T) {
	prop := th{e(1, 0x100), e(3, 0x500), e(5, 0x900)}
	tests := []struct {
		name  string
		prop  th
		sk    th
		flush pgwal.LSN
		want  pgwal.LSN
		err   error
	}{
		{"empty safekeeper", prop, nil, 0, 0x100, nil},
		{"no common term", prop, th{e(2, 0x100)}, 0x300, 0x100, nil},
		{"same history, sk behind", prop, prop, 0x950, 0x950, nil},
		{"prefix, sk flush below next start", prop, th{e(1, 0x100), e(3, 0x500)}, 0x700, 0x700, nil},
		{"prefix, sk flush beyond next start", prop, th{e(1, 0x100), e(3, 0x500)}, 0xa00, 0x900, nil},
		{"divergent term after common prefix", prop, th{e(1, 0x100), e(2, 0x300)}, 0x600, 0x300, nil},
		{"divergent term, prop switches earlier", th{e(1, 0x100), e(3, 0x200)}, th{e(1, 0x100), e(2, 0x300)}, 0x600, 0x200, nil},
		{"conflict", prop, th{e(1, 0x200)}, 0x300, 0, ErrHistoryConflict},
		{"empty proposer history", nil, nil, 0, 0, ErrEmptyHistory},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CommonPoint(tc.prop, tc.sk, tc.flush)
			if !errors.Is(err, tc.err) || (tc.err == nil && got != tc.want) {
				t.Fatalf("CommonPoint = %s, %v; want %s, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestDonor(t *testing.T) {
	tests := []struct {
		name  string
		votes []walproto.VoteResponse
		want  int
	}{
		{"highest last_log_term wins over flush", []walproto.VoteResponse{
			{FlushLSN: 0x900, TermHistory: th{e(1, 0x100)}},
			{FlushLSN: 0x500, TermHistory: th{e(1, 0x100), e(2, 0x400)}},
			{FlushLSN: 0x800, TermHistory: th{e(1, 0x100)}},
		}, 1},
		{"tie broken by flush", []walproto.VoteResponse{
			{FlushLSN: 0x500, TermHistory: th{e(2, 0x100)}},
			{FlushLSN: 0x700, TermHistory: th{e(2, 0x100)}},
		}, 1},
		{"all empty", []walproto.VoteResponse{{}, {}, {}}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Donor(tc.votes); got != tc.want {
				t.Fatalf("Donor = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestQuorumCommit(t *testing.T) {
	tests := []struct {
		name      string
		flushes   []pgwal.LSN
		termStart pgwal.LSN
		want      pgwal.LSN
	}{
		{"second highest of three", []pgwal.LSN{0x300, 0x500, 0x400}, 0x100, 0x400},
		{"one down", []pgwal.LSN{0, 0x500, 0x400}, 0x100, 0x400},
		{"two down", []pgwal.LSN{0, 0x500, 0}, 0x100, 0},
		{"no commit from previous terms", []pgwal.LSN{0x300, 0x500, 0x200}, 0x400, 0},
		{"at term start counts", []pgwal.LSN{0x400, 0x500, 0x200}, 0x400, 0x400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := QuorumCommit(tc.flushes, len(tc.flushes), tc.termStart); got != tc.want {
				t.Fatalf("QuorumCommit = %s, want %s", got, tc.want)
			}
		})
	}
	if got := TruncateLSN([]pgwal.LSN{0x300, 0x500, 0x400}, 0x400); got != 0x300 {
		t.Fatalf("TruncateLSN = %s", got)
	}
}

// page builds a WAL page header as PostgreSQL 15 writes it.
func page(addr pgwal.LSN, info uint16, rem uint32) []byte {
	h := pgwal.XLogPageHeaderData{Magic: 0xD110, Info: info, TLI: 1, PageAddr: addr, RemLen: rem}
	if info&pgwal.XLPLongHeader != 0 {
		return pgwal.AppendXLogLongPageHeader(nil, pgwal.XLogLongPageHeaderData{XLogPageHeaderData: h,
			SegSize: pgwal.DefaultSegmentSize, XLogBlcksz: pgwal.XLogBlockSize})
	}
	return pgwal.AppendXLogPageHeader(nil, h)
}

func TestFirstRecordBoundary(t *testing.T) {
	const seg = pgwal.LSN(0x3000000)
	long := pgwal.XLPLongHeader
	cont := pgwal.XLPFirstIsContRecord
	pad := func(b []byte) []byte { return append(b, make([]byte, pgwal.XLogBlockSize-len(b))...) }
	tests := []struct {
		name string
		data []byte
		want pgwal.LSN
		err  error
	}{
		{"no continuation", page(seg, long, 0), seg + 40, nil},
		{"short continuation", page(seg, long|cont, 13), seg + 40 + 16, nil},
		{"continuation over a page", append(pad(page(seg, long|cont, 9000)), page(seg+8192, cont, 9000-8152)...),
			seg + 8192 + 24 + 848, nil},
		{"continuation ends at page end", append(pad(page(seg, long|cont, 8152)), page(seg+8192, 0, 0)...),
			seg + 8192 + 24, nil},
		{"need more", page(seg, long|cont, 9000), 0, errNeedMoreWAL},
		{"short", page(seg, long, 0)[:30], 0, errNeedMoreWAL},
		{"wrong page address", page(seg+8192, long, 0), 0, ErrBadSegmentStart},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FirstRecordBoundary(seg, tc.data)
			if !errors.Is(err, tc.err) || (tc.err == nil && got != tc.want) {
				t.Fatalf("FirstRecordBoundary = %s, %v; want %s, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestAggregateHotStandby(t *testing.T) {
	got := AggregateHotStandby([]walproto.HotStandbyFeedback{
		{TS: 5, Xmin: 0, CatalogXmin: 0},
		{TS: 9, Xmin: 1<<32 | 700, CatalogXmin: 650},
		{TS: 7, Xmin: 1<<32 | 600, CatalogXmin: 0},
	})
	want := walproto.HotStandbyFeedback{TS: 9, Xmin: 1<<32 | 600, CatalogXmin: 650}
	if got != want {
		t.Fatalf("AggregateHotStandby = %+v, want %+v", got, want)
	}
	if got := AggregateHotStandby(nil); got != (walproto.HotStandbyFeedback{}) {
		t.Fatalf("empty = %+v", got)
	}
}
