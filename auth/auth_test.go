package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/walkeeper/walkeeper/ids"
)

const tenantHex = "cf0480929707ee75372337efaa5ecf96"

func genKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func sign(t *testing.T, priv ed25519.PrivateKey, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writeKey(t *testing.T, path string, pub ed25519.PublicKey) {
	t.Helper()
	data, err := MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	pub, priv := genKey(t)
	_, otherPriv := genKey(t)
	v := NewValidator([]ed25519.PublicKey{pub})
	now := time.Now()
	hs, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"scope": "safekeeperdata"}).SignedString([]byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"scope": "safekeeperdata"}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		token   string
		ok      bool
		scope   Scope
		tenant  bool
		comment string
	}{
		{name: "safekeeperdata", token: sign(t, priv, jwt.MapClaims{"scope": "safekeeperdata"}), ok: true, scope: ScopeSafekeeperData},
		{name: "tenant", token: sign(t, priv, jwt.MapClaims{"scope": "tenant", "tenant_id": tenantHex}), ok: true, scope: ScopeTenant, tenant: true},
		{name: "tenant null id", token: sign(t, priv, jwt.MapClaims{"scope": "tenant", "tenant_id": nil}), ok: true, scope: ScopeTenant},
		{name: "endpoint id empty", token: sign(t, priv, jwt.MapClaims{"scope": "admin", "endpoint_id": ""}), ok: true, scope: ScopeAdmin},
		{name: "exp future", token: sign(t, priv, jwt.MapClaims{"scope": "safekeeperdata", "exp": now.Add(time.Hour).Unix()}), ok: true, scope: ScopeSafekeeperData},
		{name: "exp within leeway", token: sign(t, priv, jwt.MapClaims{"scope": "safekeeperdata", "exp": now.Add(-30 * time.Second).Unix()}), ok: true, scope: ScopeSafekeeperData},
		{name: "nbf in future ignored", token: sign(t, priv, jwt.MapClaims{"scope": "safekeeperdata", "nbf": now.Add(time.Hour).Unix()}), ok: true, scope: ScopeSafekeeperData},
		{name: "expired", token: sign(t, priv, jwt.MapClaims{"scope": "safekeeperdata", "exp": now.Add(-2 * time.Minute).Unix()})},
		{name: "audience", token: sign(t, priv, jwt.MapClaims{"scope": "safekeeperdata", "aud": "x"})},
		{name: "other key", token: sign(t, otherPriv, jwt.MapClaims{"scope": "safekeeperdata"})},
		{name: "hs256", token: hs},
		{name: "alg none", token: none},
		{name: "unknown scope", token: sign(t, priv, jwt.MapClaims{"scope": "root"})},
		{name: "no scope", token: sign(t, priv, jwt.MapClaims{"tenant_id": tenantHex})},
		{name: "bad tenant", token: sign(t, priv, jwt.MapClaims{"scope": "tenant", "tenant_id": "xyz"})},
		{name: "garbage", token: "not.a.jwt"},
		{name: "empty", token: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Validate(tt.token)
			if !tt.ok {
				if !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("want ErrInvalidToken, got %v (%+v)", err, c)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Scope != tt.scope || c.HasTenant != tt.tenant {
				t.Fatalf("claims %+v", c)
			}
			if tt.tenant && c.TenantID.String() != tenantHex {
				t.Fatalf("tenant %s", c.TenantID)
			}
		})
	}
}

func TestCheckTenant(t *testing.T) {
	tenant := ids.MustParse(tenantHex)
	other := ids.MustParse("00000000000000000000000000000001")
	tests := []struct {
		c        Claims
		tenantOK bool
		nodeOK   bool
	}{
		{Claims{Scope: ScopeSafekeeperData}, true, true},
		{Claims{Scope: ScopeTenant, TenantID: tenant, HasTenant: true}, true, false},
		{Claims{Scope: ScopeTenant, TenantID: other, HasTenant: true}, false, false},
		{Claims{Scope: ScopeTenant}, false, false},
		{Claims{Scope: ScopeAdmin}, false, false},
		{Claims{Scope: ScopePageServerAPI}, false, false},
		{Claims{Scope: ScopeTenantEndpoint, TenantID: tenant, HasTenant: true}, false, false},
		{Claims{Scope: ScopeGenerationsAPI}, false, false},
		{Claims{Scope: ScopeInfra}, false, false},
		{Claims{Scope: ScopeScrubber}, false, false},
		{Claims{Scope: ScopeControllerPeer}, false, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.c.Scope), func(t *testing.T) {
			if err := tt.c.CheckTenant(tenant); (err == nil) != tt.tenantOK || (err != nil && !errors.Is(err, ErrForbidden)) {
				t.Errorf("CheckTenant: %v, want ok=%v", err, tt.tenantOK)
			}
			if err := tt.c.CheckNodeWide(); (err == nil) != tt.nodeOK {
				t.Errorf("CheckNodeWide: %v, want ok=%v", err, tt.nodeOK)
			}
		})
	}
}

func TestLoadKeys(t *testing.T) {
	pub1, _ := genKey(t)
	pub2, priv2 := genKey(t)
	dir := t.TempDir()

	if v, err := LoadKeys(""); v != nil || err != nil {
		t.Fatalf("empty path: %v %v", v, err)
	}

	file := filepath.Join(dir, "one.pem")
	writeKey(t, file, pub1)
	if _, err := LoadKeys(file); err != nil {
		t.Fatal(err)
	}

	keyDir := filepath.Join(dir, "keys")
	if err := os.MkdirAll(filepath.Join(keyDir, "subdir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeys(keyDir); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("empty dir: %v", err)
	}
	writeKey(t, filepath.Join(keyDir, "a.pem"), pub1)
	writeKey(t, filepath.Join(keyDir, "b.pem"), pub2)
	v, err := LoadKeys(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Validate(sign(t, priv2, jwt.MapClaims{"scope": "safekeeperdata"})); err != nil {
		t.Fatalf("second key in dir: %v", err)
	}

	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeys(bad); !errors.Is(err, ErrBadKey) {
		t.Fatalf("bad key: %v", err)
	}
	if _, err := LoadKeys(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing path accepted")
	}
}
