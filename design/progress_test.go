package design_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/design/calendar"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// SLAPercentages evaluates each record's clocks in progress or paused at
// the instant asked, as Check does, and keeps the largest: a paused clock
// stays where it paused, a completed one is absent, a breached one is over
// 100, and unknown ids are absent. The figures are the office calendar's
// business time (Monday 09:00 to 17:00), asked at Monday 11:00.
func TestSLAPercentages(t *testing.T) {
	f := newFixture(t, responseSLA(), resolutionSLA())
	type step struct {
		at            time.Duration // after Monday 09:00
		event, reason string
	}
	cases := []struct {
		name     string
		priority int
		steps    []step
		want     float64 // -1: absent
	}{
		{"running: two of eight hours", 2, []step{{0, "start", ""}}, 25},
		{"paused after one of four hours, not advancing", 1, []step{{0, "start", ""}, {time.Hour, "hold", "awaiting_caller"}}, 25},
		{"on hold for a reason that does not pause: advancing", 1, []step{{0, "start", ""}, {time.Hour, "hold", "awaiting_change"}}, 50},
		{"completed: absent", 1, []step{{0, "start", ""}, {time.Hour, "resolve", ""}}, -1},
		{"canceled: absent", 1, []step{{30 * time.Minute, "cancel", ""}}, -1},
		{"breached response beside resolution at 50%: the largest wins", 1, nil, 400},
		{"both clocks running, response the larger", 3, nil, 50},
	}
	ids := make([]string, len(cases))
	for i, tc := range cases {
		f.clock.Set(monday)
		inc := &incident{ShortDescription: tc.name, Priority: tc.priority}
		require.NoError(t, f.incidents.Create(as(agent), inc, storage.Command{}))
		ids[i] = inc.ID
		for _, s := range tc.steps {
			f.clock.Set(monday.Add(s.at))
			f.fire(t, inc.ID, s.event, func(x *incident) error { x.HoldReason = s.reason; return nil })
		}
	}
	now := monday.Add(2 * time.Hour)
	f.clock.Set(now)
	f.sync(t)

	got, err := f.engine.SLAPercentages(context.Background(), "incident", append([]string{"no-such-incident"}, ids...), now)
	require.NoError(t, err)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pct, ok := got[ids[i]]
			if tc.want < 0 {
				assert.False(t, ok, "got %v", pct)
				return
			}
			require.True(t, ok)
			assert.InDelta(t, tc.want, pct, 0.001)
		})
	}
	assert.NotContains(t, got, "no-such-incident")
	assert.Len(t, got, 5)

	// Many ids, most unknown and some repeated, read in several chunks,
	// give the same answer; a later instant moves only the running clocks.
	many := make([]string, 0, 1200)
	for i := range 1000 {
		many = append(many, fmt.Sprintf("unknown-%04d", i))
		if i%200 == 0 {
			many = append(many, ids...)
		}
	}
	again, err := f.engine.SLAPercentages(context.Background(), "incident", many, now)
	require.NoError(t, err)
	assert.Equal(t, got, again)
	later, err := f.engine.SLAPercentages(context.Background(), "incident", ids, now.Add(time.Hour))
	require.NoError(t, err)
	assert.InDelta(t, 37.5, later[ids[0]], 0.001, "running: three of eight hours")
	assert.InDelta(t, 25, later[ids[1]], 0.001, "paused: unchanged")
}

// At every instant Check writes a clock on a business calendar, the
// percentage it stores is the one SLAPercentages returns for that instant:
// overnight and at the weekend too.
func TestSLAPercentagesAgreeWithCheck(t *testing.T) {
	f := newFixture(t)
	f.clock.Set(monday.Add(5 * time.Hour)) // Monday 14:00; four office hours due Tuesday 10:00
	inc := &incident{ShortDescription: "printer on fire", Priority: 1}
	require.NoError(t, f.incidents.Create(as(agent), inc, storage.Command{}))
	f.sync(t)
	for _, tc := range []struct {
		name string
		at   time.Duration // after Monday 09:00
		want float64
	}{
		{"50% warning, Monday 16:30", 7*time.Hour + 30*time.Minute, 62.5},
		{"75% warning, checked Monday 20:00", 11 * time.Hour, 75},
		{"90% warning, Tuesday 09:40", 24*time.Hour + 40*time.Minute, 91.67},
		{"breach, Tuesday 11:00", 26 * time.Hour, 125},
		{"breached, Saturday: Friday 17:00 is the last business time", 5 * 24 * time.Hour, 875},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := monday.Add(tc.at)
			f.clock.Set(now)
			pcts, err := f.engine.SLAPercentages(context.Background(), "incident", []string{inc.ID}, now)
			require.NoError(t, err)
			_, err = f.engine.Check(context.Background(), now)
			require.NoError(t, err)
			c := f.clockOf(t, inc.ID, "resolution")
			if tc.at < 5*24*time.Hour {
				require.True(t, c.EvaluatedAt.Equal(now), "Check evaluated the clock at %s", now)
				assert.Equal(t, c.Percentage, pcts[inc.ID])
			}
			assert.InDelta(t, tc.want, pcts[inc.ID], 0.001)
		})
	}
}

// Bad input is refused with ErrInvalid, without a panic and without a
// write.
func TestSLAPercentagesRefusals(t *testing.T) {
	f := newFixture(t)
	inc := &incident{ShortDescription: "x", Priority: 1}
	require.NoError(t, f.incidents.Create(as(agent), inc, storage.Command{}))
	f.sync(t)
	before, err := f.store.ReadEvents(context.Background(), 0, 1000)
	require.NoError(t, err)
	tooMany := make([]string, design.MaxPercentageIDs+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprint(i)
	}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		kind string
		ids  []string
	}{
		{"nil context", nil, "incident", []string{inc.ID}},
		{"empty kind", context.Background(), "", []string{inc.ID}},
		{"kind no definition runs on", context.Background(), "problem", []string{inc.ID}},
		{"empty id", context.Background(), "incident", []string{inc.ID, ""}},
		{"too many ids", context.Background(), "incident", tooMany},
		{"id too long to be indexed", context.Background(), "incident", []string{string(make([]byte, 5000))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.engine.SLAPercentages(tc.ctx, tc.kind, tc.ids, f.clock.Now())
			assert.ErrorIs(t, err, itsm.ErrInvalid)
			assert.Nil(t, got)
		})
	}
	got, err := f.engine.SLAPercentages(context.Background(), "incident", nil, f.clock.Now())
	require.NoError(t, err, "no ids: an empty answer")
	assert.Empty(t, got)

	// An engine whose code no longer declares the definition of a stored
	// clock still evaluates it, on the version the clock keeps (issue 22).
	want, err := f.engine.SLAPercentages(context.Background(), "incident", []string{inc.ID}, f.clock.Now())
	require.NoError(t, err)
	other, err := design.NewEngine(context.Background(), f.store, design.EngineConfig{Name: "other",
		Definitions: []design.Definition{responseSLA()}, Calendars: []*calendar.Calendar{officeHours(t)}, Clock: f.clock})
	require.NoError(t, err)
	before, err = f.store.ReadEvents(context.Background(), 0, 1000) // NewEngine seeded its definition
	require.NoError(t, err)
	got, err = other.SLAPercentages(context.Background(), "incident", []string{inc.ID}, f.clock.Now())
	require.NoError(t, err)
	assert.Equal(t, want, got)
	after, err := f.store.ReadEvents(context.Background(), 0, 1000)
	require.NoError(t, err)
	assert.Equal(t, before, after)
}
