package improvement

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
	"time"
)

// rowKey groups buckets into one result row.
type rowKey struct {
	sliceKey
	Start int32 // first day of the period
}

type sums struct {
	n, hits, ms int64
	opened      int64 // backlog: sum of opening times (Unix seconds)
}

// measure extracts a KPI's population, numerator and duration sum from a
// bucket.
func measure(k KPI, c *counters) (n, hits, ms int64) {
	w := func(n, hits int32, ms int64) (int64, int64, int64) { return int64(n), int64(hits), ms }
	switch k {
	case MTTA:
		return w(c.AckN, 0, c.AckMs)
	case MTTR:
		return w(c.ResN, 0, c.ResMs)
	case MTTRBusiness:
		return w(c.ResBizN, 0, c.ResBizMs)
	case MTBF:
		return w(c.MTBFN, 0, c.MTBFMs)
	case SLACompliance:
		return w(c.SLAN, c.SLAMet, 0)
	case ReopenRate:
		return w(c.ResN, c.Reopened, 0)
	case FirstContactResolution:
		return w(c.ResN, c.FCR, 0)
	case GroupReassignmentRate:
		return w(c.ResN, c.Reassigned, 0)
	case ChangeSuccessRate:
		return w(c.ChgReviewed, c.ChgSuccessful, 0)
	case EmergencyChangeRatio:
		return w(c.ChgClosed, c.ChgEmergency, 0)
	case ChangesCausingIncidents:
		return w(c.ChgClosed, c.ChgCausing, 0)
	case RequestFulfilmentTime:
		return w(c.ReqN, 0, c.ReqMs)
	case IncidentVolume:
		return w(c.IncOpened, 0, 0)
	case RequestVolume:
		return w(c.ReqOpened, 0, 0)
	case ChangeVolume:
		return w(c.ChgOpened, 0, 0)
	}
	return 0, 0, 0
}

// periodStart returns the first day of the period holding day d.
func periodStart(p Period, d int32) int32 {
	switch p {
	case PeriodDay:
		return d
	case PeriodWeek:
		// Day 0 (1970-01-01) was a Thursday; Monday is 3 days before.
		off := (d + 3) % 7
		if off < 0 {
			off += 7
		}
		return d - off
	case PeriodMonth:
		t := dayStart(d)
		return dayOf(time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC))
	}
	return d
}

// periodEnd returns the first day after the period starting at start.
func periodEnd(p Period, start int32) int32 {
	switch p {
	case PeriodDay:
		return start + 1
	case PeriodWeek:
		return start + 7
	case PeriodMonth:
		t := dayStart(start)
		return dayOf(time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC))
	}
	return start + 1
}

// dayRange returns the days [lo, hi) a query covers: days overlapping
// [From, To).
func (q Query) dayRange() (lo, hi int32) {
	lo, hi = math.MinInt32, math.MaxInt32
	if !q.From.IsZero() {
		lo = dayOf(q.From)
	}
	if !q.To.IsZero() {
		hi = dayOf(q.To)
		if dayStart(hi).Before(q.To) {
			hi++
		}
	}
	return lo, hi
}

// filter is a query's slice filter on interned names; -1 matches any.
type filter struct{ service, group, priority int32 }

// filter resolves the query's filters; ok is false when a filter names a
// service or group the engine has never seen (nothing can match).
func (st *state) filter(q Query) (f filter, ok bool) {
	f = filter{-1, -1, -1}
	if q.Service != "" {
		if f.service, ok = st.nameID(q.Service); !ok {
			return f, false
		}
	}
	if q.Group != "" {
		if f.group, ok = st.nameID(q.Group); !ok {
			return f, false
		}
	}
	if q.Priority != 0 {
		if q.Priority > 1000 {
			return f, false
		}
		f.priority = int32(q.Priority)
	}
	return f, true
}

func (f filter) matches(k sliceKey) bool {
	return (f.service < 0 || f.service == k.Service) && (f.group < 0 || f.group == k.Group) &&
		(f.priority < 0 || f.priority == k.Priority)
}

// project keeps only the dimensions the query breaks down by.
func (q Query) project(k sliceKey) sliceKey {
	var out sliceKey
	for _, d := range q.By {
		switch d {
		case ByService:
			out.Service = k.Service
		case ByGroup:
			out.Group = k.Group
		case ByPriority:
			out.Priority = k.Priority
		}
	}
	return out
}

