package improvement_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/improvement"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

func openSynced(t *testing.T, b storage.Backend, cfg improvement.Config) *improvement.Engine {
	t.Helper()
	e, err := improvement.New(context.Background(), b, cfg)
	require.NoError(t, err)
	_, err = e.Sync(context.Background())
	require.NoError(t, err)
	return e
}

func compute(t *testing.T, e *improvement.Engine, q improvement.Query) []improvement.Row {
	t.Helper()
	r, err := e.Compute(q)
	require.NoError(t, err)
	assert.Equal(t, q.KPI.Unit(), r.Unit)
	return r.Rows
}

// one returns the single row of an unsliced, unperiodised query.
func one(t *testing.T, e *improvement.Engine, k improvement.KPI) improvement.Row {
	t.Helper()
	rows := compute(t, e, improvement.Query{KPI: k})
	require.Len(t, rows, 1, "KPI %s", k)
	return rows[0]
}

func TestKPIDefinitionsOnAScenario(t *testing.T) {
	k := newKit(t)
	scenario(t, k)
	// The engine's clock stands at the scenario's last event, Tuesday 09:00.
	e := openSynced(t, k.store, improvement.Config{Calendar: halfCalendar{}, Clock: k.clock})

	tests := []struct {
		kpi   improvement.KPI
		count int64
		hits  int64
		mean  time.Duration
		value float64
	}{
		{improvement.MTTA, 2, 0, 20 * time.Minute, 20.0 / 60},
		{improvement.MTTR, 2, 0, 3*time.Hour + 45*time.Minute, 3.75},
		{improvement.MTTRBusiness, 2, 0, time.Hour + 52*time.Minute + 30*time.Second, 1.875},
		{improvement.ReopenRate, 2, 1, 0, 0.5},
		{improvement.FirstContactResolution, 2, 1, 0, 0.5},
		{improvement.GroupReassignmentRate, 2, 1, 0, 0.5},
		{improvement.SLACompliance, 2, 1, 0, 0.5},
		{improvement.ChangeSuccessRate, 2, 1, 0, 0.5},
		{improvement.EmergencyChangeRatio, 2, 1, 0, 0.5},
		{improvement.ChangesCausingIncidents, 2, 1, 0, 0.5},
		{improvement.RequestFulfilmentTime, 1, 0, 3 * time.Hour, 3},
	}
	for _, tt := range tests {
		t.Run(string(tt.kpi), func(t *testing.T) {
			r := one(t, e, tt.kpi)
			assert.Equal(t, tt.count, r.Count)
			assert.Equal(t, tt.hits, r.Hits)
			assert.Equal(t, tt.mean, r.Mean)
			assert.InDelta(t, tt.value, r.Value, 1e-9)
			assert.Equal(t, day0, r.Start)
		})
	}

	t.Run("mtbf per service", func(t *testing.T) {
		rows := compute(t, e, improvement.Query{KPI: improvement.MTBF, By: []improvement.Dimension{improvement.ByService}})
		require.Len(t, rows, 2)
		assert.Equal(t, "email", rows[0].Service)
		assert.Equal(t, time.Hour, rows[0].Mean, "email was up from 13:00 to the reopening at 14:00")
		assert.Equal(t, "vpn", rows[1].Service)
		assert.Equal(t, 2*time.Hour+55*time.Minute, rows[1].Mean, "vpn was up from the cancellation at 13:05 to 16:00")
	})

	t.Run("mtta by group takes the group at acknowledgement", func(t *testing.T) {
		rows := compute(t, e, improvement.Query{KPI: improvement.MTTA, By: []improvement.Dimension{improvement.ByGroup}})
		require.Len(t, rows, 1)
		assert.Equal(t, "desk", rows[0].Group)
		assert.Equal(t, int64(2), rows[0].Count)
	})

	t.Run("sla compliance by priority", func(t *testing.T) {
		rows := compute(t, e, improvement.Query{KPI: improvement.SLACompliance, By: []improvement.Dimension{improvement.ByPriority}})
		require.Len(t, rows, 2)
		assert.Equal(t, improvement.Row{Start: day0, End: day0.AddDate(0, 0, 1), Priority: 1, Count: 1, Hits: 0, Value: 0}, rows[0])
		assert.Equal(t, improvement.Row{Start: day0, End: day0.AddDate(0, 0, 1), Priority: 2, Count: 1, Hits: 1, Value: 1}, rows[1])
	})

	t.Run("mttr by group and priority", func(t *testing.T) {
		rows := compute(t, e, improvement.Query{KPI: improvement.MTTR, By: []improvement.Dimension{improvement.ByGroup, improvement.ByPriority}})
		require.Len(t, rows, 2)
		assert.Equal(t, "desk", rows[0].Group)
		assert.Equal(t, 2, rows[0].Priority)
		assert.Equal(t, 150*time.Minute, rows[0].Mean)
		assert.Equal(t, "network", rows[1].Group)
		assert.Equal(t, 1, rows[1].Priority)
		assert.Equal(t, 5*time.Hour, rows[1].Mean, "the reopening withdrew the first resolution")
	})

	t.Run("backlog per day", func(t *testing.T) {
		rows := compute(t, e, improvement.Query{KPI: improvement.Backlog, Period: improvement.PeriodDay})
		require.Len(t, rows, 2)
		assert.Equal(t, int64(1), rows[0].Count, "INC4 open at the end of Monday")
		assert.Equal(t, day0, rows[0].Start)
		assert.Equal(t, int64(2), rows[1].Count, "INC4 and INC5 open at the end of Tuesday")
		ages := compute(t, e, improvement.Query{KPI: improvement.BacklogAge, Period: improvement.PeriodDay})
		require.Len(t, ages, 2)
		assert.Equal(t, 8*time.Hour, ages[0].Mean, "INC4 at the end of Monday")
		assert.Equal(t, 8*time.Hour+30*time.Minute, ages[1].Mean, "INC4 (17h) and INC5 (0h) aged to now, Tuesday 09:00, not to the end of Tuesday")
	})

	t.Run("backlog as of an explicit instant", func(t *testing.T) {
		tests := []struct {
			name  string
			asOf  time.Time
			count []int64
			ages  []time.Duration
		}{
			{"Monday evening: Tuesday is not known yet", at("20h"), []int64{1}, []time.Duration{4 * time.Hour}},
			{"Wednesday morning: the backlog carries on", at("57h"), []int64{1, 2, 2},
				[]time.Duration{8 * time.Hour, 23*time.Hour + 30*time.Minute, 32*time.Hour + 30*time.Minute}},
			{"before anything was open", at("-1h"), nil, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rows := compute(t, e, improvement.Query{KPI: improvement.Backlog, Period: improvement.PeriodDay, AsOf: tt.asOf})
				ages := compute(t, e, improvement.Query{KPI: improvement.BacklogAge, Period: improvement.PeriodDay, AsOf: tt.asOf})
				require.Len(t, rows, len(tt.count))
				require.Len(t, ages, len(tt.ages))
				for i := range tt.count {
					assert.Equal(t, tt.count[i], rows[i].Count, i)
					assert.Equal(t, tt.ages[i], ages[i].Mean, i)
				}
			})
		}
		one := compute(t, e, improvement.Query{KPI: improvement.BacklogAge, AsOf: at("57h")})
		require.Len(t, one, 1)
		assert.Equal(t, 32*time.Hour+30*time.Minute, one[0].Mean, "without a period: the backlog at AsOf, aged to it")
		assert.Equal(t, int64(2), one[0].Count)
	})

	t.Run("backlog by service at the end of a range", func(t *testing.T) {
		rows := compute(t, e, improvement.Query{KPI: improvement.Backlog, By: []improvement.Dimension{improvement.ByService},
			To: at("14h30m")})
		// Days are whole: the range ends at the end of Monday, when email
		// had nothing open (no row) and vpn had INC4.
		require.Len(t, rows, 1)
		assert.Equal(t, "vpn", rows[0].Service)
		assert.Equal(t, int64(1), rows[0].Count)
	})

	t.Run("weekly and monthly periods", func(t *testing.T) {
		rows := compute(t, e, improvement.Query{KPI: improvement.Backlog, Period: improvement.PeriodWeek})
		require.Len(t, rows, 1, "no week after now")
		assert.Equal(t, day0, rows[0].Start, "ISO weeks start on Monday")
		assert.Equal(t, day0.AddDate(0, 0, 7), rows[0].End)
		assert.Equal(t, int64(2), rows[0].Count)
		rows = compute(t, e, improvement.Query{KPI: improvement.MTTR, Period: improvement.PeriodMonth})
		require.Len(t, rows, 1)
		assert.Equal(t, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), rows[0].Start)
		assert.Equal(t, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), rows[0].End)
	})

	t.Run("filters", func(t *testing.T) {
		rows := compute(t, e, improvement.Query{KPI: improvement.MTTR, Group: "network"})
		require.Len(t, rows, 1)
		assert.Equal(t, int64(1), rows[0].Count)
		assert.Empty(t, compute(t, e, improvement.Query{KPI: improvement.MTTR, Service: "nothing"}))
	})
}

