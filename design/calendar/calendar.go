package calendar

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rickar/cal/v2"

	"github.com/pillars-itsm/pillars/itsm"
)

// MinutesPerDay bounds a TimeOfDay: 1440 is the midnight that ends a day.
const MinutesPerDay = 24 * 60

// Horizon limits: a calendar is compiled for whole years from FromYear to
// ToYear (local time), at most MaxYears of them.
const (
	DefaultFromYear = 2000
	DefaultToYear   = 2100
	MinYear         = 1900
	MaxYear         = 2300
	MaxYears        = 201
)

// MaxIntervals bounds the compiled size of a calendar: the number of
// separate working intervals over its horizon (touching ranges join into
// one), counted as the hours and holidays lay them out and again after
// closures cut them. Each costs 24 bytes, so a calendar at the bound holds about 24 MiB;
// office hours of two ranges a weekday over the longest horizon (201 years)
// are about 105,000. Compile refuses a configuration past the bound with
// ErrInvalid (it stops building there, so the refusal costs no more than
// the bound), rather than spend gigabytes on, say, 720 one-minute ranges a
// day over 201 years (52.9 million intervals).
const MaxIntervals = 1 << 20

// MaxName bounds a calendar's name and a closure's reason, in bytes. Both
// must also be valid UTF-8 without NUL.
const MaxName = 1024

// textProblem says what is wrong with a name or reason, or returns "".
func textProblem(s string) string {
	switch {
	case len(s) > MaxName:
		return fmt.Sprintf("is %d bytes, more than %d", len(s), MaxName)
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case strings.IndexByte(s, 0) >= 0:
		return "holds a NUL byte"
	}
	return ""
}

// TimeOfDay is a wall-clock time in minutes after local midnight, 0..1440.
type TimeOfDay int

// String renders the time as "15:04" ("24:00" for the end of the day).
func (t TimeOfDay) String() string { return fmt.Sprintf("%02d:%02d", int(t)/60, int(t)%60) }

// Range is one stretch of working time within a day, [Start, End) in local
// wall-clock time. Every instant whose local wall-clock reading on that date
// lies in the range is working time: on the night clocks go forward a range
// over the skipped hour is shorter, on the night they go back it is longer.
type Range struct {
	Start TimeOfDay
	End   TimeOfDay
}

// Hours builds a Range from "HH:MM" texts; it is ParseRange for code.
func Hours(start, end string) (Range, error) { return ParseRange(start + "-" + end) }

// String renders the range as "09:00-17:30".
func (r Range) String() string { return r.Start.String() + "-" + r.End.String() }

// ParseRange reads a range written "09:00-17:30" ("24:00" ends the day).
func ParseRange(s string) (Range, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return Range{}, itsm.Invalidf("range %q: want HH:MM-HH:MM", s)
	}
	start, err := parseTimeOfDay(strings.TrimSpace(a))
	if err != nil {
		return Range{}, itsm.Invalidf("range %q: %v", s, err)
	}
	end, err := parseTimeOfDay(strings.TrimSpace(b))
	if err != nil {
		return Range{}, itsm.Invalidf("range %q: %v", s, err)
	}
	return Range{start, end}, nil
}

func parseTimeOfDay(s string) (TimeOfDay, error) {
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("time %q is not HH:MM", s)
	}
	digit := func(c byte) (int, bool) { return int(c - '0'), c >= '0' && c <= '9' }
	h1, ok1 := digit(s[0])
	h2, ok2 := digit(s[1])
	m1, ok3 := digit(s[3])
	m2, ok4 := digit(s[4])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return 0, fmt.Errorf("time %q is not HH:MM", s)
	}
	h, m := h1*10+h2, m1*10+m2
	if m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("time %q is outside 00:00..24:00", s)
	}
	return TimeOfDay(h*60 + m), nil
}

// Date is a civil date, as holidays are written.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// String renders the date as "2006-01-02".
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day) }

// ParseDate reads a date written "2006-01-02".
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, itsm.Invalidf("date %q: want YYYY-MM-DD", s)
	}
	return Date{t.Year(), t.Month(), t.Day()}, nil
}

// days returns the number of days since 1970-01-01 of a valid date.
func (d Date) days() int64 {
	return floorDiv(time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Unix(), secondsPerDay)
}

