package replication

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/walproto"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestServerMessageVectors(t *testing.T) {
	w := AppendXLogData(nil, XLogDataHeader{WALStart: 0x0000000101000000, WALEnd: 0x0000000101000010, SendTime: -2}, []byte{0xAA, 0xBB})
	want := unhex(t, "77"+"0000000101000000"+"0000000101000010"+"fffffffffffffffe"+"aabb")
	if !bytes.Equal(w, want) {
		t.Fatalf("XLogData\n got %x\nwant %x", w, want)
	}
	h, data, err := ParseXLogData(w)
	if err != nil || h.WALStart != 0x101000000 || h.WALEnd != 0x101000010 || h.SendTime != -2 || !bytes.Equal(data, []byte{0xAA, 0xBB}) {
		t.Fatalf("ParseXLogData = %+v %x %v", h, data, err)
	}
	buf := make([]byte, XLogDataHeaderSize)
	putXLogDataHeader(buf, h)
	if !bytes.Equal(buf, want[:XLogDataHeaderSize]) {
		t.Fatalf("putXLogDataHeader = %x", buf)
	}

	k := AppendKeepalive(nil, Keepalive{WALEnd: 0x149FD18, SendTime: 1, ReplyRequested: true})
	wantK := unhex(t, "6b"+"000000000149fd18"+"0000000000000001"+"01")
	if !bytes.Equal(k, wantK) {
		t.Fatalf("Keepalive\n got %x\nwant %x", k, wantK)
	}
	if got, err := ParseKeepalive(k); err != nil || got != (Keepalive{WALEnd: 0x149FD18, SendTime: 1, ReplyRequested: true}) {
		t.Fatalf("ParseKeepalive = %+v, %v", got, err)
	}
}

func TestPGTimestamp(t *testing.T) {
	epoch := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := PGTimestamp(epoch); got != 0 {
		t.Fatalf("PGTimestamp(epoch) = %d", got)
	}
	if got := PGTimestamp(epoch.Add(1500 * time.Microsecond)); got != 1500 {
		t.Fatalf("PGTimestamp(epoch+1.5ms) = %d", got)
	}
	if got := TimeFromPG(-1); !got.Equal(epoch.Add(-time.Microsecond)) {
		t.Fatalf("TimeFromPG(-1) = %v", got)
	}
}

func TestParseClientMessage(t *testing.T) {
	reply := "72" + "0000000001000000" + "0000000002000000" + "0000000003000000" + "0000000000000007" + "01"
	// xmin xid=0x10 epoch=2, catalog_xmin xid=0x20 epoch=0.
	hs := "68" + "0000000000000009" + "00000010" + "00000002" + "00000020" + "00000000"
	fb := walproto.PageserverFeedback{CurrentTimelineSize: 5, LastReceivedLSN: 0x10, DiskConsistentLSN: 0x20,
		RemoteConsistentLSN: 0x30, ReplyTime: -7, ShardNumber: 2, CorruptionDetected: true}
	z := AppendPageserverFeedbackMessage(nil, fb)
	zBadLen := append([]byte{'z', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, z[9:]...)

	tests := []struct {
		name string
		in   []byte
		want ClientMessage
		err  error
	}{
		{"reply", unhex(t, reply), ClientMessage{Tag: 'r', Reply: StandbyReply{WriteLSN: 0x1000000, FlushLSN: 0x2000000, ApplyLSN: 0x3000000, ReplyTS: 7, ReplyRequested: true}}, nil},
		{"reply requested 2", unhex(t, reply[:len(reply)-2]+"02"), ClientMessage{}, ErrMalformed},
		{"reply short", unhex(t, reply[:len(reply)-2]), ClientMessage{}, ErrMalformed},
		{"reply long", unhex(t, reply+"00"), ClientMessage{}, ErrMalformed},
		{"hs", unhex(t, hs), ClientMessage{Tag: 'h', HotStandby: walproto.HotStandbyFeedback{TS: 9, Xmin: 2<<32 | 0x10, CatalogXmin: 0x20}}, nil},
		{"hs short", unhex(t, hs[:len(hs)-2]), ClientMessage{}, ErrMalformed},
		{"hs long", unhex(t, hs+"00"), ClientMessage{}, ErrMalformed},
		{"z", z, ClientMessage{Tag: 'z', Pageserver: fb}, nil},
		{"z length ignored", zBadLen, ClientMessage{Tag: 'z', Pageserver: fb}, nil},
		{"z trailing ignored", append(append([]byte{}, z...), 1, 2, 3), ClientMessage{Tag: 'z', Pageserver: fb}, nil},
		{"z no body", []byte{'z', 0, 0, 0, 0, 0, 0, 0, 0}, ClientMessage{}, ErrMalformed},
		{"z short", []byte{'z', 0}, ClientMessage{}, ErrMalformed},
		{"z bad key length", unhex(t, "7a0000000000000000"+"01"+hex.EncodeToString([]byte("ps_writelsn\x00"))+"00000004"+"00000001"), ClientMessage{}, ErrMalformed},
		{"empty", nil, ClientMessage{}, ErrUnknownMessage},
		{"unknown", []byte("x123"), ClientMessage{Tag: 'x'}, ErrUnknownMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseClientMessage(tt.in)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if got := AppendStandbyReply(nil, StandbyReply{WriteLSN: 0x1000000, FlushLSN: 0x2000000, ApplyLSN: 0x3000000, ReplyTS: 7, ReplyRequested: true}); !bytes.Equal(got, unhex(t, reply)) {
		t.Errorf("AppendStandbyReply = %x", got)
	}
	if got := AppendHotStandbyFeedback(nil, walproto.HotStandbyFeedback{TS: 9, Xmin: 2<<32 | 0x10, CatalogXmin: 0x20}); !bytes.Equal(got, unhex(t, hs)) {
		t.Errorf("AppendHotStandbyFeedback = %x", got)
	}
}
