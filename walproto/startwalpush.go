package walproto

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// StartWALPushQuery is the query the walproposer sends to open a WAL push
// stream, e.g. "START_WAL_PUSH (proto_version '3', allow_timeline_creation 'true')".
func StartWALPushQuery(protoVersion uint32, allowTimelineCreation bool) string {
	return fmt.Sprintf("START_WAL_PUSH (proto_version '%d', allow_timeline_creation '%t')",
		protoVersion, allowTimelineCreation)
}

// ParseStartWALPush parses a START_WAL_PUSH query as the reference safekeeper
// does. The options are the text between the first "(" that follows at
// least one whitespace character after START_WAL_PUSH and the last ")"
// before the next newline (the regex START_WAL_PUSH(\s+?\((.*)\))?); without
// such a group there are no options. They are split on ","; empty pieces are
// skipped, every other piece needs a key and a value separated by
// whitespace, the value's single quotes are trimmed from both ends.
// proto_version is a u32, allow_timeline_creation exactly "true" or "false";
// other keys are ignored. Absent keys default to version 2 and creation
// allowed. The version is not checked here: the reference reports an
// unsupported one only on the first message, after the switch to COPY.
func ParseStartWALPush(query string) (protoVersion uint32, allowTimelineCreation bool, err error) {
	const cmd = "START_WAL_PUSH"
	if !strings.HasPrefix(query, cmd) {
		return 0, false, fmt.Errorf("%w: %q", ErrBadCommand, query)
	}
	protoVersion, allowTimelineCreation = DefaultVersion, true
	for _, kv := range strings.Split(startWALPushOptions(query[len(cmd):]), ",") {
		if kv == "" {
			continue
		}
		f := strings.Fields(kv)
		if len(f) < 2 {
			return 0, false, fmt.Errorf("%w: no key and value in %q", ErrBadCommand, kv)
		}
		value := strings.Trim(f[1], "'")
		switch f[0] {
		case "proto_version":
			v, perr := parseRustU32(value)
			if perr != nil {
				return 0, false, fmt.Errorf("%w: proto_version value %s: %w", ErrBadCommand, f[1], perr)
			}
			protoVersion = v
		case "allow_timeline_creation":
			switch value {
			case "true":
				allowTimelineCreation = true
			case "false":
				allowTimelineCreation = false
			default:
				return 0, false, fmt.Errorf("%w: allow_timeline_creation value %s", ErrBadCommand, f[1])
			}
		}
	}
	return protoVersion, allowTimelineCreation, nil
}

// startWALPushOptions returns the parenthesised group's content from the text
// after START_WAL_PUSH, or "" when the regex group does not match.
func startWALPushOptions(s string) string {
	rest := strings.TrimLeftFunc(s, unicode.IsSpace)
	if len(rest) == len(s) || !strings.HasPrefix(rest, "(") {
		return ""
	}
	rest = rest[1:]
	if i := strings.IndexByte(rest, '\n'); i >= 0 {
		rest = rest[:i] // "." does not match a newline
	}
	i := strings.LastIndexByte(rest, ')')
	if i < 0 {
		return ""
	}
	return rest[:i]
}

// parseRustU32 parses like Rust's str::parse::<u32>: an optional "+", then
// decimal digits only.
func parseRustU32(s string) (uint32, error) {
	digits := strings.TrimPrefix(s, "+")
	if digits == "" || !utf8.ValidString(digits) || strings.ContainsAny(digits, "+-_") {
		return 0, fmt.Errorf("invalid digit in %q", s)
	}
	v, err := strconv.ParseUint(digits, 10, 32)
	if err != nil {
		return 0, err
	}
	return uint32(v), nil
}
