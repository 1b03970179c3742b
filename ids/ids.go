// Package ids holds the identifiers walkeeper shares with Neon: tenant and
// timeline ids (16 bytes, 32 hex characters in text) and node ids.
package ids

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// ErrBadID is returned when text is not 32 hex characters.
var ErrBadID = errors.New("invalid id: want 32 hex characters")

// ID is a 16-byte Neon identifier (utils::id::Id).
type ID [16]byte

// TenantID identifies a tenant.
type TenantID = ID

// TimelineID identifies a timeline inside a tenant.
type TimelineID = ID

// NodeID is a safekeeper or pageserver node id. Zero is invalid.
type NodeID uint64

// String is the lower-case 32 hex character form.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether every byte is zero.
func (id ID) IsZero() bool { return id == ID{} }

// Parse parses 32 hex characters in either case.
func Parse(s string) (ID, error) {
	var id ID
	if len(s) != 32 {
		return id, fmt.Errorf("%w: %q", ErrBadID, s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("%w: %q", ErrBadID, s)
	}
	return id, nil
}

// MustParse is Parse for constants in tests; it panics on bad input.
func MustParse(s string) ID {
	id, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return id
}

// MarshalText implements encoding.TextMarshaler (hex in JSON).
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// TTID names one timeline of one tenant.
type TTID struct {
	Tenant   TenantID
	Timeline TimelineID
}

// String is "<tenant>/<timeline>", as Neon prints it.
func (t TTID) String() string { return t.Tenant.String() + "/" + t.Timeline.String() }
