package itsm_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
)

func TestCheckTenant(t *testing.T) {
	tests := []struct {
		tenant string
		ok     bool
	}{
		{"acme", true},
		{"default", true},
		{"bu-7_north", true},
		{"7eleven", true},
		{strings.Repeat("a", itsm.MaxTenantLen), true},
		{"", false},
		{strings.Repeat("a", itsm.MaxTenantLen+1), false},
		{"Acme", false},
		{"-acme", false},
		{"_acme", false},
		{"acme corp", false},
		{"acme/../x", false},
		{"ac\x00me", false},
		{"ácme", false},
		{"acme'; drop table", false},
	}
	for _, tt := range tests {
		t.Run(tt.tenant, func(t *testing.T) {
			err := itsm.CheckTenant(tt.tenant)
			if tt.ok {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, itsm.ErrInvalid)
			assert.Contains(t, err.Error(), "tenant")
		})
	}
}

func TestTenantFrom(t *testing.T) {
	got, ok := itsm.TenantFrom(context.Background())
	assert.Equal(t, itsm.DefaultTenant, got)
	assert.False(t, ok)

	got, ok = itsm.TenantFrom(itsm.WithTenant(context.Background(), "acme"))
	assert.Equal(t, "acme", got)
	assert.True(t, ok)

	//lint:ignore SA1012 a nil context must not panic
	got, ok = itsm.TenantFrom(nil) //nolint:staticcheck
	assert.Equal(t, itsm.DefaultTenant, got)
	assert.False(t, ok)
}

// TestHashCoversTenant: an event of a named tenant hashes differently from
// the same event elsewhere, so moving it between tenants breaks its chain,
// while default-tenant events hash as they did before tenants existed.
func TestHashCoversTenant(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	ev := itsm.Event{ID: "e1", Kind: "incident", RecordID: "r1", RecordVersion: 1, Name: "create", To: "new", Actor: "ann", At: at, RecordedAt: at}
	none := itsm.ComputeHash(&ev)
	ev.Tenant = itsm.DefaultTenant
	assert.Equal(t, none, itsm.ComputeHash(&ev), "the default tenant keeps pre-tenant hashes")
	ev.Tenant = "acme"
	acme := itsm.ComputeHash(&ev)
	ev.Tenant = "globex"
	assert.NotEqual(t, acme, itsm.ComputeHash(&ev))
	assert.NotEqual(t, none, acme)
}