func (d Date) valid() bool {
	t := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC)
	return t.Year() == d.Year && t.Month() == d.Month && t.Day() == d.Day
}

// Closure is a one-off stretch of non-working time, [Start, End) as instants
// (an office move, a site-wide outage window), applied in whole seconds: a
// closure starting or ending within a second closes that whole second.
type Closure struct {
	Start  time.Time
	End    time.Time
	Reason string
}

// Config describes a business calendar before it is compiled.
type Config struct {
	// Name identifies the calendar in errors and in SLA definitions.
	Name string
	// TimeZone is an IANA zone name ("Europe/London"); empty means UTC.
	TimeZone string
	// Week holds the working ranges of each weekday, indexed by
	// time.Weekday (Sunday = 0). Ranges of a day must not overlap; they may
	// touch, and a range ending at 24:00 joins one starting at 00:00 the
	// next day.
	Week [7][]Range
	// Holidays are fixed dates on which no one works.
	Holidays []Date
	// HolidaySets are holidays computed by github.com/rickar/cal/v2 (for
	// example us.Holidays or the sets named in Spec); their observed date
	// is the day off.
	HolidaySets []*cal.Holiday
	// Closures are one-off non-working stretches.
	Closures []Closure
	// FromYear and ToYear bound the years the calendar answers for
	// (DefaultFromYear..DefaultToYear when zero). Times outside are refused.
	FromYear, ToYear int
}

// Calendar is a compiled business calendar: an immutable, sorted list of
// working intervals (UTC seconds) over the horizon with the working time
// before each, so Add and Between are two binary searches and allocate
// nothing. It is safe for concurrent use.
//
// A nil *Calendar is a calendar that was never compiled: Name is empty,
// Location is UTC, Horizon and Intervals are zero, IsWorking is false, and
// Add and Between return ErrInvalid. None of its methods panic.
type Calendar struct {
	name   string
	zone   string
	loc    *time.Location
	lo, hi int64   // horizon, unix seconds [lo, hi)
	start  []int64 // interval starts, unix seconds
	end    []int64 // interval ends
	cum    []int64 // cum[i]: working seconds before interval i; len(start)+1 entries
	over   bool    // while compiling: more than MaxIntervals intervals
	cfg    Config  // what it was compiled from, its slices its own (Spec)
}

const secondsPerDay = 86400

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// weekdayOf returns the weekday of a day number (days since 1970-01-01, a
// Thursday).
func weekdayOf(day int64) time.Weekday { return time.Weekday(((day % 7) + 7 + 4) % 7) }

