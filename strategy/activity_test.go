package strategy_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/strategy"
)

// daily counts a catalogue service's units per UTC day; it refuses ranges
// that are not whole days, as the improvement pillar's engine does.
type daily struct {
	catalogueID string
	perDay      map[string]int64 // "2006-01-02" -> count
}

func (d daily) Volume(_ context.Context, id, _ string, from, to time.Time) (int64, error) {
	if id != d.catalogueID {
		return 0, itsm.Invalidf("asked for %s, want the catalogue id %s", id, d.catalogueID)
	}
	if from.Truncate(24*time.Hour) != from || to.Truncate(24*time.Hour) != to {
		return 0, itsm.Invalidf("counts whole days only")
	}
	var n int64
	for t := from; t.Before(to); t = t.AddDate(0, 0, 1) {
		n += d.perDay[t.Format("2006-01-02")]
	}
	return n, nil
}

func TestDemandByPatternOfBusinessActivity(t *testing.T) {
	f := newFixture(t)
	erp := f.catalogued(t, "erp", "cat-erp")
	monday := time.Date(2027, 1, 4, 0, 0, 0, 0, time.UTC)
	week := []int64{40, 30, 30, 30, 50, 5, 5} // Monday and Friday peaks, quiet weekends
	d := &strategy.Demand{ServiceID: erp.ID, Unit: "incidents", Pattern: "Monday backlog, Friday releases",
		Activity:    &strategy.ActivityPattern{Name: "office week", Granularity: strategy.Weekday, Expected: week},
		PeriodStart: monday, PeriodEnd: monday.AddDate(0, 0, 14)}
	require.NoError(t, f.s.RecordDemand(agent, d, storage.Command{}))
	assert.Equal(t, int64(2*190), d.Expected, "two weeks of the pattern")

	perDay := map[string]int64{}
	for i, n := range []int64{45, 28, 30, 31, 60, 2, 4, 35, 30, 29, 30, 70, 9, 5} {
		perDay[monday.AddDate(0, 0, i).Format("2006-01-02")] = n
	}
	cmp, err := f.s.CompareDemand(agent, erp.ID, monday, monday.AddDate(0, 1, 0), daily{"cat-erp", perDay})
	require.NoError(t, err)
	require.Len(t, cmp, 1)
	assert.Equal(t, int64(408), cmp[0].Measured)
	assert.Equal(t, int64(28), cmp[0].Variance)
	require.Len(t, cmp[0].Slots, 7)
	tests := []struct {
		slot     int
		label    string
		measured int64
		variance int64
	}{
		{0, "Mon", 80, 0},
		{4, "Fri", 130, 30},
		{5, "Sat", 11, 1},
		{6, "Sun", 9, -1},
	}
	for _, tt := range tests {
		s := cmp[0].Slots[tt.slot]
		assert.Equal(t, tt.label, s.Label)
		assert.Equal(t, 2, s.Occurrences, tt.label)
		assert.Equal(t, 2*week[tt.slot], s.Expected, tt.label)
		assert.Equal(t, tt.measured, s.Measured, tt.label)
		assert.Equal(t, tt.variance, s.Variance, tt.label)
	}
	assert.InDelta(t, 1.3, cmp[0].Slots[4].Ratio, 1e-9)

	// The record reads back with its structure.
	doc, err := f.store.Get(context.Background(), strategy.DemandKind, d.ID)
	require.NoError(t, err)
	var stored strategy.Demand
	require.NoError(t, json.Unmarshal(doc.Data, &stored))
	assert.Equal(t, d.Activity, stored.Activity)

	// An hourly pattern asks the counter for hours: a counter of whole days
	// refuses, and the comparison says which record failed.
	hourly := &strategy.Demand{ServiceID: erp.ID, Unit: "incidents", PeriodStart: monday.AddDate(0, 1, 0), PeriodEnd: monday.AddDate(0, 1, 1),
		Activity: &strategy.ActivityPattern{Name: "office hours", Granularity: strategy.HourOfDay, Expected: make([]int64, 24)}}
	require.NoError(t, f.s.RecordDemand(agent, hourly, storage.Command{}))
	_, err = f.s.CompareDemand(agent, erp.ID, monday.AddDate(0, 1, 0), monday.AddDate(0, 2, 0), daily{"cat-erp", perDay})
	require.ErrorIs(t, err, itsm.ErrInvalid)
	assert.Contains(t, err.Error(), hourly.Number)
}

