package calendar_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rickar/cal/v2"
	"github.com/rickar/cal/v2/de"
	"github.com/rickar/cal/v2/gb"
	"github.com/rickar/cal/v2/us"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/design/calendar"
)

// Zones with DST of one hour and of half an hour, southern-hemisphere DST,
// odd offsets, no DST, and Apia, which skipped 30 December 2011.
var propertyZones = []string{
	"UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata",
	"Pacific/Chatham", "America/Sao_Paulo", "Asia/Tehran", "Pacific/Apia", "America/St_Johns",
	"Europe/Berlin", "Australia/Sydney",
}

// reference answers by stepping minute by minute through the wall clock, with
// holidays from rickar/cal's own IsHoliday: it shares no code with the
// compiled calendar.
type reference struct {
	loc      *time.Location
	week     [7][]calendar.Range
	fixed    map[calendar.Date]bool
	hol      *cal.Calendar
	closures []calendar.Closure
	lastDay  calendar.Date
	lastHol  bool
}

func (r *reference) working(m int64) bool {
	// One zone lookup per minute; the wall clock is then plain arithmetic.
	_, off := time.Unix(m, 0).In(r.loc).Zone()
	wall := m + int64(off)
	t := time.Unix(wall, 0).UTC()
	y, mo, d := t.Date()
	day := calendar.Date{Year: y, Month: mo, Day: d}
	if day != r.lastDay {
		_, obs, _ := r.hol.IsHoliday(t)
		r.lastDay, r.lastHol = day, obs || r.fixed[day]
	}
	if r.lastHol {
		return false
	}
	for _, c := range r.closures {
		if m >= c.Start.Unix() && m < c.End.Unix() {
			return false
		}
	}
	mod := calendar.TimeOfDay((wall % 86400) / 60)
	if wall < 0 {
		mod = calendar.TimeOfDay(((wall%86400 + 86400) % 86400) / 60)
	}
	for _, rg := range r.week[t.Weekday()] {
		if mod >= rg.Start && mod < rg.End {
			return true
		}
	}
	return false
}

// between sums the working parts of each minute from s to e (s <= e).
func (r *reference) between(s, e time.Time) time.Duration {
	var total time.Duration
	for m := s.Unix() - s.Unix()%60; m < e.Unix()+60; m += 60 {
		a, b := time.Unix(m, 0), time.Unix(m+60, 0)
		if a.Before(s) {
			a = s
		}
		if b.After(e) {
			b = e
		}
		if a.Before(b) && r.working(m) {
			total += b.Sub(a)
		}
	}
	return total
}

// add steps minutes from s until d of working time has gone by, stopping
// after limit; ok is false when it did not get there.
func (r *reference) add(s time.Time, d time.Duration, limit time.Time) (time.Time, bool) {
	if d == 0 {
		return s, true
	}
	for m := s.Unix() - s.Unix()%60; m < limit.Unix(); m += 60 {
		a := time.Unix(m, 0)
		if a.Before(s) {
			a = s
		}
		avail := time.Unix(m+60, 0).Sub(a)
		if !r.working(m) {
			continue
		}
		if d <= avail {
			return a.Add(d).UTC(), true
		}
		d -= avail
	}
	return time.Time{}, false
}

type propertyCase struct {
	cfg   calendar.Config
	ref   *reference
	start time.Time
	span  time.Duration // wall-clock span for the reference check
	long  time.Duration // business duration for the round trip, up to a year
	frac  float64
}

