package storage

import (
	"context"

	"github.com/pillars-itsm/pillars/itsm"
)

type allTenantsKey struct{}

// AllTenants returns a context under which Backend.ReadEvents returns the
// events of every tenant, each carrying its Tenant. It is for the host's
// own log consumers (KPIs, SLA timers, deliveries) that serve every tenant
// and scope each event by its Tenant; it widens nothing else: documents,
// queries, sequences and histories stay scoped to the context's tenant.
func AllTenants(ctx context.Context) context.Context {
	return context.WithValue(ctx, allTenantsKey{}, true)
}

// IsAllTenants reports whether ctx was made by AllTenants.
func IsAllTenants(ctx context.Context) bool {
	if ctx == nil {
		return false
	}
	all, _ := ctx.Value(allTenantsKey{}).(bool)
	return all
}

// TenantOf returns the tenant a backend call with ctx belongs to: the one
// set with itsm.WithTenant, else itsm.DefaultTenant. A malformed tenant is
// ErrInvalid naming it; so is a context without a tenant when required
// (a store configured to require one). Every adapter calls it at the top
// of every Backend and Tx method.
func TenantOf(ctx context.Context, required bool) (string, error) {
	t, ok := itsm.TenantFrom(ctx)
	if !ok {
		if required {
			return "", itsm.Invalidf("tenant: the context names no tenant and this store requires one (itsm.WithTenant)")
		}
		return itsm.DefaultTenant, nil
	}
	if err := itsm.CheckTenant(t); err != nil {
		return "", err
	}
	return t, nil
}