func TestDemandWrittenBeforePatternsHadStructure(t *testing.T) {
	// A record as the previous version wrote it: the pattern in words only.
	old := `{"id":"x","service_id":"s","pattern":"quarter-end close","unit":"incidents",` +
		`"period_start":"2027-01-01T00:00:00Z","period_end":"2027-02-01T00:00:00Z","expected":100}`
	var d strategy.Demand
	require.NoError(t, json.Unmarshal([]byte(old), &d))
	assert.Equal(t, "quarter-end close", d.Pattern)
	assert.Nil(t, d.Activity)
	require.NoError(t, d.Validate())
}

func TestBadActivityPatterns(t *testing.T) {
	f := newFixture(t)
	svc := f.catalogued(t, "erp", "cat-erp")
	week := func() []int64 { return []int64{1, 1, 1, 1, 1, 0, 0} }
	demand := func(a *strategy.ActivityPattern, start, end time.Time, expected int64) func() error {
		return func() error {
			return f.s.RecordDemand(agent, &strategy.Demand{ServiceID: svc.ID, Unit: "incidents", Activity: a,
				PeriodStart: start, PeriodEnd: end, Expected: expected}, storage.Command{})
		}
	}
	docs, evs := f.snapshot(t)
	tests := []struct {
		name string
		run  func() error
	}{
		{"no name", demand(&strategy.ActivityPattern{Granularity: strategy.Weekday, Expected: week()}, jan, jan.AddDate(0, 1, 0), 0)},
		{"unknown granularity", demand(&strategy.ActivityPattern{Name: "x", Granularity: "fortnight", Expected: week()}, jan, jan.AddDate(0, 1, 0), 0)},
		{"too few slots", demand(&strategy.ActivityPattern{Name: "x", Granularity: strategy.HourOfWeek, Expected: week()}, jan, jan.AddDate(0, 1, 0), 0)},
		{"negative slot", demand(&strategy.ActivityPattern{Name: "x", Granularity: strategy.Weekday, Expected: []int64{1, -1, 0, 0, 0, 0, 0}}, jan, jan.AddDate(0, 1, 0), 0)},
		{"period off the slot boundaries", demand(&strategy.ActivityPattern{Name: "x", Granularity: strategy.Weekday, Expected: week()}, jan.Add(9*time.Hour), jan.AddDate(0, 1, 0), 0)},
		{"monthly pattern over half a month", demand(&strategy.ActivityPattern{Name: "x", Granularity: strategy.MonthOfYear, Expected: make([]int64, 12)}, jan, jan.AddDate(0, 0, 15), 0)},
		{"too many slots", demand(&strategy.ActivityPattern{Name: "x", Granularity: strategy.HourOfDay, Expected: make([]int64, 24)}, jan, jan.AddDate(2, 0, 0), 0)},
		{"expected differs from the pattern", demand(&strategy.ActivityPattern{Name: "x", Granularity: strategy.Weekday, Expected: week()}, jan, jan.AddDate(0, 0, 7), 99)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorIs(t, tt.run(), itsm.ErrInvalid)
			d, e := f.snapshot(t)
			assert.Equal(t, docs, d, "nothing written")
			assert.Equal(t, evs, e, "nothing logged")
		})
	}
}

func TestGranularityLabels(t *testing.T) {
	tests := []struct {
		g     strategy.Granularity
		slot  int
		label string
	}{
		{strategy.HourOfDay, 14, "14:00"},
		{strategy.Weekday, 0, "Mon"},
		{strategy.HourOfWeek, 24 + 9, "Tue 09:00"},
		{strategy.DayOfMonth, 24, "25"},
		{strategy.MonthOfYear, 11, "Dec"},
		{strategy.Weekday, 7, ""},
		{"fortnight", 0, ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.label, tt.g.Label(tt.slot), "%s %d", tt.g, tt.slot)
	}
}

