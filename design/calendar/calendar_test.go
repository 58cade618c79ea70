package calendar_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rickar/cal/v2/gb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/design/calendar"
	"github.com/pillars-itsm/pillars/itsm"
)

func rng(t *testing.T, s string) calendar.Range {
	t.Helper()
	r, err := calendar.ParseRange(s)
	require.NoError(t, err)
	return r
}

func weekdays(rs ...calendar.Range) [7][]calendar.Range {
	var w [7][]calendar.Range
	for d := time.Monday; d <= time.Friday; d++ {
		w[d] = rs
	}
	return w
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func mustCompile(t *testing.T, cfg calendar.Config) *calendar.Calendar {
	t.Helper()
	c, err := calendar.Compile(cfg)
	require.NoError(t, err)
	return c
}

func TestBetweenAndAdd(t *testing.T) {
	london := mustCompile(t, calendar.Config{Name: "london", TimeZone: "Europe/London",
		Week: weekdays(rng(t, "09:00-17:00")), HolidaySets: gb.Holidays, FromYear: 2024, ToYear: 2030})
	var sunday [7][]calendar.Range
	sunday[time.Sunday] = []calendar.Range{rng(t, "00:00-04:00")}
	night := mustCompile(t, calendar.Config{Name: "night", TimeZone: "Europe/London", Week: sunday, FromYear: 2026, ToYear: 2026})
	var all [7][]calendar.Range
	for d := range all {
		all[d] = []calendar.Range{rng(t, "00:00-24:00")}
	}
	always := mustCompile(t, calendar.Config{Name: "24x7", TimeZone: "America/New_York", Week: all, FromYear: 2027, ToYear: 2029})
	split := mustCompile(t, calendar.Config{Name: "split", Week: weekdays(rng(t, "13:30-17:30"), rng(t, "09:00-12:30")),
		Closures: []calendar.Closure{{Start: utc("2026-11-30T12:00:00Z"), End: utc("2026-11-30T14:00:00Z"), Reason: "fire drill"}},
		FromYear: 2026, ToYear: 2028})

	tests := []struct {
		name       string
		cal        *calendar.Calendar
		start, end string
		want       time.Duration
	}{
		{"spring forward loses the skipped hour", night, "2026-03-29T00:00:00Z", "2026-03-30T00:00:00Z", 3 * time.Hour},
		{"fall back counts the repeated hour twice", night, "2026-10-24T00:00:00Z", "2026-10-26T00:00:00Z", 5 * time.Hour},
		{"weekend is not working time", london, "2026-11-27T16:00:00Z", "2026-11-30T10:00:00Z", 2 * time.Hour},
		{"bank holidays from rickar/cal", london, "2026-12-24T09:00:00Z", "2026-12-29T09:00:00Z", 8 * time.Hour},
		{"year end with new year's day", london, "2026-12-31T16:00:00Z", "2027-01-04T10:00:00Z", 2 * time.Hour},
		{"summer time shifts office hours in UTC", london, "2026-07-01T08:00:00Z", "2026-07-01T16:00:00Z", 8 * time.Hour},
		{"leap day is a working day", london, "2028-02-28T09:00:00Z", "2028-03-01T09:00:00Z", 16 * time.Hour},
		{"a leap year round the clock", always, "2028-01-01T05:00:00Z", "2029-01-01T05:00:00Z", 8784 * time.Hour},
		{"two ranges a day and a closure", split, "2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z", 6*time.Hour + 30*time.Minute},
		{"sub-second precision", split, "2026-12-01T09:00:00.25Z", "2026-12-01T09:00:01.75Z", 1500 * time.Millisecond},
		{"backwards is negative", split, "2026-12-01T10:00:00Z", "2026-12-01T09:00:00Z", -time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.cal.Between(utc(tc.start), utc(tc.end))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			if tc.want > 0 {
				end, err := tc.cal.Add(utc(tc.start), tc.want)
				require.NoError(t, err)
				back, err := tc.cal.Between(utc(tc.start), end)
				require.NoError(t, err)
				assert.Equal(t, tc.want, back)
				assert.False(t, end.After(utc(tc.end)))
			}
		})
	}
}

