package design_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

func TestCapacityCrossings(t *testing.T) {
	store := memory.New()
	capa, err := design.NewCapacity(context.Background(), store, design.CapacityConfig{Clock: itsm.NewFakeClock(monday),
		Thresholds: []design.Threshold{
			{ID: "cpu", Metric: "cpu_percent", Warning: 80, Critical: 95, Above: true},
			{ID: "disk", Metric: "disk_free_gb", Warning: 20, Critical: 5},
			{ID: "disk-web", Metric: "disk_free_gb", Targets: []string{"web01"}, Warning: 50, Critical: 10}}})
	require.NoError(t, err)
	ctx := as(agent)
	steps := []struct {
		metric string
		value  float64
		want   string
	}{
		{"cpu_percent", 50, design.LevelNormal},
		{"cpu_percent", 85, design.LevelWarning},
		{"cpu_percent", 90, design.LevelWarning},
		{"cpu_percent", 99, design.LevelCritical},
		{"cpu_percent", 10, design.LevelNormal},
		{"disk_free_gb", 4, design.LevelCritical},
		{"memory_mb", 1, ""},
	}
	for i, s := range steps {
		levels, err := capa.Push(ctx, design.Sample{Metric: s.metric, TargetID: "db01", At: monday.Add(time.Duration(i) * time.Minute), Value: s.value})
		require.NoError(t, err)
		if s.want == "" {
			assert.Empty(t, levels)
			continue
		}
		assert.Equal(t, []string{s.want}, levels, "%s = %g", s.metric, s.value)
	}
	levels, err := capa.Push(ctx, design.Sample{Metric: "disk_free_gb", TargetID: "web01", At: monday, Value: 30})
	require.NoError(t, err)
	assert.Equal(t, []string{design.LevelNormal, design.LevelWarning}, levels, "the general threshold, then web01's own")
	hist, err := capa.Watches().History(ctx, design.WatchID("cpu", "db01"))
	require.NoError(t, err)
	var names []string
	for _, ev := range hist {
		names = append(names, ev.Name)
	}
	assert.Equal(t, []string{"create", "warn", "escalate", "clear"}, names, "only crossings write")

	before, err := store.ReadEvents(context.Background(), 0, 1000)
	require.NoError(t, err)
	for _, s := range []design.Sample{
		{Metric: "cpu_percent", TargetID: "db01", At: monday, Value: math.NaN()},
		{Metric: "cpu_percent", TargetID: "db01", At: monday, Value: math.Inf(1)},
		{Metric: "", TargetID: "db01", At: monday, Value: 1},
		{Metric: "cpu_percent", TargetID: "", At: monday, Value: 1},
		{Metric: "cpu_percent", TargetID: "db01", Value: 1},
	} {
		_, err := capa.Push(ctx, s)
		assert.ErrorIs(t, err, itsm.ErrInvalid)
	}
	after, err := store.ReadEvents(context.Background(), 0, 1000)
	require.NoError(t, err)
	assert.Equal(t, before, after)

	for _, th := range []design.Threshold{
		{ID: "x", Metric: "m", Warning: math.NaN(), Critical: 1, Above: true},
		{ID: "x", Metric: "m", Warning: 90, Critical: 80, Above: true},
		{ID: "", Metric: "m", Warning: 1, Critical: 2, Above: true},
		{ID: "x", Metric: "", Warning: 1, Critical: 2, Above: true},
	} {
		_, err := design.NewCapacity(context.Background(), memory.New(), design.CapacityConfig{Thresholds: []design.Threshold{th}})
		assert.ErrorIs(t, err, itsm.ErrInvalid)
	}
}

func TestContractsDueForRenewal(t *testing.T) {
	store := memory.New()
	sup, err := design.NewSuppliers(context.Background(), store, design.SuppliersConfig{Clock: itsm.NewFakeClock(monday)})
	require.NoError(t, err)
	ctx := as(agent)
	acme := &design.Supplier{Name: "Acme Hosting"}
	require.NoError(t, sup.Suppliers().Create(ctx, acme, storage.Command{}))
	year := 365 * 24 * time.Hour
	soon := &design.Contract{SupplierID: acme.ID, Name: "Hosting", Start: monday.Add(-year), End: monday.Add(30 * 24 * time.Hour),
		RenewalNotice: 60 * 24 * time.Hour, Underpinning: []string{"acme-uc"}, ServiceIDs: []string{"email"},
		Value: design.Money{Amount: 1200000, Currency: "EUR"}}
	later := &design.Contract{SupplierID: acme.ID, Name: "Backup", Start: monday, End: monday.Add(year), RenewalNotice: 90 * 24 * time.Hour}
	draft := &design.Contract{SupplierID: acme.ID, Name: "Draft", Start: monday.Add(-year), End: monday.Add(time.Hour)}
	for _, c := range []*design.Contract{soon, later, draft} {
		require.NoError(t, sup.AddContract(ctx, c, storage.Command{}))
	}
	for _, c := range []*design.Contract{soon, later} {
		_, err := sup.Contracts().Fire(ctx, c.ID, "activate", storage.Command{}, nil)
		require.NoError(t, err)
	}
	due, _, err := sup.DueForRenewal(ctx, monday, storage.Paging{Limit: 10})
	require.NoError(t, err)
	require.Len(t, due, 1)
	assert.Equal(t, soon.ID, due[0].ID)
	assert.Equal(t, monday.Add(-30*24*time.Hour), due[0].RenewalDueAt)

	renewed, err := sup.Renew(ctx, soon.ID, soon.End.Add(year), storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, 1, renewed.RenewalCount)
	due, _, err = sup.DueForRenewal(ctx, monday, storage.Paging{Limit: 10})
	require.NoError(t, err)
	assert.Empty(t, due)

	before, err := store.ReadEvents(context.Background(), 0, 1000)
	require.NoError(t, err)
	_, err = sup.Renew(ctx, soon.ID, monday, storage.Command{})
	assert.ErrorIs(t, err, itsm.ErrInvalid)
	assert.ErrorIs(t, sup.AddContract(ctx, &design.Contract{SupplierID: itsm.NewID(), Name: "x", Start: monday, End: monday.Add(time.Hour)}, storage.Command{}), itsm.ErrInvalid)
	assert.ErrorIs(t, sup.AddContract(ctx, &design.Contract{SupplierID: acme.ID, Name: "x", Start: monday, End: monday}, storage.Command{}), itsm.ErrInvalid)
	assert.ErrorIs(t, sup.AddContract(ctx, &design.Contract{SupplierID: acme.ID, Name: "x", Start: monday, End: monday.Add(time.Hour), RenewalNotice: 2 * time.Hour}, storage.Command{}), itsm.ErrInvalid)
	_, err = sup.Contracts().Fire(ctx, draft.ID, "renew", storage.Command{}, nil)
	assert.ErrorIs(t, err, itsm.ErrInvalidTransition)
	after, err := store.ReadEvents(context.Background(), 0, 1000)
	require.NoError(t, err)
	assert.Equal(t, before, after)
}
