package walproto

import (
	"encoding/binary"
	"errors"
	"testing"
)

func TestStartWALPushQueryTV0(t *testing.T) {
	t.Parallel()
	q := StartWALPushQuery(3, true)
	if q != "START_WAL_PUSH (proto_version '3', allow_timeline_creation 'true')" || len(q) != 66 {
		t.Fatalf("query = %q (%d bytes)", q, len(q))
	}
	// As a simple Query message it is 'Q', length 0x47, text, NUL: 72 bytes.
	msg := append([]byte{'Q'}, binary.BigEndian.AppendUint32(nil, uint32(4+len(q)+1))...)
	msg = append(append(msg, q...), 0)
	if len(msg) != 72 || msg[4] != 0x47 {
		t.Fatalf("framed query is %d bytes, length byte %#x", len(msg), msg[4])
	}
	v, allow, err := ParseStartWALPush(q)
	if err != nil || v != 3 || !allow {
		t.Fatalf("ParseStartWALPush = %d, %t, %v", v, allow, err)
	}
}

func TestParseStartWALPush(t *testing.T) {
	t.Parallel()
	tests := []struct {
		query   string
		version uint32
		allow   bool
		err     bool
	}{
		{"START_WAL_PUSH", 2, true, false},
		{"START_WAL_PUSH (proto_version '2', allow_timeline_creation 'false')", 2, false, false},
		{"START_WAL_PUSH (proto_version '3', allow_timeline_creation 'false')", 3, false, false},
		{"START_WAL_PUSH (proto_version 3)", 3, true, false},
		{"START_WAL_PUSH (proto_version '4')", 4, true, false}, // checked on the first message
		{"START_WAL_PUSH(proto_version '3')", 2, true, false},  // no whitespace: no options
		{"START_WAL_PUSH  \t (proto_version '3')", 3, true, false},
		{"START_WAL_PUSH\n(proto_version '3')", 3, true, false},
		{"START_WAL_PUSH (proto_version '3'", 2, true, false},           // no ")": no options
		{"START_WAL_PUSH (proto_version '3'\n)", 2, true, false},        // ")" on the next line
		{"START_WAL_PUSH (proto_version '3') trailing", 3, true, false}, // text after ")" ignored
		{"START_WAL_PUSH (proto_version '3') (x)", 0, false, true},      // group runs to the last ")": value "'3')"
		{"START_WAL_PUSH (,,proto_version '3',)", 3, true, false},       // empty pieces skipped
		{"START_WAL_PUSH (proto_version '3', )", 0, false, true},        // blank piece has no key
		{"START_WAL_PUSH (proto_version)", 0, false, true},              // missing value
		{"START_WAL_PUSH (proto_version '3' extra)", 3, true, false},    // extra tokens ignored
		{"START_WAL_PUSH (proto_version ''3'')", 3, true, false},        // all quotes trimmed
		{"START_WAL_PUSH (proto_version '+3')", 3, true, false},         // Rust u32 accepts "+"
		{"START_WAL_PUSH (proto_version '-3')", 0, false, true},
		{"START_WAL_PUSH (proto_version '4294967296')", 0, false, true},
		{"START_WAL_PUSH (proto_version 'x')", 0, false, true},
		{"START_WAL_PUSH (proto_version '')", 0, false, true},
		{"START_WAL_PUSH (allow_timeline_creation 'True')", 0, false, true},
		{"START_WAL_PUSH (allow_timeline_creation '1')", 0, false, true},
		{"START_WAL_PUSH (unknown 'x', proto_version '3')", 3, true, false},
		{"START_WAL_PUSH (Proto_Version '3')", 2, true, false}, // keys are case-sensitive
		{"START_WAL_PUSH (proto_version '3', proto_version '2')", 2, true, false},
		{"START_WAL_PUSHX (proto_version '3')", 2, true, false},
		{"START_WAL_PUSH ()", 2, true, false},
		{"start_wal_push", 0, false, true},
		{"IDENTIFY_SYSTEM", 0, false, true},
	}
	for _, tt := range tests {
		v, allow, err := ParseStartWALPush(tt.query)
		if tt.err {
			if !errors.Is(err, ErrBadCommand) {
				t.Errorf("%q: err = %v, want ErrBadCommand", tt.query, err)
			}
			continue
		}
		if err != nil || v != tt.version || allow != tt.allow {
			t.Errorf("%q = %d, %t, %v; want %d, %t", tt.query, v, allow, err, tt.version, tt.allow)
		}
	}
}
