package pgwire

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// hexBytes decodes hex with spaces and '|' separators for readability.
func hexBytes(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.NewReplacer(" ", "", "|", "", "\n", "", "\t", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

func encodeAll(t testing.TB, msgs ...encoder) []byte {
	t.Helper()
	var out []byte
	for _, m := range msgs {
		var err error
		if out, err = m.Encode(out); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// Pinned byte sequences (walproposer-protocol §1.3, §1.4, §4.1, §4.2).
var (
	trustSequenceHex = "52 00000008 00000000" + // AuthenticationOk
		"|53 00000019 636c69656e745f656e636f64696e6700 5554463800" + // client_encoding=UTF8
		"|53 00000019 696e74656765725f6461746574696d657300 6f6e00" + // integer_datetimes=on
		"|53 00000018 7365727665725f76657273696f6e00 31342e3100" + // server_version=14.1
		"|5a 00000005 49" // ReadyForQuery 'I'
	jwtRequestHex = "52 00000008 00000003" // AuthenticationCleartextPassword
	jwtOKHex      = "52 00000008 00000000" +
		"|53 00000019 636c69656e745f656e636f64696e6700 5554463800" +
		"|5a 00000005 49"
	jwtErrorHex = "45 0000002d 53 4552524f5200 43 585830303000" +
		"4d 4a57542061757468656e7469636174696f6e206572726f7200 00" // "JWT authentication error"
	rfqHex = "5a 00000005 49"
)

func TestStartupSequences(t *testing.T) {
	if got, want := encodeAll(t, trustStartupMessages()...), hexBytes(t, trustSequenceHex); !bytes.Equal(got, want) {
		t.Errorf("trust sequence\n got %x\nwant %x", got, want)
	}
	if got, want := encodeAll(t, jwtOKMessages()...), hexBytes(t, jwtOKHex); !bytes.Equal(got, want) {
		t.Errorf("jwt ok sequence\n got %x\nwant %x", got, want)
	}
	if got, want := encodeAll(t, &pgproto3.AuthenticationCleartextPassword{}), hexBytes(t, jwtRequestHex); !bytes.Equal(got, want) {
		t.Errorf("cleartext request\n got %x\nwant %x", got, want)
	}
}

func TestErrorResponseBytes(t *testing.T) {
	tests := []struct {
		code, msg, want string
	}{
		{SQLStateInternalError, MsgJWTError, jwtErrorHex},
		{SQLStateInternalError, "", "45 00000015 53 4552524f5200 43 585830303000 4d 00 00"},
		{SQLStateAdminShutdown, "shutdown", "45 0000001d 53 4552524f5200 43 353750303100 4d 73687574646f776e00 00"},
	}
	for _, tt := range tests {
		if got, want := AppendErrorResponse([]byte{1}, tt.code, tt.msg), append([]byte{1}, hexBytes(t, tt.want)...); !bytes.Equal(got, want) {
			t.Errorf("%s %q\n got %x\nwant %x", tt.code, tt.msg, got, want)
		}
	}
}

func TestIdentifySystemBytes(t *testing.T) {
	row := IdentifySystemRow{SystemID: 0x1234567887654321, XLogPos: 0x1000150}
	got := encodeAll(t, identifySystemMessages(row)...)
	wantHex := "54 0000006f 0004" +
		"|73797374656d696400 00000000 0000 00000019 ffff ffffffff 0000" +
		"|74696d656c696e6500 00000000 0000 00000017 0004 ffffffff 0000" +
		"|786c6f67706f7300 00000000 0000 00000019 ffff ffffffff 0000" +
		"|64626e616d6500 00000000 0000 00000019 ffff ffffffff 0000" +
		"|44 00000033 0004" +
		"|00000013 31333131373638343637313339323831363937" + // 1311768467139281697
		"|00000001 31" + // "1"
		"|00000009 302f31303030313530" + // "0/1000150"
		"|ffffffff" + // NULL
		"|43 00000014 4944454e544946595f53595354454d00" // IDENTIFY_SYSTEM
	if w := hexBytes(t, wantHex); !bytes.Equal(got, w) {
		t.Errorf("IDENTIFY_SYSTEM\n got %x\nwant %x", got, w)
	}
}

func TestTimelineStatusBytes(t *testing.T) {
	rowDesc := "54 0000003f 0002" +
		"|666c7573685f6c736e00 00000000 0000 00000019 ffff ffffffff 0000" +
		"|636f6d6d69745f6c736e00 00000000 0000 00000019 ffff ffffffff 0000"
	complete := "|43 00000014 54494d454c494e455f53544154555300"
	if got, want := encodeAll(t, timelineStatusMessages(nil)...), hexBytes(t, rowDesc+complete); !bytes.Equal(got, want) {
		t.Errorf("TIMELINE_STATUS not found\n got %x\nwant %x", got, want)
	}
	row := &TimelineStatusRow{FlushLSN: 0x1000158, CommitLSN: 0x1000150}
	dataRow := "|44 00000020 0002 00000009 302f31303030313538 00000009 302f31303030313530"
	if got, want := encodeAll(t, timelineStatusMessages(row)...), hexBytes(t, rowDesc+dataRow+complete); !bytes.Equal(got, want) {
		t.Errorf("TIMELINE_STATUS\n got %x\nwant %x", got, want)
	}
}

func TestShowBytes(t *testing.T) {
	want := "54 00000029 0001 77616c5f7365676d656e745f73697a6500 00000000 0000 00000019 ffff ffffffff 0000" +
		"|44 0000000e 0001 00000004 31364d42" + // "16MB"
		"|43 00000009 53484f5700" // SHOW
	if got, w := encodeAll(t, showMessages(ShowWalSegmentSize, "16MB")...), hexBytes(t, want); !bytes.Equal(got, w) {
		t.Errorf("SHOW\n got %x\nwant %x", got, w)
	}
}
