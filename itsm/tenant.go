package itsm

import (
	"context"
	"fmt"
)

// DefaultTenant is the tenant of every record, sequence and event written
// without a tenant in the context. A host that runs one business unit never
// names a tenant and notices nothing: its data is the default tenant's.
const DefaultTenant = "default"

// MaxTenantLen bounds a tenant id in bytes.
const MaxTenantLen = 63

type tenantKey struct{}

// WithTenant returns a context whose reads and writes belong to tenant.
// Every store scopes every document, query, cursor, sequence, event and
// history to the tenant of the context it is called with; a record of
// another tenant does not exist for the caller (ErrNotFound). The id is
// checked where it is used: a malformed one (see CheckTenant) makes every
// store call fail with ErrInvalid naming it, never fall back to a default.
func WithTenant(ctx context.Context, tenant string) context.Context {
	return context.WithValue(ctx, tenantKey{}, tenant)
}

// TenantFrom returns the tenant carried by ctx and whether one was set. A
// context without one (or a nil context) belongs to DefaultTenant, which
// is what stores use unless they are configured to require a tenant.
func TenantFrom(ctx context.Context) (string, bool) {
	if ctx == nil {
		return DefaultTenant, false
	}
	t, ok := ctx.Value(tenantKey{}).(string)
	if !ok {
		return DefaultTenant, false
	}
	return t, true
}

// CheckTenant reports whether t may name a tenant: 1 to MaxTenantLen bytes
// of lower-case ASCII letters, digits, '-' and '_', starting with a letter
// or digit. The error matches ErrInvalid and names the tenant.
func CheckTenant(t string) error {
	if len(t) == 0 || len(t) > MaxTenantLen {
		return Invalidf("tenant %q: must be 1 to %d characters", clip(t), MaxTenantLen)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_') && i > 0:
		default:
			return Invalidf("tenant %q: character %d is %q; use lower-case letters, digits, '-' and '_', starting with a letter or digit", clip(t), i, fmt.Sprintf("%c", c))
		}
	}
	return nil
}

// clip shortens an untrusted id for an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