func TestAddEndsAtCloseOfBusiness(t *testing.T) {
	c := mustCompile(t, calendar.Config{Week: weekdays(rng(t, "09:00-17:00")), FromYear: 2026, ToYear: 2027})
	tests := []struct {
		start string
		d     time.Duration
		want  string
	}{
		{"2026-11-30T16:00:00Z", time.Hour, "2026-11-30T17:00:00Z"},
		{"2026-11-30T17:00:00Z", time.Hour, "2026-12-01T10:00:00Z"},
		{"2026-11-28T12:00:00Z", time.Hour, "2026-11-30T10:00:00Z"},
		{"2026-11-27T16:30:00Z", time.Hour, "2026-11-30T09:30:00Z"},
		{"2026-11-30T03:00:00Z", 0, "2026-11-30T03:00:00Z"},
		{"2026-11-30T09:00:00Z", 40 * time.Hour, "2026-12-04T17:00:00Z"},
		{"2026-11-30T09:00:00Z", time.Nanosecond, "2026-11-30T09:00:00.000000001Z"},
	}
	for _, tc := range tests {
		got, err := c.Add(utc(tc.start), tc.d)
		require.NoError(t, err)
		assert.Equal(t, utc(tc.want), got, "%s + %s", tc.start, tc.d)
	}
	assert.True(t, c.IsWorking(utc("2026-11-30T09:00:00Z")))
	assert.False(t, c.IsWorking(utc("2026-11-30T17:00:00Z")))
	assert.False(t, c.IsWorking(utc("1999-11-30T10:00:00Z")))
}

func TestRefusals(t *testing.T) {
	good := weekdays(calendar.Range{Start: 540, End: 1020})
	tests := []struct {
		name  string
		cfg   calendar.Config
		field string
	}{
		{"no working time", calendar.Config{}, "hours"},
		{"overlapping ranges", calendar.Config{Week: weekdays(calendar.Range{Start: 540, End: 720}, calendar.Range{Start: 660, End: 780})}, "hours.mon"},
		{"empty range", calendar.Config{Week: weekdays(calendar.Range{Start: 600, End: 600})}, "hours.mon"},
		{"range past midnight", calendar.Config{Week: weekdays(calendar.Range{Start: 600, End: 1500})}, "hours.mon"},
		{"unknown time zone", calendar.Config{TimeZone: "Mars/Olympus", Week: good}, "time_zone"},
		{"local zone", calendar.Config{TimeZone: "Local", Week: good}, "time_zone"},
		{"bad holiday", calendar.Config{Week: good, Holidays: []calendar.Date{{Year: 2026, Month: 2, Day: 30}}}, "holidays[0]"},
		{"reversed closure", calendar.Config{Week: good, Closures: []calendar.Closure{{Start: utc("2026-01-02T00:00:00Z"), End: utc("2026-01-01T00:00:00Z")}}}, "closures[0]"},
		{"reversed horizon", calendar.Config{Week: good, FromYear: 2030, ToYear: 2020}, "years"},
		{"horizon too long", calendar.Config{Week: good, FromYear: 1900, ToYear: 2300}, "years"},
		{"closed for the whole horizon", calendar.Config{Week: good, FromYear: 2026, ToYear: 2026,
			Closures: []calendar.Closure{{Start: utc("2025-12-01T00:00:00Z"), End: utc("2027-02-01T00:00:00Z")}}}, "hours"},
		// Issue 18: each of these was accepted.
		{"name with NUL", calendar.Config{Name: "office\x00", Week: good}, "name"},
		{"name not UTF-8", calendar.Config{Name: "office\xff", Week: good}, "name"},
		{"name over MaxName", calendar.Config{Name: strings.Repeat("n", calendar.MaxName+1), Week: good}, "name"},
		{"closure reason with NUL", calendar.Config{Week: good, FromYear: 2026, ToYear: 2026,
			Closures: []calendar.Closure{{Start: utc("2026-01-02T00:00:00Z"), End: utc("2026-01-03T00:00:00Z"), Reason: "\x00"}}}, "closures[0]"},
		{"holiday in 9999", calendar.Config{Week: good, Holidays: []calendar.Date{{Year: 9999, Month: 12, Day: 25}}}, "holidays[0]"},
		{"holiday before the horizon", calendar.Config{Week: good, FromYear: 2026, ToYear: 2027,
			Holidays: []calendar.Date{{Year: 2025, Month: 12, Day: 25}}}, "holidays[0]"},
		{"closure after the horizon", calendar.Config{Week: good, FromYear: 2026, ToYear: 2026,
			Closures: []calendar.Closure{{Start: utc("9999-01-02T00:00:00Z"), End: utc("9999-01-03T00:00:00Z")}}}, "closures[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := calendar.Compile(tc.cfg)
			require.ErrorIs(t, err, itsm.ErrInvalid)
			assert.Nil(t, c)
			var ve *itsm.ValidationError
			require.True(t, errors.As(err, &ve), "%v", err)
			assert.Contains(t, ve.Fields, tc.field)
		})
	}

	c := mustCompile(t, calendar.Config{Week: good, FromYear: 2026, ToYear: 2026})
	_, err := c.Add(utc("2025-06-01T00:00:00Z"), time.Hour)
	assert.ErrorIs(t, err, itsm.ErrInvalid)
	_, err = c.Add(utc("2026-06-01T00:00:00Z"), -time.Hour)
	assert.ErrorIs(t, err, itsm.ErrInvalid)
	_, err = c.Add(utc("2026-12-31T00:00:00Z"), 100*time.Hour)
	assert.ErrorIs(t, err, itsm.ErrInvalid)
	_, err = c.Between(utc("2026-06-01T00:00:00Z"), utc("2027-06-01T00:00:00Z"))
	assert.ErrorIs(t, err, itsm.ErrInvalid)
	_, err = c.Between(utc("2024-06-01T00:00:00Z"), utc("2026-06-01T00:00:00Z"))
	assert.ErrorIs(t, err, itsm.ErrInvalid)
}

