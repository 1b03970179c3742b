package replication

import (
	"bytes"
	"errors"
	"testing"

	"github.com/walkeeper/walkeeper/walproto"
)

// FuzzParseClientMessage: no panic, every error is one of the two sentinels,
// and fixed-size messages re-encode to their input.
func FuzzParseClientMessage(f *testing.F) {
	f.Add(AppendStandbyReply(nil, StandbyReply{WriteLSN: 1, FlushLSN: 2, ApplyLSN: 3, ReplyTS: 4}))
	f.Add(AppendHotStandbyFeedback(nil, walproto.HotStandbyFeedback{TS: 1, Xmin: 5<<32 | 9, CatalogXmin: 3}))
	f.Add(AppendPageserverFeedbackMessage(nil, walproto.PageserverFeedback{LastReceivedLSN: 0x100, ShardNumber: 1}))
	f.Add([]byte{})
	f.Add([]byte("?"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseClientMessage(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownMessage) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		var re []byte
		switch m.Tag {
		case TagStandbyReply:
			re = AppendStandbyReply(nil, m.Reply)
		case TagHotStandbyFeedback:
			re = AppendHotStandbyFeedback(nil, m.HotStandby)
		case TagPageserverFeedback:
			again, err := ParseClientMessage(AppendPageserverFeedbackMessage(nil, m.Pageserver))
			if err != nil || again != m {
				t.Fatalf("pageserver feedback round trip: %+v vs %+v (%v)", again, m, err)
			}
			return
		default:
			t.Fatalf("parsed unknown tag %q without error", m.Tag)
		}
		if !bytes.Equal(re, b) {
			t.Fatalf("round trip\n got %x\nwant %x", re, b)
		}
	})
}

// FuzzParseStartReplication: no panic; a parsed command's LSN and term
// appear in the query.
func FuzzParseStartReplication(f *testing.F) {
	for _, s := range []string{
		"START_REPLICATION PHYSICAL 0/149FD18",
		"START_REPLICATION PHYSICAL 0/2000000 (term='5')",
		`START_REPLICATION SLOT "s" 0/3000000 TIMELINE 1`,
		"START_REPLICATION LOGICAL 0/1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		c, err := ParseStartReplication(q)
		if err != nil {
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if c.HasTerm != (c.Mode() == ModeFlush) {
			t.Fatalf("mode %v with HasTerm %v", c.Mode(), c.HasTerm)
		}
	})
}

// FuzzParseServerMessages: the 'w' and 'k' parsers used by clients and
// tests never panic and round-trip.
func FuzzParseServerMessages(f *testing.F) {
	f.Add(AppendXLogData(nil, XLogDataHeader{WALStart: 1, WALEnd: 2, SendTime: 3}, []byte("wal")))
	f.Add(AppendKeepalive(nil, Keepalive{WALEnd: 5, SendTime: -1, ReplyRequested: true}))
	f.Add([]byte{'k'})
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, data, err := ParseXLogData(b); err == nil {
			if re := AppendXLogData(nil, h, data); !bytes.Equal(re, b) {
				t.Fatalf("XLogData round trip %x vs %x", re, b)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatal(err)
		}
		if k, err := ParseKeepalive(b); err == nil {
			if re := AppendKeepalive(nil, k); !bytes.Equal(re, b) {
				t.Fatalf("keepalive round trip %x vs %x", re, b)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatal(err)
		}
	})
}