var weekdayKeys = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// Compile validates the configuration and builds the calendar. Every
// problem is reported in one *itsm.ValidationError naming the field: a name
// or closure reason over MaxName bytes, with NUL or not UTF-8, an unknown
// time zone, a range that is empty, outside the day or overlapping
// another, a bad holiday date or one outside the horizon, a closure that
// ends before it starts or lies outside the horizon, a bad horizon, a
// calendar with no working time at all, or one of more than MaxIntervals
// working intervals.
func Compile(cfg Config) (*Calendar, error) {
	name := cfg.Name
	if name == "" {
		name = "calendar"
	}
	verr := &itsm.ValidationError{Kind: "calendar", ID: cfg.Name}
	if p := textProblem(cfg.Name); p != "" {
		verr.ID = fmt.Sprintf("%.64q", cfg.Name)
		verr.Add("name", p)
	}
	loc := time.UTC
	if cfg.TimeZone != "" && cfg.TimeZone != "UTC" {
		l, err := loadLocation(cfg.TimeZone)
		if err != nil {
			verr.Add("time_zone", fmt.Sprintf("unknown time zone %q", cfg.TimeZone))
		} else {
			loc = l
		}
	}
	from, to := cfg.FromYear, cfg.ToYear
	if from == 0 {
		from = DefaultFromYear
	}
	if to == 0 {
		to = DefaultToYear
	}
	switch {
	case from < MinYear || to > MaxYear:
		verr.Add("years", fmt.Sprintf("horizon %d..%d outside %d..%d", from, to, MinYear, MaxYear))
	case from > to:
		verr.Add("years", fmt.Sprintf("from year %d is after to year %d", from, to))
	case to-from+1 > MaxYears:
		verr.Add("years", fmt.Sprintf("horizon %d..%d spans more than %d years", from, to, MaxYears))
	}
	week := [7][]Range{}
	working := false
	for wd := range cfg.Week {
		rs := slices.Clone(cfg.Week[wd])
		field := "hours." + weekdayKeys[wd]
		bad := false
		for _, r := range rs {
			if r.Start < 0 || r.End > MinutesPerDay || r.Start >= r.End {
				verr.Add(field, fmt.Sprintf("range %s is empty or outside 00:00..24:00", r))
				bad = true
			}
		}
		if bad {
			continue
		}
		slices.SortFunc(rs, func(a, b Range) int { return int(a.Start - b.Start) })
		for i := 1; i < len(rs); i++ {
			if rs[i].Start < rs[i-1].End {
				verr.Add(field, fmt.Sprintf("range %s overlaps %s", rs[i-1], rs[i]))
				bad = true
			}
		}
		if !bad {
			week[wd] = rs
			working = working || len(rs) > 0
		}
	}
	if !working && verr.Fields["hours.sun"]+verr.Fields["hours.mon"]+verr.Fields["hours.tue"]+verr.Fields["hours.wed"]+
		verr.Fields["hours.thu"]+verr.Fields["hours.fri"]+verr.Fields["hours.sat"] == "" {
		verr.Add("hours", "no working time on any weekday")
	}
	holidays := map[int64]bool{}
	for i, d := range cfg.Holidays {
		if !d.valid() {
			verr.Add(fmt.Sprintf("holidays[%d]", i), fmt.Sprintf("%s is not a valid date", d))
			continue
		}
		if d.Year < from || d.Year > to {
			// A holiday the calendar never reaches is a mistake (a year
			// mistyped), not a day off.
			verr.Add(fmt.Sprintf("holidays[%d]", i), fmt.Sprintf("%s is outside the horizon %d..%d", d, from, to))
			continue
		}
		holidays[d.days()] = true
	}
	for i, h := range cfg.HolidaySets {
		if h == nil || h.Func == nil {
			verr.Add(fmt.Sprintf("holiday_sets[%d]", i), "holiday has no calculation")
		}
	}
	closures := make([]Closure, 0, len(cfg.Closures))
	for i, c := range cfg.Closures {
		if c.Start.IsZero() || c.End.IsZero() || !c.End.After(c.Start) {
			verr.Add(fmt.Sprintf("closures[%d]", i), "end must be after start")
			continue
		}
		if p := textProblem(c.Reason); p != "" {
			verr.Add(fmt.Sprintf("closures[%d]", i), "reason "+p)
			continue
		}
		closures = append(closures, c)
	}
	if err := verr.Err(); err != nil {
		return nil, err
	}
	for _, h := range cfg.HolidaySets {
		for y := from - 1; y <= to+1; y++ {
			_, obs := h.Calc(y)
			if !obs.IsZero() {
				holidays[Date{obs.Year(), obs.Month(), obs.Day()}.days()] = true
			}
		}
	}
	c := &Calendar{name: name, zone: loc.String(), loc: loc, cfg: cfg}
	for d := range c.cfg.Week {
		c.cfg.Week[d] = slices.Clone(cfg.Week[d])
	}
	c.cfg.Holidays, c.cfg.HolidaySets, c.cfg.Closures = slices.Clone(cfg.Holidays), slices.Clone(cfg.HolidaySets), slices.Clone(cfg.Closures)
	c.lo = time.Date(from, 1, 1, 0, 0, 0, 0, loc).Unix()
	c.hi = time.Date(to+1, 1, 1, 0, 0, 0, 0, loc).Unix()
	for i, cl := range cfg.Closures {
		if cl.End.Unix() < c.lo || cl.Start.Unix() >= c.hi {
			// Like a holiday, a closure the calendar never reaches is a
			// mistake, not a closure.
			verr.Add(fmt.Sprintf("closures[%d]", i), fmt.Sprintf("%s..%s is outside the horizon %d..%d",
				cl.Start.UTC().Format(time.RFC3339), cl.End.UTC().Format(time.RFC3339), from, to))
		}
	}
	if err := verr.Err(); err != nil {
		return nil, err
	}
	c.build(week, holidays)
	c.close(closures)
	if c.over {
		return nil, verr.Add("hours", fmt.Sprintf("the hours, holidays and closures make more than %d separate working intervals over the horizon %d..%d: use fewer ranges a day or a shorter horizon", MaxIntervals, from, to))
	}
	c.cum = make([]int64, len(c.start)+1)
	for i := range c.start {
		c.cum[i+1] = c.cum[i] + c.end[i] - c.start[i]
	}
	if c.cum[len(c.start)] == 0 {
		return nil, verr.Add("hours", "holidays and closures leave no working time in the horizon")
	}
	return c, nil
}