// series is a daily counter that also gives a range day by day, counting
// how often each method is asked.
type series struct {
	daily
	volumeCalls, seriesCalls *int
}

func (s series) Volume(ctx context.Context, id, unit string, from, to time.Time) (int64, error) {
	*s.volumeCalls++
	return s.daily.Volume(ctx, id, unit, from, to)
}

func (s series) DailyVolumes(_ context.Context, id, _ string, from, to time.Time) ([]int64, error) {
	*s.seriesCalls++
	if id != s.catalogueID {
		return nil, itsm.Invalidf("asked for %s, want the catalogue id %s", id, s.catalogueID)
	}
	var out []int64
	for t := from; t.Before(to); t = t.AddDate(0, 0, 1) {
		out = append(out, s.perDay[t.Format("2006-01-02")])
	}
	return out, nil
}

var _ strategy.DailyVolumeCounter = series{}

// TestDemandSlotsFromADailySeries compares demand records of whole-day
// patterns through a counter that gives daily series and through one that
// only counts ranges: the comparisons are the same, and the series counter
// is asked once per record instead of once per slot occurrence. An hourly
// pattern still asks per occurrence.
func TestDemandSlotsFromADailySeries(t *testing.T) {
	f := newFixture(t)
	erp := f.catalogued(t, "erp", "cat-erp")
	jan := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	perDay := map[string]int64{}
	for i := 0; i < 500; i++ {
		perDay[jan.AddDate(0, 0, i).Format("2006-01-02")] = int64(i*7%23 + i%5)
	}
	flat := func(n int) []int64 {
		xs := make([]int64, n)
		for i := range xs {
			xs[i] = int64(10 + i)
		}
		return xs
	}
	tests := []struct {
		g          strategy.Granularity
		start, end time.Time
		perSlot    bool // the series counter still asks Volume per occurrence
	}{
		{strategy.Weekday, time.Date(2027, 1, 4, 0, 0, 0, 0, time.UTC), time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), false},
		{strategy.DayOfMonth, jan, jan.AddDate(0, 3, 0), false},
		{strategy.MonthOfYear, jan.AddDate(0, 3, 0), jan.AddDate(1, 3, 0), false},
		{strategy.HourOfDay, jan.AddDate(0, 2, 1), jan.AddDate(0, 2, 2), true},
	}
	for i, tt := range tests {
		t.Run(string(tt.g), func(t *testing.T) {
			d := &strategy.Demand{ServiceID: erp.ID, Unit: "incidents", PeriodStart: tt.start, PeriodEnd: tt.end,
				Activity: &strategy.ActivityPattern{Name: "p" + string(tt.g), Granularity: tt.g, Expected: flat(tt.g.Slots())}}
			require.NoError(t, f.s.RecordDemand(agent, d, storage.Command{}))
			// Each record gets its own range of period starts.
			from, to := tt.start, tt.start.Add(time.Hour)
			plain, err := f.s.CompareDemand(agent, erp.ID, from, to, daily{"cat-erp", perDay})
			if tt.perSlot {
				require.ErrorIs(t, err, itsm.ErrInvalid, "a whole-day counter cannot count hours")
			} else {
				require.NoError(t, err)
			}
			var vol, ser int
			got, err2 := f.s.CompareDemand(agent, erp.ID, from, to, series{daily{"cat-erp", perDay}, &vol, &ser})
			require.Equal(t, err != nil, err2 != nil, "%v / %v", err, err2)
			if tt.perSlot {
				assert.Zero(t, ser)
				assert.Equal(t, 2, vol, "the period total, then the first hour, which fails")
				return
			}
			require.NoError(t, err2)
			require.Len(t, got, 1, "record %d", i)
			assert.Equal(t, plain, got)
			assert.Equal(t, 1, ser, "one series per record")
			assert.Equal(t, 1, vol, "the period total only")
			var sum int64
			for _, s := range got[0].Slots {
				sum += s.Measured
			}
			assert.Equal(t, got[0].Measured, sum, "the slots add up to the period")
			assert.Positive(t, sum)
		})
	}
}
