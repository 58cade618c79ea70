package design_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

func TestAvailability(t *testing.T) {
	store := memory.New()
	clock := itsm.NewFakeClock(monday.Add(30 * 24 * time.Hour))
	av, err := design.NewAvailability(context.Background(), store, design.AvailabilityConfig{Clock: clock})
	require.NoError(t, err)
	ctx := as(agent)
	week := monday.Add(-9 * time.Hour) // Monday 00:00
	outages := []*design.Outage{
		// Monday 10:00-12:00 unplanned, overlapping 11:00-13:00: one failure of 3h.
		{ServiceID: "email", Type: design.Unplanned, Begin: week.Add(10 * time.Hour), End: week.Add(12 * time.Hour)},
		{ServiceID: "email", Type: design.Unplanned, Begin: week.Add(11 * time.Hour), End: week.Add(13 * time.Hour)},
		// Saturday maintenance 02:00-06:00, with an unplanned 05:00-07:00 inside and after it.
		{ServiceID: "email", Type: design.Planned, Begin: week.Add(5*24*time.Hour + 2*time.Hour), End: week.Add(5*24*time.Hour + 6*time.Hour)},
		{ServiceID: "email", Type: design.Unplanned, Begin: week.Add(5*24*time.Hour + 5*time.Hour), End: week.Add(5*24*time.Hour + 7*time.Hour)},
		// Another service does not count.
		{ServiceID: "web", Type: design.Unplanned, Begin: week.Add(time.Hour), End: week.Add(50 * time.Hour)},
	}
	for _, o := range outages {
		require.NoError(t, av.RecordOutage(ctx, o, storage.Command{}))
		assert.Equal(t, design.OutageEnded, o.State)
	}
	// An ongoing outage from Sunday 22:00 counts until the period's end.
	ongoing := &design.Outage{ServiceID: "email", Type: design.Unplanned, Begin: week.Add(6*24*time.Hour + 22*time.Hour)}
	require.NoError(t, av.RecordOutage(ctx, ongoing, storage.Command{}))
	assert.Equal(t, design.OutageOngoing, ongoing.State)

	r, err := av.Measure(ctx, "email", week, week.Add(7*24*time.Hour), officeHours(t))
	require.NoError(t, err)
	assert.Equal(t, 168*time.Hour, r.CalendarTime)
	assert.Equal(t, 4*time.Hour, r.CalendarPlanned)
	assert.Equal(t, 3*time.Hour+time.Hour+2*time.Hour, r.CalendarDowntime)
	assert.Equal(t, 3, r.Failures)
	assert.InDelta(t, float64(164-6)/164*100, r.CalendarPercent, 1e-9)
	assert.Equal(t, 40*time.Hour, r.AgreedTime)
	assert.Equal(t, 3*time.Hour, r.AgreedDowntime, "only Monday's outage falls in office hours")
	assert.InDelta(t, 37.0/40*100, r.AgreedPercent, 1e-9)
	assert.Equal(t, 2*time.Hour, r.MTRS)
	assert.Equal(t, (164-6)*time.Hour/3, r.MTBF)

	_, err = av.EndOutage(ctx, ongoing.ID, week.Add(6*24*time.Hour+23*time.Hour), storage.Command{})
	require.NoError(t, err)

	before, err := store.ReadEvents(context.Background(), 0, 1000)
	require.NoError(t, err)
	bad := []*design.Outage{
		{Type: design.Unplanned, Begin: week},
		{ServiceID: "email", Type: "sort of", Begin: week},
		{ServiceID: "email", Type: design.Planned},
		{ServiceID: "email", Type: design.Planned, Begin: week, End: week.Add(-time.Hour)},
		nil,
	}
	for _, o := range bad {
		assert.ErrorIs(t, av.RecordOutage(ctx, o, storage.Command{}), itsm.ErrInvalid)
	}
	_, err = av.Measure(ctx, "email", week, week, nil)
	assert.ErrorIs(t, err, itsm.ErrInvalid)
	_, err = av.Measure(ctx, "", week, week.Add(time.Hour), nil)
	assert.ErrorIs(t, err, itsm.ErrInvalid)
	after, err := store.ReadEvents(context.Background(), 0, 1000)
	require.NoError(t, err)
	assert.Equal(t, before, after)
}

func TestOutagesFromMajorIncidents(t *testing.T) {
	f := newFixture(t)
	av, err := design.NewAvailability(context.Background(), f.store, design.AvailabilityConfig{Clock: f.clock})
	require.NoError(t, err)
	ctx := as(agent)
	major := &incident{ShortDescription: "datacentre power", Priority: 1, ServiceID: "email"}
	require.NoError(t, f.incidents.Create(ctx, major, storage.Command{}))
	minor := &incident{ShortDescription: "one mailbox", Priority: 3, ServiceID: "email"}
	require.NoError(t, f.incidents.Create(ctx, minor, storage.Command{}))
	f.clock.Advance(30 * time.Minute)
	_, err = f.incidents.Change(ctx, major.ID, storage.Command{}, func(i *incident) error { i.Major = true; return nil })
	require.NoError(t, err)
	n, err := av.SyncMajorIncidents(context.Background(), design.MajorIncidentConfig{})
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	o, err := av.Outages().Get(ctx, design.OutageIDFor(major.ID))
	require.NoError(t, err)
	assert.Equal(t, design.OutageOngoing, o.State)
	assert.Equal(t, monday.Add(30*time.Minute), o.Begin)
	assert.Equal(t, major.ID, o.IncidentID)
	_, err = av.Outages().Get(ctx, design.OutageIDFor(minor.ID))
	assert.ErrorIs(t, err, itsm.ErrNotFound)

	f.clock.Advance(90 * time.Minute)
	f.fire(t, major.ID, "resolve", nil)
	_, err = av.SyncMajorIncidents(context.Background(), design.MajorIncidentConfig{})
	require.NoError(t, err)
	o, err = av.Outages().Get(ctx, design.OutageIDFor(major.ID))
	require.NoError(t, err)
	assert.Equal(t, design.OutageEnded, o.State)
	assert.Equal(t, monday.Add(2*time.Hour), o.End)

	r, err := av.Measure(ctx, "email", monday.Add(-9*time.Hour), monday.Add(15*time.Hour), nil)
	require.NoError(t, err)
	assert.Equal(t, 90*time.Minute, r.CalendarDowntime)
	assert.Equal(t, 1, r.Failures)
	n, err = av.SyncMajorIncidents(context.Background(), design.MajorIncidentConfig{})
	require.NoError(t, err)
	assert.Zero(t, n, "incremental")
}
