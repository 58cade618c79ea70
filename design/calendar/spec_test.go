package calendar_test

import (
	"testing"
	"time"

	"github.com/rickar/cal/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/design/calendar"
	"github.com/pillars-itsm/pillars/itsm"
)

// TestSpecOfACompiledCalendar: the Spec of a calendar compiles to one with
// the same working time, so calendars declared in code can be kept as
// data; holidays that are no whole set have no JSON form.
func TestSpecOfACompiledCalendar(t *testing.T) {
	gb, ok := calendar.HolidaySet("gb")
	require.True(t, ok)
	de, ok := calendar.HolidaySet("de")
	require.True(t, ok)
	day := []calendar.Range{{Start: 8 * 60, End: 12 * 60}, {Start: 13 * 60, End: 17*60 + 30}}
	closed := time.Date(2026, 12, 24, 12, 0, 0, 0, time.UTC)
	cfg := calendar.Config{Name: "office", TimeZone: "Europe/London", FromYear: 2025, ToYear: 2028,
		Week:        [7][]calendar.Range{1: day, 2: day, 3: day, 4: day, 5: {{Start: 9 * 60, End: 15 * 60}}, 6: {{Start: 0, End: calendar.MinutesPerDay}}},
		Holidays:    []calendar.Date{{Year: 2026, Month: time.December, Day: 31}},
		HolidaySets: append(append([]*cal.Holiday{}, gb...), de...),
		Closures:    []calendar.Closure{{Start: closed, End: closed.Add(26 * time.Hour), Reason: "party"}},
	}
	code, err := calendar.Compile(cfg)
	require.NoError(t, err)
	spec, err := code.Spec()
	require.NoError(t, err)
	assert.Equal(t, []string{"gb", "de"}, spec.HolidaySets)
	back, err := spec.Config()
	require.NoError(t, err)
	kept, err := calendar.Compile(back)
	require.NoError(t, err)
	assert.Equal(t, code.Intervals(), kept.Intervals())
	from, to := code.Horizon()
	for at := from; at.Before(to.Add(-30 * 24 * time.Hour)); at = at.Add(97*time.Hour + 13*time.Minute) {
		a, err := code.Between(from, at)
		require.NoError(t, err)
		b, err := kept.Between(from, at)
		require.NoError(t, err)
		require.Equal(t, a, b, "business time up to %s", at)
		x, err := code.Add(at, 11*time.Hour)
		require.NoError(t, err)
		y, err := kept.Add(at, 11*time.Hour)
		require.NoError(t, err)
		require.Equal(t, x, y, "11 business hours after %s", at)
	}

	cfg.HolidaySets = gb[:1]
	partial, err := calendar.Compile(cfg)
	require.NoError(t, err)
	_, err = partial.Spec()
	assert.ErrorIs(t, err, itsm.ErrInvalid)
}
