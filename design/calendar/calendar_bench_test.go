package calendar_test

import (
	"testing"
	"time"

	"github.com/rickar/cal/v2"
	"github.com/rickar/cal/v2/us"

	"github.com/pillars-itsm/pillars/design/calendar"
)

// The same business calendar both ways: New York, Monday to Friday
// 09:00-17:00, US federal holidays.
func benchCalendars(b *testing.B) (*calendar.Calendar, *cal.BusinessCalendar, *time.Location) {
	b.Helper()
	var week [7][]calendar.Range
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []calendar.Range{{Start: 9 * 60, End: 17 * 60}}
	}
	ours, err := calendar.Compile(calendar.Config{Name: "ny", TimeZone: "America/New_York", Week: week, HolidaySets: us.Holidays})
	if err != nil {
		b.Fatal(err)
	}
	theirs := cal.NewBusinessCalendar()
	theirs.AddHoliday(us.Holidays...)
	theirs.SetWorkHours(9*time.Hour, 17*time.Hour)
	loc, _ := time.LoadLocation("America/New_York")
	return ours, theirs, loc
}

var benchDurations = []struct {
	name string
	d    time.Duration // business time
	wall time.Duration // wall-clock span for Between
}{
	{"1h", time.Hour, 3 * time.Hour},
	{"1week", 40 * time.Hour, 7 * 24 * time.Hour},
	{"1year", 2000 * time.Hour, 365 * 24 * time.Hour},
}

var (
	sinkTime time.Time
	sinkDur  time.Duration
)

func BenchmarkAdd(b *testing.B) {
	ours, theirs, loc := benchCalendars(b)
	start := time.Date(2026, 11, 25, 15, 17, 0, 0, loc)
	for _, bd := range benchDurations {
		b.Run("pillars/"+bd.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				// Vary the start so the searches do not hit one cache line.
				t, err := ours.Add(start.Add(time.Duration(i%4096)*time.Minute), bd.d)
				if err != nil {
					b.Fatal(err)
				}
				sinkTime = t
			}
		})
		b.Run("rickar-cal/"+bd.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				sinkTime = theirs.AddWorkHours(start.Add(time.Duration(i%4096)*time.Minute), bd.d)
			}
		})
	}
}

func BenchmarkBetween(b *testing.B) {
	ours, theirs, loc := benchCalendars(b)
	start := time.Date(2026, 11, 25, 15, 17, 0, 0, loc)
	for _, bd := range benchDurations {
		b.Run("pillars/"+bd.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				s := start.Add(time.Duration(i%4096) * time.Minute)
				d, err := ours.Between(s, s.Add(bd.wall))
				if err != nil {
					b.Fatal(err)
				}
				sinkDur = d
			}
		})
		b.Run("rickar-cal/"+bd.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				s := start.Add(time.Duration(i%4096) * time.Minute)
				sinkDur = theirs.WorkHoursInRange(s, s.Add(bd.wall))
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	var week [7][]calendar.Range
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []calendar.Range{{Start: 9 * 60, End: 12*60 + 30}, {Start: 13*60 + 30, End: 17 * 60}}
	}
	for _, years := range []struct {
		name     string
		from, to int
	}{{"3years", 2025, 2027}, {"101years", 2000, 2100}} {
		b.Run(years.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := calendar.Compile(calendar.Config{TimeZone: "Europe/London", Week: week, HolidaySets: us.Holidays,
					FromYear: years.from, ToYear: years.to}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
