package replication

import (
	"errors"
	"testing"
)

func TestParseStartReplication(t *testing.T) {
	tests := []struct {
		query string
		want  Command
		bad   bool
	}{
		{query: "START_REPLICATION PHYSICAL 0/149FD18", want: Command{StartLSN: 0x149FD18}},
		{query: "START_REPLICATION PHYSICAL 0/2000000 (term='5')", want: Command{StartLSN: 0x2000000, Term: 5, HasTerm: true}},
		{query: `START_REPLICATION SLOT "s" 0/3000000 TIMELINE 1`, want: Command{StartLSN: 0x3000000, Slot: `"s"`}},
		{query: "START_REPLICATION 1/AbCdEf00", want: Command{StartLSN: 0x1ABCDEF00}},
		{query: "START_REPLICATION SLOT s PHYSICAL 0/1 (term='18446744073709551615')",
			want: Command{StartLSN: 1, Slot: "s", Term: 1<<64 - 1, HasTerm: true}},
		// Unanchored: leading text is skipped, trailing text ignored.
		{query: "xx START_REPLICATION 0/10 trailing", want: Command{StartLSN: 0x10}},
		// A malformed term option is just trailing text: Commit mode.
		{query: "START_REPLICATION 0/10 (term=5)", want: Command{StartLSN: 0x10}},
		{query: "START_REPLICATION 0/10  (term='5')", want: Command{StartLSN: 0x10}},
		{query: "START_REPLICATION LOGICAL 0/10", bad: true},
		{query: "START_REPLICATION SLOT s LOGICAL 0/10", bad: true},
		{query: "START_REPLICATION  0/10", bad: true},       // two spaces
		{query: "START_REPLICATION PHYSICAL", bad: true},    // no LSN
		{query: "START_REPLICATION 100000000/0", bad: true}, // half above u32
		{query: "START_REPLICATION 0/1 (term='18446744073709551616')", bad: true},
		{query: "START_REPLICATION 0/1 (term='\u0661')", bad: true}, // Arabic-Indic one: Rust \d matches, parse fails
		{query: "start_replication 0/1", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got, err := ParseStartReplication(tt.query)
			if tt.bad {
				if !errors.Is(err, ErrBadCommand) {
					t.Fatalf("err = %v, want ErrBadCommand", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCommandMode(t *testing.T) {
	if m := (Command{}).Mode(); m != ModeCommit {
		t.Fatalf("no term: %v", m)
	}
	if m := (Command{HasTerm: true}).Mode(); m != ModeFlush {
		t.Fatalf("term: %v", m)
	}
}

func TestTimelineHistoryError(t *testing.T) {
	tests := []struct{ query, state, msg string }{
		{"TIMELINE_HISTORY 1", SQLStateUndefinedFile, `could not open file "pg_wal/00000001.history": No such file or directory`},
		{"TIMELINE_HISTORY 26", SQLStateUndefinedFile, `could not open file "pg_wal/0000001A.history": No such file or directory`},
		{"TIMELINE_HISTORY 0", SQLStateSyntaxError, "invalid timeline 0"},
		{"TIMELINE_HISTORY", SQLStateSyntaxError, `syntax error in "TIMELINE_HISTORY"`},
	}
	for _, tt := range tests {
		state, msg := TimelineHistoryError(tt.query)
		if state != tt.state || msg != tt.msg {
			t.Errorf("%q: got %s %q, want %s %q", tt.query, state, msg, tt.state, tt.msg)
		}
	}
}