// build lays the weekly ranges over the horizon one zone period (a stretch
// with a constant UTC offset) at a time: within a period wall time is UTC
// plus the offset, so each range maps to UTC exactly, whatever DST does.
func (c *Calendar) build(week [7][]Range, holidays map[int64]bool) {
	for t := c.lo; t < c.hi; {
		o := c.offset(t)
		segEnd := c.periodEnd(t, o)
		w0, w1 := t+o, segEnd+o
		for day := floorDiv(w0, secondsPerDay); day*secondsPerDay < w1; day++ {
			if c.over {
				return
			}
			if holidays[day] {
				continue
			}
			for _, r := range week[weekdayOf(day)] {
				a := max(day*secondsPerDay+int64(r.Start)*60, w0)
				b := min(day*secondsPerDay+int64(r.End)*60, w1)
				if a < b {
					c.add(a-o, b-o)
				}
			}
		}
		t = segEnd
	}
}

func (c *Calendar) offset(t int64) int64 {
	_, off := time.Unix(t, 0).In(c.loc).Zone()
	return int64(off)
}

// probeStep is how far apart build looks for offset changes: no zone of the
// IANA database changes its offset and back within a day.
const probeStep = secondsPerDay

// periodEnd returns the first instant after t whose UTC offset is not o, or
// the horizon's end. It probes the offset rather than trusting
// time.Time.ZoneBounds, which returns an end before the instant asked about
// at some year boundaries of zones described by a rule (Lord Howe, 2068).
func (c *Calendar) periodEnd(t, o int64) int64 {
	for p := t; p < c.hi; p += probeStep {
		q := min(p+probeStep, c.hi)
		if q == c.hi || c.offset(q) != o {
			if q == c.hi && c.offset(q-1) == o {
				return c.hi
			}
			// The change lies in (p, q]: find its first second.
			lo, hi := p, q
			for hi-lo > 1 {
				m := lo + (hi-lo)/2
				if c.offset(m) == o {
					lo = m
				} else {
					hi = m
				}
			}
			return hi
		}
	}
	return c.hi
}

// add appends the interval [a, b), joining it to the last when they touch;
// past MaxIntervals it appends nothing and marks the calendar over.
func (c *Calendar) add(a, b int64) {
	if n := len(c.end); n > 0 && c.end[n-1] == a {
		c.end[n-1] = b
		return
	}
	if len(c.start) >= MaxIntervals {
		c.over = true
		return
	}
	c.start = append(c.start, a)
	c.end = append(c.end, b)
}

// close removes the closures from the working intervals.
func (c *Calendar) close(closures []Closure) {
	if len(closures) == 0 {
		return
	}
	type span struct{ a, b int64 }
	cs := make([]span, 0, len(closures))
	for _, cl := range closures {
		a := cl.Start.Unix()
		b := cl.End.Unix()
		if cl.End.Nanosecond() > 0 {
			b++ // a closure ending mid-second closes that whole second
		}
		cs = append(cs, span{a, b})
	}
	slices.SortFunc(cs, func(x, y span) int { return int(x.a - y.a) })
	start, end := c.start, c.end
	c.start, c.end = nil, nil
	j := 0
	for i := range start {
		if c.over {
			return
		}
		a, b := start[i], end[i]
		for j < len(cs) && cs[j].b <= a {
			j++
		}
		for k := j; k < len(cs) && cs[k].a < b && a < b; k++ {
			if cs[k].b <= a {
				continue
			}
			if cs[k].a > a {
				c.add(a, cs[k].a)
			}
			a = max(a, cs[k].b)
		}
		if a < b {
			c.add(a, b)
		}
	}
}