func (st *state) compute(q Query) Result {
	res := Result{KPI: q.KPI, Unit: q.KPI.Unit(), Period: q.Period, By: slices.Clone(q.By), Rows: []Row{}}
	if !st.HasDay {
		return res
	}
	if q.KPI == Backlog || q.KPI == BacklogAge {
		res.Rows = st.backlog(q)
		return res
	}
	f, ok := st.filter(q)
	if !ok {
		return res
	}
	lo, hi := q.dayRange()
	// row[i]-1 is the result row of bucket i, worked out the first time
	// the bucket has a measurement (0: not yet; -1: the query leaves the
	// bucket out), so a measurement read from a record (percentiles,
	// MTTRFirst) goes to its row through its bucketRef without hashing,
	// and buckets without measurements cost no lookup.
	row := make([]int32, len(st.Keys))
	rowIDs := map[rowKey]int32{}
	var keys []rowKey
	var agg []sums
	var pcts [][]int64
	withPcts := q.Percentiles && q.KPI.HasPercentiles()
	rowOf := func(i int32) int32 {
		if r := row[i]; r != 0 {
			return r - 1
		}
		bk := st.Keys[i]
		if bk.Day < lo || bk.Day >= hi || !f.matches(bk.Slice) ||
			q.KPI == MTBF && (bk.Slice.Group != 0 || bk.Slice.Priority != 0) {
			row[i] = -1
			return -1
		}
		rk := rowKey{q.project(bk.Slice), 0}
		if q.Period != PeriodNone {
			rk.Start = periodStart(q.Period, bk.Day)
		}
		r, ok := rowIDs[rk]
		if !ok {
			r = int32(len(keys))
			rowIDs[rk] = r
			keys = append(keys, rk)
			agg = append(agg, sums{})
			if withPcts {
				pcts = append(pcts, nil)
			}
		}
		row[i] = r + 1
		return r
	}
	minDay, maxDay := int32(math.MaxInt32), int32(math.MinInt32)
	add := func(i, r int32, n, hits, ms int64) {
		d := st.Keys[i].Day
		minDay, maxDay = min(minDay, d), max(maxDay, d)
		s := &agg[r]
		s.n += n
		s.hits += hits
		s.ms += ms
	}
	if q.KPI == MTTRFirst || withPcts {
		st.samples(q.KPI, func(ref bucketRef, ms int64) {
			i := int32(ref) - 1
			r := rowOf(i)
			if r < 0 {
				return
			}
			if q.KPI == MTTRFirst {
				add(i, r, 1, 0, ms)
			}
			if withPcts {
				pcts[r] = append(pcts[r], ms)
			}
		})
	}
	if q.KPI != MTTRFirst {
		for i := range int32(len(st.Keys)) {
			if n, hits, ms := measure(q.KPI, st.counter(i)); n != 0 {
				if r := rowOf(i); r >= 0 {
					add(i, r, n, hits, ms)
				}
			}
		}
	}
	// Without a period, one row spans the range (or the days measured).
	rangeLo, rangeHi := max(lo, minDay), min(hi, maxDay+1)
	unit := res.Unit
	for ri, rk := range keys {
		s := &agg[ri]
		if s.n <= 0 {
			continue
		}
		r := Row{Service: st.Names[rk.Service], Group: st.Names[rk.Group], Priority: int(rk.Priority), Count: s.n}
		if q.Period == PeriodNone {
			r.Start, r.End = dayStart(rangeLo), dayStart(rangeHi)
		} else {
			r.Start, r.End = dayStart(rk.Start), dayStart(periodEnd(q.Period, rk.Start))
		}
		switch unit {
		case UnitHours:
			r.Mean = time.Duration(s.ms/s.n) * time.Millisecond
			r.Value = float64(s.ms) / float64(s.n) / float64(time.Hour/time.Millisecond)
			if withPcts && len(pcts[ri]) > 0 {
				r.P50, r.P90, r.P95 = percentiles(pcts[ri])
			}
		case UnitRatio:
			r.Hits = s.hits
			r.Value = float64(s.hits) / float64(s.n)
		case UnitCount:
			r.Value = float64(s.n)
		}
		res.Rows = append(res.Rows, r)
	}
	sortRows(res.Rows)
	return res
}

// percentiles returns the 50th, 90th and 95th percentiles of millisecond
// samples by the nearest-rank method (the ceil(p/100*n)-th smallest),
// reordering xs. It selects the three ranks, largest first, each within the
// samples below the last, instead of sorting them all: at a million
// samples a full sort took several times as long.
func percentiles(xs []int64) (p50, p90, p95 time.Duration) {
	n := len(xs)
	rank := func(p int) int { return max(1, min((p*n+99)/100, n)) - 1 }
	r50, r90, r95 := rank(50), rank(90), rank(95)
	// Each selection leaves the ranks above it in place: the next one
	// reorders only the samples below them.
	selectNth(xs, r95)
	if r90 < r95 {
		selectNth(xs[:r95], r90)
	}
	if r50 < r90 {
		selectNth(xs[:r90], r50)
	}
	ms := func(i int) time.Duration { return time.Duration(xs[i]) * time.Millisecond }
	return ms(r50), ms(r90), ms(r95)
}

