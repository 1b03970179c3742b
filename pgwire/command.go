package pgwire

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/walkeeper/walkeeper/pgwal"
)

// ErrUnsupportedCommand is wrapped by ParseCommand for any query it does not
// route; its text is "unsupported command <query>", as Neon answers.
var ErrUnsupportedCommand = errors.New("unsupported command")

// CommandKind names a routed query.
type CommandKind int

// The commands walkeeper answers.
const (
	CmdSetDatestyle CommandKind = iota + 1
	CmdStartWALPush
	CmdStartReplication
	CmdIdentifySystem
	CmdTimelineStatus
	CmdShow
	// CmdTimelineHistory is answered by pgwire itself (replication.md §1.3:
	// walkeeper keeps no history files, like a primary on timeline 1).
	CmdTimelineHistory
)

// Command is a parsed simple query.
type Command struct {
	Kind  CommandKind
	Query string
	// WALPush is set for CmdStartWALPush.
	WALPush WALPushOptions
	// Replication is set for CmdStartReplication.
	Replication ReplicationOptions
	// Show is the canonical variable name for CmdShow.
	Show string
}

// WALPushOptions are START_WAL_PUSH's parenthesised options.
type WALPushOptions struct {
	// ProtoVersion defaults to 2 when absent; any value is passed on, the
	// acceptor rejects unsupported ones inside the COPY stream.
	ProtoVersion uint32
	// AllowTimelineCreation defaults to true.
	AllowTimelineCreation bool
}

// ReplicationOptions are START_REPLICATION's start position and term.
type ReplicationOptions struct {
	StartLSN pgwal.LSN
	// Term is set when HasTerm: stream the proposer's term up to flush_lsn.
	Term    uint64
	HasTerm bool
}

// Variables answered by SHOW, as PostgreSQL's walsender answers them.
const (
	ShowWalSegmentSize    = "wal_segment_size"
	ShowDataDirectoryMode = "data_directory_mode"
)

var (
	walPushRe     = regexp.MustCompile(`START_WAL_PUSH(\s+?\((.*)\))?`)
	replicationRe = regexp.MustCompile(`START_REPLICATION(?: SLOT [^ ]+)?(?: PHYSICAL)? ([[:xdigit:]]+/[[:xdigit:]]+)(?: \(term='(\d+)'\))?`)
)

// ParseCommand routes a simple query the way Neon's safekeeper does:
// "set datestyle to " (any case) first, then the SHOW variables PostgreSQL
// clients such as pg_receivewal ask for, then commands matched by prefix.
func ParseCommand(q string) (Command, error) {
	c := Command{Query: q}
	switch {
	case strings.HasPrefix(strings.ToLower(q), "set datestyle to "):
		c.Kind = CmdSetDatestyle
	case isShow(q):
		name, ok := parseShow(q)
		if !ok {
			return c, fmt.Errorf("%w %s", ErrUnsupportedCommand, q)
		}
		c.Kind, c.Show = CmdShow, name
	case strings.HasPrefix(q, "START_WAL_PUSH"):
		opts, err := parseWALPush(q)
		if err != nil {
			return c, err
		}
		c.Kind, c.WALPush = CmdStartWALPush, opts
	case strings.HasPrefix(q, "START_REPLICATION"):
		opts, err := parseReplication(q)
		if err != nil {
			return c, err
		}
		c.Kind, c.Replication = CmdStartReplication, opts
	case strings.HasPrefix(q, "IDENTIFY_SYSTEM"):
		c.Kind = CmdIdentifySystem
	case strings.HasPrefix(q, "TIMELINE_STATUS"):
		c.Kind = CmdTimelineStatus
	case strings.HasPrefix(q, "TIMELINE_HISTORY"):
		c.Kind = CmdTimelineHistory
	default:
		return c, fmt.Errorf("%w %s", ErrUnsupportedCommand, q)
	}
	return c, nil
}

// isShow reports whether q is a replication-grammar SHOW: the keyword is
// upper case (PostgreSQL 15's replication scanner is case-sensitive).
func isShow(q string) bool {
	q = strings.TrimLeft(q, " \t\n\r\f")
	return len(q) > 4 && strings.HasPrefix(q, "SHOW") && isASCIISpace(q[4])
}

// parseShow returns the canonical name of a variable walkeeper answers.
// Like PostgreSQL it accepts any case, double quotes and a trailing ';'.
func parseShow(q string) (string, bool) {
	q = strings.TrimSpace(q)
	q = strings.TrimSpace(strings.TrimSuffix(q, ";"))
	name := strings.TrimSpace(q[len("SHOW"):])
	if len(name) >= 2 && name[0] == '"' && name[len(name)-1] == '"' {
		name = name[1 : len(name)-1]
	}
	switch strings.ToLower(name) {
	case ShowWalSegmentSize:
		return ShowWalSegmentSize, true
	case ShowDataDirectoryMode:
		return ShowDataDirectoryMode, true
	}
	return "", false
}

// parseWALPush parses `START_WAL_PUSH (proto_version '3', allow_timeline_creation 'false')`.
func parseWALPush(q string) (WALPushOptions, error) {
	opts := WALPushOptions{ProtoVersion: 2, AllowTimelineCreation: true}
	m := walPushRe.FindStringSubmatch(q)
	if m == nil {
		return opts, fmt.Errorf("failed to parse START_WAL_PUSH command %s", q)
	}
	for _, kv := range strings.Split(m[2], ",") {
		if kv == "" {
			continue
		}
		f := strings.Fields(kv)
		if len(f) == 0 {
			return opts, fmt.Errorf("failed to parse key in kv %s in command %s", kv, q)
		}
		if len(f) < 2 {
			return opts, fmt.Errorf("failed to parse value in kv %s in command %s", kv, q)
		}
		key, value := f[0], strings.Trim(f[1], "'")
		switch key {
		case "proto_version":
			v, err := parseUint(value, 32)
			if err != nil {
				return opts, fmt.Errorf("failed to parse proto_version value %s in command %s: %v", f[1], q, err)
			}
			opts.ProtoVersion = uint32(v)
		case "allow_timeline_creation":
			switch value {
			case "true":
				opts.AllowTimelineCreation = true
			case "false":
				opts.AllowTimelineCreation = false
			default:
				return opts, fmt.Errorf("failed to parse allow_timeline_creation value %s in command %s: provided string was not `true` or `false`", f[1], q)
			}
		}
	}
	return opts, nil
}

// parseReplication parses `START_REPLICATION [SLOT s] [PHYSICAL] X/Y [(term='N')]`.
func parseReplication(q string) (ReplicationOptions, error) {
	var opts ReplicationOptions
	m := replicationRe.FindStringSubmatch(q)
	if m == nil {
		return opts, fmt.Errorf("failed to parse START_REPLICATION command %s", q)
	}
	lsn, err := pgwal.ParseLSN(m[1])
	if err != nil {
		return opts, fmt.Errorf("parse start LSN from START_REPLICATION command: %v", err)
	}
	opts.StartLSN = lsn
	if m[2] != "" {
		t, err := strconv.ParseUint(m[2], 10, 64)
		if err != nil {
			return opts, fmt.Errorf("invalid term: %v", err)
		}
		opts.Term, opts.HasTerm = t, true
	}
	return opts, nil
}