func TestParse(t *testing.T) {
	c, err := calendar.Parse([]byte(`{"name":"uk","time_zone":"Europe/London",
		"hours":{"mon":["09:00-12:30","13:30-17:30"],"Tue":["09:00-17:30"]},
		"holidays":["2026-12-01"],"holiday_sets":["gb"],
		"closures":[{"start":"2026-12-08T09:00:00Z","end":"2026-12-08T12:30:00Z","reason":"move"}],
		"from_year":2026,"to_year":2027}`))
	require.NoError(t, err)
	assert.Equal(t, "uk", c.Name())
	assert.Equal(t, "Europe/London", c.Location().String())
	// Mon 30 Nov 7.5h + Tue 1 Dec holiday + Mon 7 Dec 7.5h + Tue 8 Dec 8.5h less a 3.5h closure.
	got, err := c.Between(utc("2026-11-30T00:00:00Z"), utc("2026-12-09T00:00:00Z"))
	require.NoError(t, err)
	assert.Equal(t, 20*time.Hour, got)

	bad := []struct{ name, json string }{
		{"not json", `{`},
		{"unknown field", `{"hours":{"mon":["09:00-17:00"]},"colour":"red"}`},
		{"bad weekday", `{"hours":{"funday":["09:00-17:00"]}}`},
		{"bad range", `{"hours":{"mon":["9-17"]}}`},
		{"bad hour", `{"hours":{"mon":["09:00-25:00"]}}`},
		{"bad holiday", `{"hours":{"mon":["09:00-17:00"]},"holidays":["26-12-25"]}`},
		{"unknown set", `{"hours":{"mon":["09:00-17:00"]},"holiday_sets":["atlantis"]}`},
		{"bad closure", `{"hours":{"mon":["09:00-17:00"]},"closures":[{"start":"x","end":"y"}]}`},
		{"trailing", `{"hours":{"mon":["09:00-17:00"]}} {}`},
		{"no hours", `{"time_zone":"UTC"}`},
		// Issue 18: each of these was accepted.
		{"weekday twice", `{"hours":{"mon":["09:00-10:00"],"mon":["11:00-17:00"]}}`},
		{"weekday twice in two cases", `{"hours":{"mon":["09:00-10:00"],"MON":["11:00-17:00"]}}`},
		{"field twice", `{"name":"a","hours":{"mon":["09:00-17:00"]},"Name":"b"}`},
		{"closure field twice", `{"hours":{"mon":["09:00-17:00"]},"closures":[{"start":"2026-01-02T00:00:00Z","end":"2026-01-03T00:00:00Z","end":"2026-01-04T00:00:00Z"}],"from_year":2026,"to_year":2026}`},
		{"name with NUL", `{"name":"a\u0000b","hours":{"mon":["09:00-17:00"]}}`},
		{"name not UTF-8", "{\"name\":\"a\xffb\",\"hours\":{\"mon\":[\"09:00-17:00\"]}}"},
		{"holiday in 9999", `{"hours":{"mon":["09:00-17:00"]},"holidays":["9999-12-25"]}`},
	}
	for _, tc := range bad {
		_, err := calendar.Parse([]byte(tc.json))
		assert.ErrorIs(t, err, itsm.ErrInvalid, tc.name)
	}
	assert.Contains(t, calendar.HolidaySetCodes(), "us")
}

