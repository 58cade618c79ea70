package design_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/design/calendar"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// TestCodeCalendarsAreSeedData: the calendars given in code are written as
// calendar records of each tenant (at NewEngine for the tenant of its
// context, at the first Sync for the others), once, with an audited
// version that clocks run under; an admin then edits them like any
// calendar record, per tenant, and a new engine does not overwrite the
// edit.
func TestCodeCalendarsAreSeedData(t *testing.T) {
	f := newFixture(t, resolutionSLA())
	ctx := as(agent)
	cal, err := f.engine.CalendarRecords().Get(ctx, design.CalendarRecordID(itsm.DefaultTenant, "office"))
	require.NoError(t, err)
	assert.Equal(t, int64(1), cal.Version)
	assert.Equal(t, map[string][]string{"mon": {"09:00-17:00"}, "tue": {"09:00-17:00"}, "wed": {"09:00-17:00"},
		"thu": {"09:00-17:00"}, "fri": {"09:00-17:00"}}, cal.Spec.Hours)
	hist, err := f.engine.CalendarRecords().History(ctx, cal.ID)
	require.NoError(t, err)
	require.Len(t, hist, 1)
	assert.Equal(t, "seeded from EngineConfig.Calendars", hist[0].Reason)

	inc := &incident{ShortDescription: "mail down", Priority: 1}
	require.NoError(t, f.incidents.Create(ctx, inc, storage.Command{}))
	f.sync(t)
	c := f.clockOf(t, inc.ID, "resolution")
	assert.Equal(t, int64(1), c.CalendarVersion, "the clock runs on the seeded version")
	assert.Equal(t, monday.Add(4*time.Hour), c.DueAt)

	// Edited at run time: the office opens at 8 for acme's default tenant.
	early := cal.Spec
	early.Hours = map[string][]string{}
	for _, d := range []string{"mon", "tue", "wed", "thu", "fri"} {
		early.Hours[d] = []string{"08:00-17:00"}
	}
	rec, n, err := f.engine.SaveCalendar(ctx, early, design.RecomputeClocks, storage.Command{Reason: "opens at 8"})
	require.NoError(t, err)
	assert.Equal(t, int64(2), rec.Version)
	assert.Equal(t, 1, n)
	c = f.clockOf(t, inc.ID, "resolution")
	assert.Equal(t, int64(2), c.CalendarVersion)

	// Another engine on the store, with the code calendar as it was, keeps
	// the edit; another tenant is seeded with the code's calendar at its
	// first Sync.
	again, err := design.NewEngine(context.Background(), f.store, design.EngineConfig{Name: "again",
		Definitions: []design.Definition{resolutionSLA()}, Calendars: []*calendar.Calendar{officeHours(t)}, Clock: f.clock})
	require.NoError(t, err)
	kept, err := again.CalendarRecords().Get(ctx, cal.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(2), kept.Version)
	acme := itsm.WithTenant(ctx, "acme")
	_, err = again.CalendarRecords().Get(acme, design.CalendarRecordID("acme", "office"))
	require.ErrorIs(t, err, itsm.ErrNotFound)
	_, err = again.Sync(itsm.WithTenant(context.Background(), "acme"))
	require.NoError(t, err)
	theirs, err := again.CalendarRecords().Get(acme, design.CalendarRecordID("acme", "office"))
	require.NoError(t, err)
	assert.Equal(t, int64(1), theirs.Version)
	assert.Equal(t, cal.Spec, theirs.Spec)
}