func TestEmptyRangesGiveNoRows(t *testing.T) {
	k := newKit(t)
	scenario(t, k)
	e := openSynced(t, k.store, improvement.Config{Calendar: halfCalendar{}})
	later := day0.AddDate(1, 0, 0)
	for _, kpi := range improvement.KPIs() {
		if kpi == improvement.Backlog || kpi == improvement.BacklogAge {
			continue // the backlog carries over into any later range
		}
		r, err := e.Compute(improvement.Query{KPI: kpi, From: later, To: later.AddDate(0, 1, 0), Period: improvement.PeriodDay})
		require.NoError(t, err, kpi)
		assert.Empty(t, r.Rows, kpi)
	}
	fresh, err := improvement.NewDetached(improvement.Config{})
	require.NoError(t, err)
	for _, kpi := range improvement.KPIs() {
		if kpi == improvement.MTTRBusiness {
			continue
		}
		r, err := fresh.Compute(improvement.Query{KPI: kpi, By: []improvement.Dimension{improvement.ByService}})
		require.NoError(t, err, kpi)
		assert.Empty(t, r.Rows, kpi)
	}
	// A backlog range before anything happened is empty too.
	r, err := e.Compute(improvement.Query{KPI: improvement.Backlog, From: day0.AddDate(-1, 0, 0), To: day0.AddDate(0, 0, -1)})
	require.NoError(t, err)
	assert.Empty(t, r.Rows)
}

