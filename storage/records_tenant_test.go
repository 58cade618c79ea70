package storage_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// TestRecordsTenants runs commands for two tenants on one store: each
// counts its numbers from 1, sees only its records, and its events carry
// the tenant inside their hash chain.
func TestRecordsTenants(t *testing.T) {
	f := newFixture(t)
	acme, globex := itsm.WithTenant(as(agent), "acme"), itsm.WithTenant(as(agent), "globex")
	a, g, d := &ticket{Title: "acme printer"}, &ticket{Title: "globex printer"}, &ticket{Title: "default printer"}
	require.NoError(t, f.records.Create(acme, a, storage.Command{}))
	require.NoError(t, f.records.Create(globex, g, storage.Command{}))
	require.NoError(t, f.records.Create(as(agent), d, storage.Command{}))
	for _, tk := range []*ticket{a, g, d} {
		assert.Equal(t, "TKT0000001", tk.Number, "every tenant counts on its own")
	}
	_, err := f.records.Fire(acme, a.ID, "start", storage.Command{}, nil)
	require.NoError(t, err)

	tests := []struct {
		name   string
		ctx    context.Context
		own    *ticket
		tenant string
	}{
		{"acme", acme, a, "acme"},
		{"globex", globex, g, "globex"},
		{"default", as(agent), d, itsm.DefaultTenant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.records.Get(tt.ctx, tt.own.ID)
			require.NoError(t, err)
			assert.Equal(t, tt.own.Title, got.Title)
			for _, other := range []*ticket{a, g, d} {
				if other == tt.own {
					continue
				}
				_, err := f.records.Get(tt.ctx, other.ID)
				require.ErrorIs(t, err, itsm.ErrNotFound, "another tenant's record does not exist")
				_, err = f.records.Fire(tt.ctx, other.ID, "start", storage.Command{}, nil)
				require.ErrorIs(t, err, itsm.ErrNotFound)
			}
			evs, err := f.records.History(tt.ctx, tt.own.ID)
			require.NoError(t, err)
			require.NotEmpty(t, evs)
			for _, ev := range evs {
				assert.Equal(t, tt.tenant, ev.Tenant)
			}
			require.NoError(t, f.records.Verify(tt.ctx, tt.own.ID), "the chain covers the tenant and verifies")
			all, err := f.records.All(tt.ctx, storage.Query{})
			require.NoError(t, err)
			require.Len(t, all, 1)
			assert.Equal(t, tt.own.ID, all[0].ID)
		})
	}

	// A tenant's event moved to another tenant no longer verifies.
	evs, err := f.records.History(acme, a.ID)
	require.NoError(t, err)
	evs[0].Tenant = "globex"
	require.Error(t, itsm.Verify(evs[:1], evs[0].Hash))
}

func TestRecordsTenantNumbers(t *testing.T) {
	f := newFixture(t)
	recs, err := storage.NewRecords(f.store, f.records.Collection(), f.records.Machine(),
		storage.RecordsConfig{Prefix: "TKT", Clock: f.clock, TenantNumbers: true})
	require.NoError(t, err)
	tests := []struct {
		name string
		ctx  context.Context
		want []string
	}{
		{"tenant", itsm.WithTenant(as(agent), "acme-eu"), []string{"ACME-EU-TKT0000001", "ACME-EU-TKT0000002"}},
		{"other tenant", itsm.WithTenant(as(agent), "globex"), []string{"GLOBEX-TKT0000001"}},
		{"default tenant keeps plain numbers", as(agent), []string{"TKT0000001"}},
		{"bad tenant", itsm.WithTenant(as(agent), "Bad Tenant"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == nil {
				err := recs.Create(tt.ctx, &ticket{Title: "x"}, storage.Command{})
				require.ErrorIs(t, err, itsm.ErrInvalid)
				return
			}
			for _, want := range tt.want {
				tk := &ticket{Title: "x"}
				require.NoError(t, recs.Create(tt.ctx, tk, storage.Command{}))
				assert.Equal(t, want, tk.Number)
			}
		})
	}
	// A kept number in the tenant's format moves the tenant's sequence.
	ctx := itsm.WithTenant(as(importer), "acme-eu")
	require.NoError(t, recs.Create(ctx, &ticket{Record: itsm.Record{Number: "ACME-EU-TKT0000040"}, Title: "kept"}, storage.Command{}))
	tk := &ticket{Title: "next"}
	require.NoError(t, recs.Create(itsm.WithTenant(as(agent), "acme-eu"), tk, storage.Command{}))
	assert.Equal(t, "ACME-EU-TKT0000041", tk.Number)
}
