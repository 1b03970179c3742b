package auth

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/walkeeper/walkeeper/ids"
)

// ErrInvalidToken is returned for any token that does not validate: bad
// format, wrong algorithm, bad signature, expired, carries an audience, or
// has claims that do not decode.
var ErrInvalidToken = errors.New("invalid JWT")

// ExpiryLeeway is how far past "exp" a token is still accepted
// (jsonwebtoken's default).
const ExpiryLeeway = 60 * time.Second

// algorithm is the only signing algorithm accepted.
const algorithm = "EdDSA"

// Validator checks tokens against a fixed set of Ed25519 public keys. It is
// safe for concurrent use.
type Validator struct {
	keys   jwt.VerificationKeySet
	parser *jwt.Parser
	now    func() time.Time
}

// NewValidator returns a Validator trying keys in order.
func NewValidator(keys []ed25519.PublicKey) *Validator {
	v := &Validator{
		parser: jwt.NewParser(jwt.WithValidMethods([]string{algorithm}), jwt.WithoutClaimsValidation()),
		now:    time.Now,
	}
	for _, k := range keys {
		v.keys.Keys = append(v.keys.Keys, k)
	}
	return v
}

// rawClaims is the JSON payload as sent; checked field by field below.
type rawClaims struct {
	Scope      *string          `json:"scope"`
	TenantID   *string          `json:"tenant_id"`
	EndpointID *string          `json:"endpoint_id"`
	Exp        *json.Number     `json:"exp"`
	Aud        *json.RawMessage `json:"aud"`
}

// jwtClaims adapts rawClaims to jwt.Claims; validation is done by hand.
type jwtClaims struct{ rawClaims }

func (jwtClaims) GetExpirationTime() (*jwt.NumericDate, error) { return nil, nil }
func (jwtClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return nil, nil }
func (jwtClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (jwtClaims) GetIssuer() (string, error)                   { return "", nil }
func (jwtClaims) GetSubject() (string, error)                  { return "", nil }
func (jwtClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// Validate checks the signature (EdDSA only, any configured key), expiry
// (optional, with ExpiryLeeway), the absence of "aud", and decodes the
// claims. Every failure wraps ErrInvalidToken.
func (v *Validator) Validate(token string) (*Claims, error) {
	var raw jwtClaims
	_, err := v.parser.ParseWithClaims(token, &raw, func(*jwt.Token) (any, error) { return v.keys, nil })
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	return v.check(&raw.rawClaims)
}

func (v *Validator) check(raw *rawClaims) (*Claims, error) {
	if raw.Aud != nil {
		return nil, fmt.Errorf("%w: unexpected audience", ErrInvalidToken)
	}
	if raw.Exp != nil {
		exp, err := raw.Exp.Float64()
		if err != nil {
			return nil, fmt.Errorf("%w: bad exp: %v", ErrInvalidToken, err)
		}
		if exp < float64(v.now().Add(-ExpiryLeeway).Unix()) {
			return nil, fmt.Errorf("%w: token is expired", ErrInvalidToken)
		}
	}
	if raw.Scope == nil || !Scope(*raw.Scope).Known() {
		return nil, fmt.Errorf("%w: missing or unknown scope", ErrInvalidToken)
	}
	c := &Claims{Scope: Scope(*raw.Scope)}
	if raw.TenantID != nil {
		id, err := ids.Parse(*raw.TenantID)
		if err != nil {
			return nil, fmt.Errorf("%w: tenant_id: %v", ErrInvalidToken, err)
		}
		c.TenantID, c.HasTenant = id, true
	}
	if raw.EndpointID != nil {
		c.EndpointID = *raw.EndpointID
	}
	return c, nil
}