// Name returns the calendar's name.
func (c *Calendar) Name() string {
	if c == nil {
		return ""
	}
	return c.name
}

// Location returns the calendar's time zone.
func (c *Calendar) Location() *time.Location {
	if c == nil {
		return time.UTC
	}
	return c.loc
}

// Horizon returns the first instant the calendar answers for and the first
// one after it.
func (c *Calendar) Horizon() (from, to time.Time) {
	if c == nil {
		return time.Time{}, time.Time{}
	}
	return time.Unix(c.lo, 0).UTC(), time.Unix(c.hi, 0).UTC()
}

// Intervals returns the number of working intervals compiled, for sizing.
func (c *Calendar) Intervals() int {
	if c == nil {
		return 0
	}
	return len(c.start)
}

// upper returns the number of starts <= s.
func (c *Calendar) upper(s int64) int {
	lo, hi := 0, len(c.start)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if c.start[m] <= s {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// work returns the working time from the horizon's start to t, in
// nanoseconds.
func (c *Calendar) work(t time.Time) int64 {
	s, ns := t.Unix(), int64(t.Nanosecond())
	i := c.upper(s) - 1
	if i < 0 {
		return 0
	}
	if s < c.end[i] {
		return (c.cum[i]+s-c.start[i])*1e9 + ns
	}
	return c.cum[i+1] * 1e9
}

func (c *Calendar) inHorizon(t time.Time) bool {
	s := t.Unix()
	return s >= c.lo && s < c.hi
}

func (c *Calendar) horizonError(what string, t time.Time) error {
	from, to := c.Horizon()
	return itsm.Invalidf("calendar %s: %s %s is outside the horizon %s..%s", c.name, what,
		t.UTC().Format(time.RFC3339), from.Format(time.RFC3339), to.Format(time.RFC3339))
}

// IsWorking reports whether t is working time. Times outside the horizon
// are not.
func (c *Calendar) IsWorking(t time.Time) bool {
	if c == nil || !c.inHorizon(t) {
		return false
	}
	i := c.upper(t.Unix()) - 1
	return i >= 0 && t.Unix() < c.end[i]
}

// Between returns the working time elapsed from start to end: negative when
// end is before start. Both must lie within the horizon.
func (c *Calendar) Between(start, end time.Time) (time.Duration, error) {
	if c == nil {
		return 0, itsm.Invalidf("calendar: nil calendar")
	}
	if !c.inHorizon(start) {
		return 0, c.horizonError("start", start)
	}
	if !c.inHorizon(end) {
		return 0, c.horizonError("end", end)
	}
	return time.Duration(c.work(end) - c.work(start)), nil
}

// Add returns the instant at which d of working time has elapsed after
// start, in UTC. A positive d ends inside or at the end of a working
// interval (17:00, not the next morning), so Between(start, Add(start, d))
// is d. Add(start, 0) is start. A negative d, a start outside the horizon or
// a result beyond it is refused.
func (c *Calendar) Add(start time.Time, d time.Duration) (time.Time, error) {
	if c == nil {
		return time.Time{}, itsm.Invalidf("calendar: nil calendar")
	}
	if !c.inHorizon(start) {
		return time.Time{}, c.horizonError("start", start)
	}
	if d < 0 {
		return time.Time{}, itsm.Invalidf("calendar %s: duration %s is negative", c.name, d)
	}
	if d == 0 {
		return start, nil
	}
	w := c.work(start)
	n := len(c.start)
	if int64(d) > c.cum[n]*1e9-w {
		return time.Time{}, itsm.Invalidf("calendar %s: %s of working time after %s runs past the horizon's end %s",
			c.name, d, start.UTC().Format(time.RFC3339), time.Unix(c.hi, 0).UTC().Format(time.RFC3339))
	}
	target := w + int64(d)
	// Smallest i whose end carries the cumulative work to target.
	lo, hi := 0, n-1
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if c.cum[m+1]*1e9 >= target {
			hi = m
		} else {
			lo = m + 1
		}
	}
	off := target - c.cum[lo]*1e9
	return time.Unix(c.start[lo]+off/1e9, off%1e9).UTC(), nil
}
