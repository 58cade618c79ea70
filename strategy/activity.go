package strategy

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
)

// Granularity is how a pattern of business activity divides time into
// slots. Slots are in UTC.
type Granularity string

// The granularities of a pattern of business activity.
const (
	HourOfDay   Granularity = "hour_of_day"  // 24 slots: 00:00-01:00 first
	Weekday     Granularity = "weekday"      // 7 slots: Monday first
	HourOfWeek  Granularity = "hour_of_week" // 168 slots: Monday 00:00-01:00 first
	DayOfMonth  Granularity = "day_of_month" // 31 slots: the 1st first
	MonthOfYear Granularity = "month"        // 12 slots: January first
)

// MaxOccurrences bounds how many slot occurrences one demand period may hold
// (a year of hours is 8,760), so a comparison asks the counter a bounded
// number of times.
const MaxOccurrences = 9000

// Slots returns how many slots the granularity has, 0 for an unknown one.
func (g Granularity) Slots() int {
	switch g {
	case HourOfDay:
		return 24
	case Weekday:
		return 7
	case HourOfWeek:
		return 168
	case DayOfMonth:
		return 31
	case MonthOfYear:
		return 12
	}
	return 0
}

// wholeDays tells whether every slot occurrence is a whole number of UTC
// days (so a daily series measures it).
func (g Granularity) wholeDays() bool {
	return g == Weekday || g == DayOfMonth || g == MonthOfYear
}

// slotOf returns the slot an instant falls in.
func (g Granularity) slotOf(t time.Time) int {
	t = t.UTC()
	wd := (int(t.Weekday()) + 6) % 7 // Monday 0
	switch g {
	case HourOfDay:
		return t.Hour()
	case Weekday:
		return wd
	case HourOfWeek:
		return wd*24 + t.Hour()
	case DayOfMonth:
		return t.Day() - 1
	case MonthOfYear:
		return int(t.Month()) - 1
	}
	return 0
}

// start truncates an instant to the start of its slot occurrence; next
// returns the start of the following one.
func (g Granularity) start(t time.Time) time.Time {
	t = t.UTC()
	switch g {
	case HourOfDay, HourOfWeek:
		return t.Truncate(time.Hour)
	case MonthOfYear:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func (g Granularity) next(t time.Time) time.Time {
	switch g {
	case HourOfDay, HourOfWeek:
		return t.Add(time.Hour)
	case MonthOfYear:
		return t.AddDate(0, 1, 0)
	}
	return t.AddDate(0, 0, 1)
}

var weekdays = []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

// Label names a slot for people: "14:00", "Mon", "Mon 14:00", "15", "Jan".
func (g Granularity) Label(slot int) string {
	if slot < 0 || slot >= g.Slots() {
		return ""
	}
	switch g {
	case HourOfDay:
		return fmt.Sprintf("%02d:00", slot)
	case Weekday:
		return weekdays[slot]
	case HourOfWeek:
		return fmt.Sprintf("%s %02d:00", weekdays[slot/24], slot%24)
	case DayOfMonth:
		return strconv.Itoa(slot + 1)
	}
	return time.Month(slot + 1).String()[:3]
}

// ActivityPattern is a pattern of business activity (ITIL): how the use of
// a service varies over time, as the volume expected in one occurrence of
// each slot ("40 incidents on a Monday, 10 on a Sunday"; "payroll peaks
// on the 25th"). A Demand record carrying one expects, over its period,
// the sum over every slot occurrence in it, and CompareDemand measures it
// slot by slot.
type ActivityPattern struct {
	Name        string      `json:"name"`
	Granularity Granularity `json:"granularity"`
	// Expected is the volume expected in one occurrence of each slot, in
	// slot order; it has Granularity.Slots() entries.
	Expected []int64 `json:"expected"`
}

// check validates the pattern against the demand period it describes,
// adding problems to v under the "activity" field.
func (p *ActivityPattern) check(start, end time.Time, add func(field, msg string)) {
	if strings.TrimSpace(p.Name) == "" {
		add("activity.name", "is required")
	}
	v := &itsm.ValidationError{}
	checkNames(v, "activity.name", p.Name)
	for field, msg := range v.Fields {
		add(field, msg)
	}
	n := p.Granularity.Slots()
	if n == 0 {
		add("activity.granularity", fmt.Sprintf("unknown granularity %q (want hour_of_day, weekday, hour_of_week, day_of_month or month)", p.Granularity))
		return
	}
	if len(p.Expected) != n {
		add("activity.expected", fmt.Sprintf("has %d values, a %s pattern has %d slots", len(p.Expected), p.Granularity, n))
	}
	for i, x := range p.Expected {
		if x < 0 {
			add("activity.expected", fmt.Sprintf("slot %s is negative", p.Granularity.Label(i)))
			break
		}
	}
	if start.IsZero() || !start.Before(end) {
		return // reported on the period itself
	}
	if !p.Granularity.start(start).Equal(start) || !p.Granularity.start(end).Equal(end) {
		add("period_start", fmt.Sprintf("a %s pattern needs a period starting and ending on slot boundaries (UTC)", p.Granularity))
		return
	}
	if k := p.occurrences(start, end, MaxOccurrences+1); k > MaxOccurrences {
		add("period_end", fmt.Sprintf("the period holds more than %d %s slots", MaxOccurrences, p.Granularity))
	}
}

// occurrences counts the slot occurrences in [start, end), stopping at max.
func (p *ActivityPattern) occurrences(start, end time.Time, max int) int {
	k := 0
	for t := start; t.Before(end) && k < max; t = p.Granularity.next(t) {
		k++
	}
	return k
}

// total is the volume the pattern expects over [start, end), the period
// being aligned and checked.
func (p *ActivityPattern) total(start, end time.Time) int64 {
	var sum int64
	for t := start; t.Before(end); t = p.Granularity.next(t) {
		if s := p.Granularity.slotOf(t); s < len(p.Expected) {
			sum += p.Expected[s]
		}
	}
	return sum
}

// SlotComparison sets one slot of a demand record's pattern against the
// volume measured in the slot's occurrences within the record's period.
type SlotComparison struct {
	Slot        int
	Label       string // Granularity.Label
	Occurrences int    // how many times the slot occurs in the period
	Expected    int64  // the pattern's figure times Occurrences
	Measured    int64
	Variance    int64   // Measured - Expected
	Ratio       float64 // Measured / Expected; 0 when nothing was expected
}
