package pgwire

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/walkeeper/walkeeper/auth"
)

const ttidOptions = "-c timeline_id=" + timelineHex + " tenant_id=" + tenantHex

func TestTrustHandshakeBytes(t *testing.T) {
	addr := startServer(t, Config{})
	c := dial(t, addr)
	c.write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}) // SSLRequest
	c.expect([]byte{'N'})
	c.write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30}) // GSSENCRequest
	c.expect([]byte{'N'})
	c.startup(ttidOptions)
	c.expect(hexBytes(t, trustSequenceHex))
	c.send(&pgproto3.Terminate{})
	c.expectClosed()
}

func TestStartupErrorsClose(t *testing.T) {
	addr := startServer(t, Config{})
	tests := map[string][]byte{
		"cancel request":      {0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1, 0, 0, 0, 2},
		"too short":           {0, 0, 0, 7, 0, 3, 0, 0},
		"too long":            {0, 0, 0x27, 0x11, 0, 3, 0, 0},
		"unknown 1234 code":   {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x31},
		"direct tls":          {0x16, 0x03, 0x01, 0x00, 0xf0},
		"no terminator":       append([]byte{0, 0, 0, 13, 0, 3, 0, 0}, "user\x00"...),
		"bad tenant in opts":  mustEncode(t, &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"options": "tenant_id=zz"}}),
		"vanilla with shards": mustEncode(t, &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"options": "shard_count=1"}}),
	}
	for name, pkt := range tests {
		t.Run(name, func(t *testing.T) {
			c := dial(t, addr)
			c.write(pkt)
			c.expectClosed()
		})
	}
}

