package replication

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/walkeeper/walkeeper/pgwal"
)

// ErrBadCommand is returned for a START_REPLICATION or TIMELINE_HISTORY
// query that does not parse. The server answers it with an ErrorResponse
// before any COPY starts.
var ErrBadCommand = errors.New("replication: bad command")

// startReplicationRE is Neon's pattern (safekeeper handler.rs parse_cmd),
// unanchored, with one extra group that only captures the slot name. Rust's
// \d is Unicode-aware; \p{Nd} keeps that, so a non-ASCII digit in the term
// is matched and then rejected by the integer parse exactly as in Rust.
var startReplicationRE = regexp.MustCompile(
	`START_REPLICATION(?: SLOT ([^ ]+))?(?: PHYSICAL)? ([[:xdigit:]]+/[[:xdigit:]]+)(?: \(term='(\p{Nd}+)'\))?`)

// Command is a parsed START_REPLICATION.
type Command struct {
	StartLSN pgwal.LSN
	// Term is the client's term, meaningful only when HasTerm. A term selects
	// Flush mode (walproposer and peer recovery); no term selects Commit mode.
	Term    uint64
	HasTerm bool
	// Slot is the slot name as written (quotes included). It is ignored:
	// the safekeeper keeps no slot state.
	Slot string
}

// Mode reports which end of WAL the command streams up to (§2.2).
func (c Command) Mode() Mode {
	if c.HasTerm {
		return ModeFlush
	}
	return ModeCommit
}

// Mode is the "end watch" a sender streams up to.
type Mode int

const (
	// ModeCommit streams up to commit_lsn and never exposes uncommitted WAL.
	ModeCommit Mode = iota
	// ModeFlush streams up to flush_lsn while the acceptor stays in the
	// client's term.
	ModeFlush
)

func (m Mode) String() string {
	if m == ModeFlush {
		return "flush"
	}
	return "commit"
}

// ParseStartReplication parses a START_REPLICATION query the way Neon does
// (replication.md §2.1): the pattern is searched anywhere in the query,
// tokens are separated by exactly one space, SLOT and PHYSICAL are optional,
// LOGICAL does not match, and text after the match (" TIMELINE 1") is
// ignored.
func ParseStartReplication(query string) (Command, error) {
	m := startReplicationRE.FindStringSubmatch(query)
	if m == nil {
		return Command{}, fmt.Errorf("%w: failed to parse START_REPLICATION command %s", ErrBadCommand, query)
	}
	lsn, err := pgwal.ParseLSN(m[2])
	if err != nil {
		return Command{}, fmt.Errorf("%w: parse start LSN from START_REPLICATION command: %w", ErrBadCommand, err)
	}
	c := Command{StartLSN: lsn, Slot: m[1]}
	if m[3] != "" {
		c.Term, err = strconv.ParseUint(m[3], 10, 64)
		if err != nil {
			return Command{}, fmt.Errorf("%w: invalid term %q", ErrBadCommand, m[3])
		}
		c.HasTerm = true
	}
	return c, nil
}

// SQLSTATEs this package puts in ErrorResponses.
const (
	SQLStateSuccess       = "00000" // successful_completion: normal ends
	SQLStateInternal      = "XX000" // internal_error: everything else
	SQLStateUndefinedFile = "58P01" // undefined_file
	SQLStateSyntaxError   = "42601" // syntax_error
)

// TimelineHistoryError answers a TIMELINE_HISTORY query.
//
// Decision: walkeeper, like Neon, always serves PostgreSQL timeline 1 and
// keeps no history files. A PostgreSQL standby sends TIMELINE_HISTORY only
// for timelines above 1 (walreceiver.c WalRcvFetchTimeLineHistoryFiles
// skips timeline 1), and PostgreSQL itself has no 00000001.history, so for
// every timeline we answer exactly as a primary on timeline 1 would: the
// file cannot be opened (SQLSTATE 58P01). Neon instead answers "unsupported
// command"; both are errors and no supported client depends on the text.
// A timeline of 0 or one that is not a u32 is a syntax error, as in
// PostgreSQL's repl_gram.y.
func TimelineHistoryError(query string) (sqlstate, message string) {
	fields := strings.Fields(query)
	if len(fields) != 2 || !strings.EqualFold(fields[0], "TIMELINE_HISTORY") {
		return SQLStateSyntaxError, fmt.Sprintf("syntax error in %q", query)
	}
	tli, err := strconv.ParseUint(fields[1], 10, 32)
	if err != nil || tli == 0 {
		return SQLStateSyntaxError, fmt.Sprintf("invalid timeline %s", fields[1])
	}
	return SQLStateUndefinedFile,
		fmt.Sprintf("could not open file \"pg_wal/%08X.history\": No such file or directory", tli)
}