// selectNth reorders xs so that xs[k] is the value a sort would put
// there, with no larger value before it and no smaller after it:
// quickselect with a median-of-three pivot and a three-way partition (runs
// of equal durations are common), falling back to a sort when the
// partitions stay unbalanced, so it never takes quadratic time.
func selectNth(xs []int64, k int) {
	budget := 2 * bits.Len(uint(len(xs)))
	for len(xs) > 16 {
		if budget--; budget < 0 {
			slices.Sort(xs)
			return
		}
		m := len(xs) / 2
		a, b, c := xs[0], xs[m], xs[len(xs)-1]
		pivot := max(min(a, b), min(max(a, b), c))
		// xs[:lt] < pivot, xs[lt:i] == pivot, xs[gt:] > pivot.
		lt, i, gt := 0, 0, len(xs)
		for i < gt {
			switch v := xs[i]; {
			case v < pivot:
				xs[lt], xs[i] = v, xs[lt]
				lt++
				i++
			case v > pivot:
				gt--
				xs[gt], xs[i] = v, xs[gt]
			default:
				i++
			}
		}
		switch {
		case k < lt:
			xs = xs[:lt]
		case k >= gt:
			xs, k = xs[gt:], k-gt
		default:
			return
		}
	}
	slices.Sort(xs)
}

// samples calls fn with each duration measurement of a KPI that has
// percentiles, and its bucket, from the records the engine keeps.
func (st *state) samples(k KPI, fn func(r bucketRef, ms int64)) {
	switch k {
	case MTTA, MTTR, MTTRFirst, MTTRBusiness:
		rows := st.Incidents.Rows
		for i := range rows {
			inc := &rows[i]
			switch {
			case k == MTTA && inc.AckRef != 0:
				fn(inc.AckRef, inc.AckMs)
			case k == MTTR && inc.RRef != 0:
				fn(inc.RRef, inc.RMs)
			case k == MTTRBusiness && inc.RRef != 0 && inc.has(incRBiz):
				fn(inc.RRef, inc.RBizMs)
			case k == MTTRFirst && inc.FirstRef != 0:
				fn(inc.FirstRef, inc.FirstMs)
			}
		}
	case RequestFulfilmentTime:
		rows := st.Requests.Rows
		for i := range rows {
			if rq := &rows[i]; rq.Fulfilled {
				fn(rq.FRef, rq.FMs)
			}
		}
	}
}

func sortRows(rows []Row) {
	slices.SortFunc(rows, func(a, b Row) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.Service, b.Service),
			cmp.Compare(a.Group, b.Group), cmp.Compare(a.Priority, b.Priority))
	})
}

// backlog walks each slice's daily entries and exits in day order and reads
// the running totals at the end of each period.
func (st *state) backlog(q Query) []Row {
	type delta struct {
		day       int32
		n, opened int64
	}
	series := map[sliceKey][]delta{}
	f, ok := st.filter(q)
	if !ok {
		return []Row{}
	}
	for i, bk := range st.Keys {
		c := st.counter(int32(i))
		if (c.BacklogDelta == 0 && c.BacklogOpenedSec == 0) || !f.matches(bk.Slice) {
			continue
		}
		k := q.project(bk.Slice)
		series[k] = append(series[k], delta{bk.Day, int64(c.BacklogDelta), c.BacklogOpenedSec})
	}
	lo, hi := q.dayRange()
	// Nothing is known after AsOf: the backlog stops at its day, and ages
	// are measured to it at the latest.
	asOfSec := q.AsOf.Unix()
	hi = min(hi, dayOfUnix(asOfSec)+1)
	if q.From.IsZero() {
		lo = st.MinDay
	}
	rows := []Row{}
	if lo >= hi {
		return rows
	}
	for k, ds := range series {
		slices.SortFunc(ds, func(a, b delta) int { return cmp.Compare(a.day, b.day) })
		var n, opened int64
		i := 0
		for p := periodStart(q.Period, lo); p < hi; p = periodEnd(q.Period, p) {
			end := min(periodEnd(q.Period, p), hi)
			if q.Period == PeriodNone {
				p, end = lo, hi
			}
			for i < len(ds) && ds[i].day < end {
				n += ds[i].n
				opened += ds[i].opened
				i++
			}
			if n > 0 {
				r := Row{Start: dayStart(max(p, lo)), End: dayStart(end), Service: st.Names[k.Service], Group: st.Names[k.Group], Priority: int(k.Priority), Count: n}
				if q.Period != PeriodNone {
					r.Start, r.End = dayStart(p), dayStart(periodEnd(q.Period, p))
				}
				if q.KPI == Backlog {
					r.Value = float64(n)
				} else {
					endSec := min(int64(end)*86400, asOfSec)
					ageSec := float64(endSec*n-opened) / float64(n)
					r.Mean = time.Duration(ageSec * float64(time.Second))
					r.Value = ageSec / 3600
				}
				rows = append(rows, r)
			}
			if q.Period == PeriodNone {
				break
			}
		}
	}
	sortRows(rows)
	return rows
}
