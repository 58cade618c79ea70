package operation_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
)

// TestTenantPriorityMatrices: tenants with their own matrix derive (and
// check) priorities with it; the others use the incident policy's.
func TestTenantPriorityMatrices(t *testing.T) {
	strict, err := operation.NewPriorityMatrix([][]int{{1, 1, 2}, {1, 2, 3}, {2, 3, 4}})
	require.NoError(t, err)
	relaxed, err := operation.NewPriorityMatrix([][]int{{3, 4, 5}, {4, 5, 5}, {5, 5, 5}})
	require.NoError(t, err)
	f := newFixture(t, func(c *operation.Config) {
		c.PriorityMatrices = map[string]*operation.PriorityMatrix{"acme": strict, "globex": relaxed}
	})
	in := func(tenant string) context.Context { return itsm.WithTenant(as(ann), tenant) }
	tests := []struct {
		name   string
		ctx    context.Context
		matrix *operation.PriorityMatrix
		opened int // impact 2, urgency 2
		raised int // then impact 1
	}{
		{"own matrix", in("acme"), strict, 2, 1},
		{"another own matrix", in("globex"), relaxed, 5, 4},
		{"tenant not listed", in("initech"), nil, 3, 2},
		{"no tenant", as(ann), nil, 3, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.matrix != nil {
				assert.Same(t, tt.matrix, f.desk.PriorityMatrix(tt.ctx))
			} else {
				assert.Equal(t, 3, f.desk.PriorityMatrix(tt.ctx).Impacts(), "the policy's matrix")
			}
			inc := &operation.Incident{ShortDescription: "VPN drops", CallerID: "carl", Impact: 2, Urgency: 2}
			require.NoError(t, f.desk.OpenIncident(tt.ctx, inc, storage.Command{}))
			assert.Equal(t, tt.opened, inc.Priority)
			assert.Empty(t, inc.PriorityOverrideReason)

			got, err := f.desk.UpdateIncident(tt.ctx, inc.ID, storage.Command{}, func(i *operation.Incident) error { i.Impact = 1; return nil })
			require.NoError(t, err)
			assert.Equal(t, tt.raised, got.Priority, "recomputed with the tenant's matrix")

			// Another tenant's priority for the same impact and urgency is an
			// override, which needs a reason.
			other := 5
			if tt.opened == 5 {
				other = 1
			}
			bad := &operation.Incident{ShortDescription: "VPN drops", CallerID: "carl", Impact: 2, Urgency: 2, Priority: other}
			require.ErrorIs(t, f.desk.OpenIncident(tt.ctx, bad, storage.Command{}), itsm.ErrInvalid)
		})
	}
}

// TestTenantPriorityMatricesBadConfig: a bad per-tenant matrix is an error
// at New naming the tenant.
func TestTenantPriorityMatricesBadConfig(t *testing.T) {
	small, err := operation.NewPriorityMatrix([][]int{{1, 2}, {2, 3}})
	require.NoError(t, err)
	tests := []struct {
		name     string
		matrices map[string]*operation.PriorityMatrix
		rule     operation.AlertRule
		want     string
	}{
		{"malformed tenant id", map[string]*operation.PriorityMatrix{"Bad Tenant": small}, operation.AlertRule{}, `"Bad Tenant"`},
		{"nil matrix", map[string]*operation.PriorityMatrix{"acme": nil}, operation.AlertRule{}, `tenant "acme" is empty`},
		{"matrix not built", map[string]*operation.PriorityMatrix{"acme": {}}, operation.AlertRule{}, `tenant "acme" is empty`},
		{"alert rule outside the matrix", map[string]*operation.PriorityMatrix{"globex": small}, operation.AlertRule{Impact: 3, Urgency: 3}, `tenant "globex": operation: alert rule`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := operation.New(context.Background(), newStore(t), operation.Config{PriorityMatrices: tt.matrices, AlertRule: tt.rule})
			require.ErrorIs(t, err, itsm.ErrInvalid)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}