func mustEncode(t testing.TB, m pgproto3.FrontendMessage) []byte {
	b, err := m.Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestQueries(t *testing.T) {
	h := &fakeHandler{identErr: errString("Timeline " + tenantHex + "/" + timelineHex + " was not found in global map")}
	addr := startServer(t, Config{Handler: h})
	c := dial(t, addr)
	c.startup(ttidOptions)
	c.expect(hexBytes(t, trustSequenceHex))

	steps := []struct {
		q    string
		want []byte
	}{
		{"set datestyle to ISO", queryBytes(t, &pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")})},
		{"TIMELINE_STATUS", queryBytes(t, timelineStatusMessages(nil)...)},
		{"IDENTIFY_SYSTEM", queryBytes(t, errorResponse{SQLStateInternalError, "Timeline " + tenantHex + "/" + timelineHex + " was not found in global map"})},
		{"BASE_BACKUP", queryBytes(t, errorResponse{SQLStateInternalError, "unsupported command BASE_BACKUP"})},
		{"SHOW wal_segment_size", queryBytes(t, showMessages("wal_segment_size", "16MB")...)},
		{"SHOW data_directory_mode", queryBytes(t, showMessages("data_directory_mode", "0700")...)},
		{"START_WAL_PUSH (proto_version 'x')", queryBytes(t, errorResponse{SQLStateInternalError,
			`failed to parse proto_version value 'x' in command START_WAL_PUSH (proto_version 'x'): strconv.ParseUint: parsing "x": invalid syntax`})},
		{"START_WAL_PUSH", queryBytes(t, errorResponse{SQLStateInternalError, "START_WAL_PUSH is not implemented yet"})},
		{"START_REPLICATION 0/0", queryBytes(t, errorResponse{SQLStateInternalError, "START_REPLICATION is not implemented yet"})},
		{"TIMELINE_STATUS", queryBytes(t, timelineStatusMessages(nil)...)},
	}
	for _, s := range steps {
		c.send(query(s.q))
		c.expect(s.want)
	}
	row := &TimelineStatusRow{FlushLSN: 0x1000158, CommitLSN: 0x1000150}
	h.mu.Lock()
	h.status = row
	h.mu.Unlock()
	c.send(query("TIMELINE_STATUS"))
	c.expect(queryBytes(t, timelineStatusMessages(row)...))
	c.send(&pgproto3.CopyData{Data: []byte("x")}) // CopyData outside COPY closes
	c.expectClosed()
}

type errString string

func (e errString) Error() string { return string(e) }

func TestIdsRequired(t *testing.T) {
	addr := startServer(t, Config{})
	for opts, msg := range map[string]string{"": MsgTenantRequired, "-c tenant_id=" + tenantHex: MsgTimelineRequired} {
		c := dial(t, addr)
		c.startup(opts)
		c.expect(hexBytes(t, trustSequenceHex))
		c.send(query("TIMELINE_STATUS"))
		c.expect(queryBytes(t, errorResponse{SQLStateInternalError, msg}))
		// Unsupported commands are reported before the ids are checked.
		c.send(query("FOO"))
		c.expect(queryBytes(t, errorResponse{SQLStateInternalError, "unsupported command FOO"}))
		c.send(query("SHOW wal_segment_size"))
		c.expect(queryBytes(t, showMessages("wal_segment_size", "16MB")...))
	}
}

func TestExtendedProtocolMinimal(t *testing.T) {
	addr := startServer(t, Config{})
	c := dial(t, addr)
	c.startup(ttidOptions)
	c.expect(hexBytes(t, trustSequenceHex))
	c.send(&pgproto3.Parse{Query: "TIMELINE_STATUS"}, &pgproto3.Bind{}, &pgproto3.Describe{ObjectType: 'P'},
		&pgproto3.Execute{}, &pgproto3.Sync{})
	c.expect(append(encodeAll(t, &pgproto3.ParseComplete{}, &pgproto3.BindComplete{},
		&pgproto3.ParameterDescription{}, &pgproto3.NoData{}), queryBytes(t, timelineStatusMessages(nil)...)...))
}

// jwtEnv is a validator and a signer for wire tests.
type jwtEnv struct {
	v    *auth.Validator
	priv ed25519.PrivateKey
}

func newJWTEnv(t *testing.T) jwtEnv {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return jwtEnv{v: auth.NewValidator([]ed25519.PublicKey{pub}), priv: priv}
}

func (e jwtEnv) token(t *testing.T, claims jwt.MapClaims) string {
	s, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(e.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWTHandshakeBytes(t *testing.T) {
	env := newJWTEnv(t)
	addr := startServer(t, Config{Auth: env.v})
	tenantTok := env.token(t, jwt.MapClaims{"scope": "tenant", "tenant_id": tenantHex})
	otherTok := env.token(t, jwt.MapClaims{"scope": "tenant", "tenant_id": timelineHex})
	skTok := env.token(t, jwt.MapClaims{"scope": "safekeeperdata"})

	for name, tok := range map[string]string{"tenant": tenantTok, "safekeeperdata": skTok} {
		t.Run(name, func(t *testing.T) {
			c := dial(t, addr)
			c.startup(ttidOptions)
			c.expect(hexBytes(t, jwtRequestHex))
			c.send(&pgproto3.PasswordMessage{Password: tok})
			c.expect(hexBytes(t, jwtOKHex))
			c.send(query("TIMELINE_STATUS"))
			c.expect(queryBytes(t, timelineStatusMessages(nil)...))
		})
	}
	t.Run("other tenant refused per query", func(t *testing.T) {
		c := dial(t, addr)
		c.startup(ttidOptions)
		c.expect(hexBytes(t, jwtRequestHex))
		c.send(&pgproto3.PasswordMessage{Password: otherTok})
		c.expect(hexBytes(t, jwtOKHex))
		c.send(query("TIMELINE_STATUS"))
		c.expect(append(hexBytes(t, jwtErrorHex), hexBytes(t, rfqHex)...))
		c.send(query("set datestyle to ISO")) // the datestyle hack skips the check
		c.expect(queryBytes(t, &pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")}))
	})
	refused := map[string]string{
		"garbage":       "garbage",
		"empty":         "",
		"tenant no id":  env.token(t, jwt.MapClaims{"scope": "tenant"}),
		"unknown scope": env.token(t, jwt.MapClaims{"scope": "nope"}),
		"other key":     newJWTEnv(t).token(t, jwt.MapClaims{"scope": "safekeeperdata"}),
		"audience":      env.token(t, jwt.MapClaims{"scope": "safekeeperdata", "aud": "a"}),
		"expired":       env.token(t, jwt.MapClaims{"scope": "safekeeperdata", "exp": 1}),
	}
	for name, tok := range refused {
		t.Run("refused "+name, func(t *testing.T) {
			c := dial(t, addr)
			c.startup(ttidOptions)
			c.expect(hexBytes(t, jwtRequestHex))
			c.send(&pgproto3.PasswordMessage{Password: tok})
			c.expect(hexBytes(t, jwtErrorHex))
			c.expectClosed()
		})
	}
	t.Run("query instead of password", func(t *testing.T) {
		c := dial(t, addr)
		c.startup(ttidOptions)
		c.expect(hexBytes(t, jwtRequestHex))
		c.send(query("TIMELINE_STATUS"))
		c.expectClosed()
	})
}

func TestTenantOnlyListener(t *testing.T) {
	env := newJWTEnv(t)
	addr := startServer(t, Config{Auth: env.v, TenantOnly: true})
	c := dial(t, addr)
	c.startup(ttidOptions)
	c.expect(hexBytes(t, jwtRequestHex))
	c.send(&pgproto3.PasswordMessage{Password: env.token(t, jwt.MapClaims{"scope": "safekeeperdata"})})
	c.expect(hexBytes(t, jwtErrorHex))
	c.expectClosed()

	c = dial(t, addr)
	c.startup(ttidOptions)
	c.expect(hexBytes(t, jwtRequestHex))
	c.send(&pgproto3.PasswordMessage{Password: env.token(t, jwt.MapClaims{"scope": "tenant", "tenant_id": tenantHex})})
	c.expect(hexBytes(t, jwtOKHex))
}

func TestParseStartupPacket(t *testing.T) {
	be := func(v ...uint32) []byte {
		var b []byte
		for _, x := range v {
			b = binary.BigEndian.AppendUint32(b, x)
		}
		return b
	}
	tests := []struct {
		name string
		pkt  []byte
		want any
	}{
		{"ssl", be(8, sslRequestCode), &pgproto3.SSLRequest{}},
		{"gss", be(8, gssEncRequestCode), &pgproto3.GSSEncRequest{}},
		{"cancel", be(16, cancelRequestCode, 1, 2), &pgproto3.CancelRequest{ProcessID: 1, SecretKey: []byte{0, 0, 0, 2}}},
		{"startup", append(be(16, pgproto3.ProtocolVersion30), "user\x00u\x00\x00"...), nil},
		{"length mismatch", be(9, sslRequestCode), ErrStartupLength},
		{"short", be(4), ErrStartupLength},
		{"reserved", be(8, 1234<<16|1), ErrStartupPacket},
		{"bad utf8", append(be(16, pgproto3.ProtocolVersion30), "user\x00\xff\x00\x00"...), ErrStartupPacket},
		{"protocol 2", append(be(16, 2<<16), "user\x00u\x00\x00"...), ErrStartupPacket},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := ParseStartupPacket(tt.pkt)
			switch w := tt.want.(type) {
			case error:
				if !errorsIs(err, w) {
					t.Fatalf("err %v, want %v", err, w)
				}
			case nil:
				sm, ok := msg.(*pgproto3.StartupMessage)
				if err != nil || !ok || sm.Parameters["user"] != "u" {
					t.Fatalf("got %#v, %v", msg, err)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if got, want := mustEncode(t, msg), mustEncode(t, w.(pgproto3.FrontendMessage)); string(got) != string(want) {
					t.Fatalf("got %#v", msg)
				}
			}
		})
	}
}

// stallConn is a net.Conn whose Read blocks until a deadline in the past is
// set, then fails as a real socket does.
type stallConn struct {
	net.Conn
	entered chan struct{}
	expired chan struct{}
	once    sync.Once
}

func (c *stallConn) Read(p []byte) (int, error) {
	close(c.entered)
	<-c.expired
	return 0, os.ErrDeadlineExceeded
}

func (c *stallConn) SetReadDeadline(t time.Time) error {
	if t.Before(time.Now()) {
		c.once.Do(func() { close(c.expired) })
	}
	return nil
}

// TestInterruptDuringRead: an interrupt that lands after Read checked the
// flag, while the socket read is blocked, is reported as ErrInterrupted
// and not as the deadline error it causes.
func TestInterruptDuringRead(t *testing.T) {
	nc := &stallConn{entered: make(chan struct{}), expired: make(chan struct{})}
	r := &deadlineReader{nc: nc, timeout: time.Minute}
	errc := make(chan error, 1)
	go func() { _, err := r.Read(make([]byte, 8)); errc <- err }()
	<-nc.entered
	r.interrupt()
	if err := <-errc; !errors.Is(err, ErrInterrupted) {
		t.Fatalf("Read = %v, want ErrInterrupted", err)
	}
}