func randomCase(r *rand.Rand) propertyCase {
	zone := propertyZones[r.IntN(len(propertyZones))]
	loc, err := time.LoadLocation(zone)
	if err != nil {
		panic(err)
	}
	year := 1995 + r.IntN(96)
	cfg := calendar.Config{Name: fmt.Sprintf("random-%s-%d", zone, year), TimeZone: zone, FromYear: year - 1, ToYear: year + 1}
	var total int
	for total == 0 {
		for wd := range cfg.Week {
			cfg.Week[wd] = nil
			if r.IntN(10) < 3 {
				continue
			}
			// 1..3 ranges from sorted distinct half-hour marks.
			n := 1 + r.IntN(3)
			marks := map[int]bool{}
			for len(marks) < 2*n {
				marks[r.IntN(49)*30] = true
			}
			var ms []int
			for m := range marks {
				ms = append(ms, m)
			}
			sortInts(ms)
			for i := 0; i+1 < len(ms); i += 2 {
				cfg.Week[wd] = append(cfg.Week[wd], calendar.Range{Start: calendar.TimeOfDay(ms[i]), End: calendar.TimeOfDay(ms[i+1])})
				total += ms[i+1] - ms[i]
			}
		}
	}
	sets := [][]*cal.Holiday{nil, us.Holidays, gb.Holidays, de.Holidays}
	cfg.HolidaySets = sets[r.IntN(len(sets))]
	for range r.IntN(4) {
		cfg.Holidays = append(cfg.Holidays, calendar.Date{Year: year, Month: time.Month(1 + r.IntN(12)), Day: 1 + r.IntN(28)})
	}
	yearStart := time.Date(year, 1, 1, 0, 0, 0, 0, loc)
	for range r.IntN(3) {
		a := yearStart.Add(time.Duration(r.IntN(365*24*60)) * time.Minute)
		cfg.Closures = append(cfg.Closures, calendar.Closure{Start: a, End: a.Add(time.Duration(1+r.IntN(3*24*60)) * time.Minute)})
	}

	ref := &reference{loc: loc, week: cfg.Week, fixed: map[calendar.Date]bool{}, hol: &cal.Calendar{}, closures: cfg.Closures}
	ref.hol.AddHoliday(cfg.HolidaySets...)
	for _, d := range cfg.Holidays {
		ref.fixed[d] = true
	}

	// Starts: near a DST change, near the year's end, near 29 February,
	// or anywhere in the year; a random second and nanosecond.
	var start time.Time
	switch r.IntN(4) {
	case 0:
		_, end := time.Date(year, 4, 1, 0, 0, 0, 0, loc).ZoneBounds()
		if end.IsZero() || end.Year() != year {
			end = yearStart.AddDate(0, 6, 0)
		}
		start = end.Add(time.Duration(r.IntN(4*24*60)-2*24*60) * time.Minute)
	case 1:
		start = time.Date(year, 12, 31, 0, 0, 0, 0, loc).Add(time.Duration(r.IntN(3*24*60)-24*60) * time.Minute)
	case 2:
		start = time.Date(year, 2, 28, 0, 0, 0, 0, loc).Add(time.Duration(r.IntN(3*24*60)) * time.Minute)
	default:
		start = yearStart.Add(time.Duration(r.IntN(365*24*60)) * time.Minute)
	}
	start = start.Add(time.Duration(r.Int64N(int64(time.Minute)))).UTC()
	return propertyCase{
		cfg: cfg, ref: ref, start: start,
		span: time.Duration(r.Int64N(int64(2 * 24 * time.Hour))),
		long: time.Duration(r.Int64N(int64(366 * 24 * time.Hour))),
		frac: r.Float64(),
	}
}

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// check runs every property on one case and returns the first failure.
func (pc propertyCase) check() error {
	c, err := calendar.Compile(pc.cfg)
	if err != nil {
		return fmt.Errorf("compile: %w", err)
	}
	end := pc.start.Add(pc.span)
	// 1. Between agrees with the minute-stepping reference.
	got, err := c.Between(pc.start, end)
	if err != nil {
		return err
	}
	if want := pc.ref.between(pc.start, end); got != want {
		return fmt.Errorf("Between(%s, %s) = %s, reference %s", pc.start, end, got, want)
	}
	// 2. Add agrees with the reference for a duration within the span.
	d := time.Duration(float64(got) * pc.frac)
	sum, err := c.Add(pc.start, d)
	if err != nil {
		return err
	}
	if want, ok := pc.ref.add(pc.start, d, end.Add(time.Minute)); !ok || !sum.Equal(want) {
		return fmt.Errorf("Add(%s, %s) = %s, reference %s", pc.start, d, sum, want)
	}
	// 3. Add and Between invert each other, over durations up to a year.
	_, hi := c.Horizon()
	long := pc.long
	if rest, _ := c.Between(pc.start, hi.Add(-time.Second)); long > rest {
		long = rest
	}
	far, err := c.Add(pc.start, long)
	if err != nil {
		return err
	}
	if back, _ := c.Between(pc.start, far); back != long {
		return fmt.Errorf("Between(start, Add(start, %s)) = %s", long, back)
	}
	if far.Before(pc.start) || (long > 0 && !c.IsWorking(far.Add(-time.Nanosecond))) {
		return fmt.Errorf("Add(%s, %s) = %s does not end in working time", pc.start, long, far)
	}
	// 4. Add(start, Between(start, end)) is the earliest instant with the
	// same working time: not after end, and nothing worked in between.
	earliest, err := c.Add(pc.start, got)
	if err != nil {
		return err
	}
	if gap, _ := c.Between(earliest, end); earliest.After(end) || gap != 0 {
		return fmt.Errorf("Add(start, Between(start, %s)) = %s, %s of work before end", end, earliest, gap)
	}
	return nil
}

// TestPropertyAgainstReference checks Add and Between against each other and
// against the reference on random calendars, starts and durations: 2,000
// cases by default, 1,000,000 with PILLARS_SCALE=1.
func TestPropertyAgainstReference(t *testing.T) {
	n := 2000
	if os.Getenv("PILLARS_SCALE") == "1" {
		n = 1_000_000
	}
	var (
		next, failed atomic.Int64
		mu           sync.Mutex
		firstErr     error
		wg           sync.WaitGroup
	)
	began := time.Now()
	for w := range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || failed.Load() > 0 {
					return
				}
				r := rand.New(rand.NewPCG(uint64(i), 0x5eed))
				if err := randomCase(r).check(); err != nil {
					failed.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("case %d (worker %d): %w", i, w, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, firstErr)
	t.Logf("%d random cases agree with the reference in %s", n, time.Since(began).Round(time.Millisecond))
}