func TestBadQueriesAreRefused(t *testing.T) {
	k := newKit(t)
	scenario(t, k)
	e := openSynced(t, k.store, improvement.Config{})
	tests := []struct {
		name string
		q    improvement.Query
	}{
		{"unknown kpi", improvement.Query{KPI: "happiness"}},
		{"unknown slice", improvement.Query{KPI: improvement.MTTR, By: []improvement.Dimension{"region"}}},
		{"slice twice", improvement.Query{KPI: improvement.MTTR, By: []improvement.Dimension{improvement.ByGroup, improvement.ByGroup}}},
		{"mtbf by group", improvement.Query{KPI: improvement.MTBF, By: []improvement.Dimension{improvement.ByGroup}}},
		{"mtbf filtered by priority", improvement.Query{KPI: improvement.MTBF, Priority: 1}},
		{"unknown period", improvement.Query{KPI: improvement.MTTR, Period: "fortnight"}},
		{"reversed range", improvement.Query{KPI: improvement.MTTR, From: day0.AddDate(0, 0, 1), To: day0}},
		{"empty range", improvement.Query{KPI: improvement.MTTR, From: day0, To: day0}},
		{"negative priority", improvement.Query{KPI: improvement.MTTR, Priority: -1}},
		{"business time without a calendar", improvement.Query{KPI: improvement.MTTRBusiness}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Compute(tt.q)
			require.ErrorIs(t, err, itsm.ErrInvalid)
		})
	}
}

func TestBadConfigsAreRefused(t *testing.T) {
	for name, cfg := range map[string]improvement.Config{
		"bad name":       {Name: "KPI engine"},
		"batch too big":  {BatchSize: 1 << 20},
		"negative batch": {BatchSize: -1},
		"negative every": {CheckpointEvery: -2},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := improvement.NewDetached(cfg)
			require.ErrorIs(t, err, itsm.ErrInvalid)
		})
	}
	//nolint:staticcheck // nil context is the bad input under test
	_, err := improvement.New(nil, newKit(t).store, improvement.Config{})
	require.ErrorIs(t, err, itsm.ErrInvalid)
	_, err = improvement.New(context.Background(), nil, improvement.Config{})
	require.ErrorIs(t, err, itsm.ErrInvalid)
	e, err := improvement.NewDetached(improvement.Config{})
	require.NoError(t, err)
	_, err = e.Sync(context.Background())
	require.ErrorIs(t, err, itsm.ErrInvalid, "an engine without a store cannot sync")
	require.ErrorIs(t, e.Checkpoint(context.Background()), itsm.ErrInvalid)
}

// The strategy pillar's interfaces, restated here (pillars do not import
// each other): the engine must satisfy them.
type (
	volumeCounter interface {
		Volume(ctx context.Context, serviceID, unit string, from, to time.Time) (int64, error)
	}
	dailyVolumeCounter interface {
		volumeCounter
		DailyVolumes(ctx context.Context, serviceID, unit string, from, to time.Time) ([]int64, error)
	}
	kpiSource interface {
		KPIValue(kpi, service string, from, to time.Time) (float64, bool, error)
	}
)