// TestParseKeepsDistinctKeys: the duplicate check does not refuse the same
// key in different objects, nor keys that differ only past their case.
func TestParseKeepsDistinctKeys(t *testing.T) {
	c, err := calendar.Parse([]byte(`{"name":"x","hours":{"mon":["09:00-17:00"],"tue":["09:00-17:00"]},
		"closures":[{"start":"2026-01-05T09:00:00Z","end":"2026-01-05T10:00:00Z","reason":"a"},
		            {"start":"2026-01-06T09:00:00Z","end":"2026-01-06T10:00:00Z","reason":"b"}],
		"from_year":2026,"to_year":2026}`))
	require.NoError(t, err)
	got, err := c.Between(utc("2026-01-05T00:00:00Z"), utc("2026-01-07T00:00:00Z"))
	require.NoError(t, err)
	assert.Equal(t, 14*time.Hour, got)
	_, err = calendar.Spec{Hours: map[string][]string{"mon": {"09:00-10:00"}, "Mon": {"11:00-12:00"}}}.Config()
	assert.ErrorIs(t, err, itsm.ErrInvalid, "Config refuses a weekday given twice")
}

// TestNilCalendar: every method of a nil calendar returns a zero value or
// ErrInvalid; none panics (issue 18: Add panicked).
func TestNilCalendar(t *testing.T) {
	var c *calendar.Calendar
	at := utc("2026-06-01T10:00:00Z")
	_, err := c.Add(at, time.Hour)
	assert.ErrorIs(t, err, itsm.ErrInvalid)
	_, err = c.Between(at, at.Add(time.Hour))
	assert.ErrorIs(t, err, itsm.ErrInvalid)
	assert.False(t, c.IsWorking(at))
	assert.Empty(t, c.Name())
	assert.Equal(t, time.UTC, c.Location())
	assert.Zero(t, c.Intervals())
	from, to := c.Horizon()
	assert.True(t, from.IsZero() && to.IsZero())
}

// TestMaxIntervals: a calendar of exactly MaxIntervals working intervals
// compiles, one more is refused, and so is the spec of issue 18 (720
// one-minute ranges a day over 201 years, 52.9 million intervals).
//
// Both configurations are 720 one-minute ranges a day (every other minute,
// so none touch) over 2001..2004 (1,461 days, 1,051,920 intervals), less
// five holidays (3,600), with 256 or 257 closures of 20 seconds inside a
// range, each of which cuts one interval in two.
func TestMaxIntervals(t *testing.T) {
	require.Equal(t, 1456*720+256, calendar.MaxIntervals, "the fixture is built for this bound")
	var week [7][]calendar.Range
	for d := range week {
		for m := 0; m < calendar.MinutesPerDay; m += 2 {
			week[d] = append(week[d], calendar.Range{Start: calendar.TimeOfDay(m), End: calendar.TimeOfDay(m + 1)})
		}
	}
	var holidays []calendar.Date
	for d := 1; d <= 5; d++ {
		holidays = append(holidays, calendar.Date{Year: 2002, Month: 1, Day: d})
	}
	cfg := func(cuts int) calendar.Config {
		c := calendar.Config{Name: "minutes", Week: week, Holidays: holidays, FromYear: 2001, ToYear: 2004}
		day := utc("2003-01-01T00:00:00Z")
		for k := range cuts {
			at := day.Add(time.Duration(2*k) * time.Minute)
			c.Closures = append(c.Closures, calendar.Closure{Start: at.Add(20 * time.Second), End: at.Add(40 * time.Second)})
		}
		return c
	}
	c, err := calendar.Compile(cfg(256))
	require.NoError(t, err)
	assert.Equal(t, calendar.MaxIntervals, c.Intervals())

	_, err = calendar.Compile(cfg(257))
	require.ErrorIs(t, err, itsm.ErrInvalid)
	var ve *itsm.ValidationError
	require.True(t, errors.As(err, &ve), "%v", err)
	assert.Contains(t, ve.Fields, "hours")

	ranges := make([]string, 0, 720)
	for m := 0; m < calendar.MinutesPerDay; m += 2 {
		ranges = append(ranges, fmt.Sprintf("%q", calendar.Range{Start: calendar.TimeOfDay(m), End: calendar.TimeOfDay(m + 1)}.String()))
	}
	day := "[" + strings.Join(ranges, ",") + "]"
	spec := `{"name":"minutes","hours":{"sun":` + day + `,"mon":` + day + `,"tue":` + day + `,"wed":` + day +
		`,"thu":` + day + `,"fri":` + day + `,"sat":` + day + `},"from_year":1900,"to_year":2100}`
	_, err = calendar.Parse([]byte(spec))
	assert.ErrorIs(t, err, itsm.ErrInvalid)
}
