package auth

import (
	"errors"
	"fmt"

	"github.com/walkeeper/walkeeper/ids"
)

// Scope is a token's "scope" claim (Neon utils::auth::Scope).
type Scope string

// Every scope Neon defines. Only ScopeSafekeeperData and ScopeTenant grant
// anything on a safekeeper.
const (
	ScopeTenant         Scope = "tenant"
	ScopeTenantEndpoint Scope = "tenantendpoint"
	ScopePageServerAPI  Scope = "pageserverapi"
	ScopeSafekeeperData Scope = "safekeeperdata"
	ScopeGenerationsAPI Scope = "generations_api"
	ScopeAdmin          Scope = "admin"
	ScopeInfra          Scope = "infra"
	ScopeScrubber       Scope = "scrubber"
	ScopeControllerPeer Scope = "controller_peer"
)

// Known reports whether s is one of the scopes Neon defines. A token with
// any other scope fails to decode, as in Neon.
func (s Scope) Known() bool {
	switch s {
	case ScopeTenant, ScopeTenantEndpoint, ScopePageServerAPI, ScopeSafekeeperData,
		ScopeGenerationsAPI, ScopeAdmin, ScopeInfra, ScopeScrubber, ScopeControllerPeer:
		return true
	}
	return false
}

// ErrForbidden is returned by the permission checks: the token is valid but
// does not grant this access.
var ErrForbidden = errors.New("permission denied")

// Claims is the validated payload of a token (Neon utils::auth::Claims).
type Claims struct {
	Scope Scope
	// TenantID is set when the token names a tenant; HasTenant says so.
	TenantID  ids.TenantID
	HasTenant bool
	// EndpointID is the raw endpoint_id claim ("" when absent or empty).
	EndpointID string
}

// CheckTenant implements the safekeeper's rule for a tenant-specific
// operation: safekeeperdata is allowed, tenant is allowed iff the claim's
// tenant matches, every other scope is refused.
func (c *Claims) CheckTenant(tenant ids.TenantID) error {
	switch c.Scope {
	case ScopeSafekeeperData:
		return nil
	case ScopeTenant:
		if !c.HasTenant || c.TenantID != tenant {
			return fmt.Errorf("%w: tenant id mismatch", ErrForbidden)
		}
		return nil
	default:
		return fmt.Errorf("%w: JWT scope %q is ineligible for Safekeeper auth", ErrForbidden, c.Scope)
	}
}

// CheckNodeWide implements the rule for node-wide operations (no tenant):
// only safekeeperdata is allowed.
func (c *Claims) CheckNodeWide() error {
	switch c.Scope {
	case ScopeSafekeeperData:
		return nil
	case ScopeTenant:
		return fmt.Errorf("%w: tenant scope on a node-wide operation", ErrForbidden)
	default:
		return fmt.Errorf("%w: JWT scope %q is ineligible for Safekeeper auth", ErrForbidden, c.Scope)
	}
}