var (
	_ volumeCounter      = (*improvement.Engine)(nil)
	_ dailyVolumeCounter = (*improvement.Engine)(nil)
	_ kpiSource          = (*improvement.Engine)(nil)
)

func TestVolumesAndKPIValue(t *testing.T) {
	k := newKit(t)
	scenario(t, k)
	e := openSynced(t, k.store, improvement.Config{})
	ctx := context.Background()
	tests := []struct {
		service, unit string
		days          int
		want          int64
	}{
		{"", "incidents", 1, 4},
		{"", "incidents", 2, 5},
		{"vpn", "incidents", 2, 3},
		{"", "requests", 1, 2},
		{"email", "changes", 1, 2},
		{"nothing", "incidents", 2, 0},
	}
	for _, tt := range tests {
		n, err := e.Volume(ctx, tt.service, tt.unit, day0, day0.AddDate(0, 0, tt.days))
		require.NoError(t, err)
		assert.Equal(t, tt.want, n, "%s %s over %d days", tt.service, tt.unit, tt.days)
	}
	_, err := e.Volume(ctx, "", "tickets", day0, day0.AddDate(0, 0, 1))
	require.ErrorIs(t, err, itsm.ErrInvalid)
	_, err = e.Volume(ctx, "email", "incidents", at("9h"), at("10h"))
	require.ErrorIs(t, err, itsm.ErrInvalid, "an hour cannot be counted from daily buckets")

	v, ok, err := e.KPIValue("mttr", "email", day0, day0.AddDate(0, 0, 1))
	require.NoError(t, err)
	assert.True(t, ok)
	assert.InDelta(t, 3.75, v, 1e-9)
	_, ok, err = e.KPIValue("mttr", "nothing", day0, day0.AddDate(0, 0, 1))
	require.NoError(t, err)
	assert.False(t, ok, "no measurement, no value")
	_, _, err = e.KPIValue("joy", "", day0, day0.AddDate(0, 0, 1))
	require.ErrorIs(t, err, itsm.ErrInvalid)
}

// TestDailyVolumesEqualVolumePerDay sets DailyVolumes against Volume asked
// day by day, over six generated days with days before and after them.
func TestDailyVolumesEqualVolumePerDay(t *testing.T) {
	e, err := improvement.NewDetached(improvement.Config{})
	require.NoError(t, err)
	e.Apply(numbered(11, 3000, day0, 0))
	ctx := context.Background()
	from, to := day0.AddDate(0, 0, -2), day0.AddDate(0, 0, 10)
	for _, tt := range []struct{ service, unit string }{
		{"", "incidents"}, {"vpn", "incidents"}, {"erp", "requests"}, {"", "changes"}, {"nothing", "incidents"},
	} {
		daily, err := e.DailyVolumes(ctx, tt.service, tt.unit, from, to)
		require.NoError(t, err)
		require.Len(t, daily, 12)
		var sum int64
		for i, n := range daily {
			want, err := e.Volume(ctx, tt.service, tt.unit, from.AddDate(0, 0, i), from.AddDate(0, 0, i+1))
			require.NoError(t, err)
			require.Equal(t, want, n, "%s %s on day %d", tt.service, tt.unit, i)
			sum += n
		}
		total, err := e.Volume(ctx, tt.service, tt.unit, from, to)
		require.NoError(t, err)
		require.Equal(t, total, sum)
		if tt.service != "nothing" {
			require.Positive(t, sum, "%s %s: the days have some", tt.service, tt.unit)
		}
	}
	empty, err := e.DailyVolumes(ctx, "", "incidents", day0, day0)
	require.NoError(t, err)
	assert.Empty(t, empty)
	for name, call := range map[string]func() ([]int64, error){
		"unit":     func() ([]int64, error) { return e.DailyVolumes(ctx, "", "tickets", from, to) },
		"hour":     func() ([]int64, error) { return e.DailyVolumes(ctx, "", "incidents", day0.Add(time.Hour), to) },
		"reversed": func() ([]int64, error) { return e.DailyVolumes(ctx, "", "incidents", to, from) },
		"too long": func() ([]int64, error) {
			return e.DailyVolumes(ctx, "", "incidents", from, from.AddDate(0, 0, improvement.MaxVolumeDays+1))
		},
	} {
		_, err := call()
		require.ErrorIs(t, err, itsm.ErrInvalid, name)
	}
}
