package improvement_test

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/improvement"
	"github.com/pillars-itsm/pillars/itsm"
)

// The differential test: the engine against refKPIs, a plain loop that
// computes each KPI from the same log under the definitions written on the
// KPI constants, over random messy histories (reopens after close,
// repeated states, holds, group and agent reassignments, rows out of time
// order, states the defaults lack, two tenants, a custom field, imports
// without a resolution time).

// messyLog generates n incidents and n/3 requests, interleaved in log
// order, with times that sometimes go backwards.
func messyLog(seed uint64, n int) []itsm.Event {
	rng := rand.New(rand.NewPCG(seed, seed^0x51ed))
	groups := []string{"desk", "net", "apps", ""}
	agents := []string{"ann", "bob", "cy", ""}
	states := []string{"new", "in_progress", "on_hold", "resolved", "closed", "canceled", "awaiting_vendor", "resolved", "closed"}
	reqStates := []string{"open", "work_in_progress", "closed_complete", "closed_incomplete", "closed_complete"}
	base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	type live struct {
		kind, id, tenant string
		t                time.Time
		left             int
	}
	var open []*live
	var evs []itsm.Event
	js := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	emit := func(l *live, name, to string, changes ...itsm.FieldChange) {
		step := time.Duration(rng.IntN(20*60)) * time.Minute
		if rng.IntN(8) == 0 {
			step = -time.Duration(rng.IntN(3*60)) * time.Minute // out of time order
		}
		l.t = l.t.Add(step)
		evs = append(evs, itsm.Event{Seq: int64(len(evs) + 1), Kind: l.kind, RecordID: l.id, Name: name, To: to,
			At: l.t, Tenant: l.tenant, Changes: changes})
	}
	made := 0
	for made < n || len(open) > 0 {
		if made < n && (len(open) == 0 || rng.IntN(3) == 0) {
			made++
			l := &live{kind: "incident", id: fmt.Sprintf("i%05d", made), t: base.Add(time.Duration(made) * 37 * time.Minute), left: 1 + rng.IntN(10)}
			if rng.IntN(3) == 0 {
				l.kind, l.id = "request", fmt.Sprintf("r%05d", made)
			}
			if rng.IntN(4) == 0 {
				l.tenant = "acme"
			} else if rng.IntN(3) == 0 {
				l.tenant = itsm.DefaultTenant
			}
			cs := []itsm.FieldChange{{Field: "assignment_group", To: js(groups[rng.IntN(len(groups))])},
				{Field: "priority", To: fmt.Sprint(1 + rng.IntN(4))}, {Field: "service_id", To: js("svc")}}
			if rng.IntN(2) == 0 {
				cs = append(cs, itsm.FieldChange{Field: "custom.region", To: js([]string{"emea", "apac"}[rng.IntN(2)])})
			}
			to := "new"
			if l.kind == "request" {
				to = "open"
			} else if rng.IntN(15) == 0 {
				to = []string{"resolved", "closed"}[rng.IntN(2)] // imported already resolved
			}
			emit(l, itsm.EventCreate, to, cs...)
			open = append(open, l)
			continue
		}
		i := rng.IntN(len(open))
		l := open[i]
		var cs []itsm.FieldChange
		if rng.IntN(3) == 0 {
			cs = append(cs, itsm.FieldChange{Field: "assignment_group", To: js(groups[rng.IntN(len(groups))])})
		}
		if rng.IntN(3) == 0 {
			cs = append(cs, itsm.FieldChange{Field: "assigned_to", To: js(agents[rng.IntN(len(agents))])})
		}
		to := ""
		if l.kind == "incident" {
			if rng.IntN(4) != 0 {
				to = states[rng.IntN(len(states))]
			}
			if to == "resolved" && rng.IntN(10) == 0 {
				cs = append(cs, itsm.FieldChange{Field: "resolved_at", To: "null"})
			}
		} else if rng.IntN(4) != 0 {
			to = reqStates[rng.IntN(len(reqStates))]
		}
		name := itsm.EventUpdate
		if to != "" {
			name = "move"
		}
		emit(l, name, to, cs...)
		if l.left--; l.left <= 0 {
			open = slices.Delete(open, i, i+1)
		}
	}
	return evs
}

// refSample is one measurement: its day, the group it is attributed to,
// a duration (ms) and whether it is a hit of a ratio.
type refSample struct {
	day   int32
	group string
	ms    int64
	hit   bool
}

// refKPIs computes the KPIs from the log with a plain loop per record.
func refKPIs(cfg improvement.Config, evs []itsm.Event) map[improvement.KPI][]refSample {
	out := map[improvement.KPI][]refSample{}
	day := func(t time.Time) int32 { return int32(t.Unix() / 86400) }
	ms := func(a, b time.Time) int64 { return max(0, b.UnixMicro()-a.UnixMicro()) / 1000 }
	str := func(raw string) string {
		var s string
		if json.Unmarshal([]byte(raw), &s) != nil {
			return ""
		}
		return s
	}
	byRecord := map[string][]itsm.Event{}
	var order []string
	for _, ev := range evs {
		if _, ok := byRecord[ev.RecordID]; !ok {
			order = append(order, ev.RecordID)
		}
		byRecord[ev.RecordID] = append(byRecord[ev.RecordID], ev)
	}
	tenantOK := func(t string) bool {
		if len(cfg.Tenants) == 0 {
			return true
		}
		if t == "" {
			t = itsm.DefaultTenant
		}
		return slices.Contains(cfg.Tenants, t)
	}
	isOpen := func(s string) bool { return s != "" && s != "resolved" && s != "closed" && s != "canceled" }
	for _, id := range order {
		rec := byRecord[id]
		if rec[0].Name != itsm.EventCreate || !tenantOK(rec[0].Tenant) || (cfg.Keep != nil && !cfg.Keep(&rec[0])) {
			continue
		}
		opened := rec[0].At
		if rec[0].Kind == "request" {
			group, state := "", ""
			var fulfilled *refSample
			for i, ev := range rec {
				for _, c := range ev.Changes {
					if c.Field == "assignment_group" {
						group = str(c.To)
					}
				}
				if i == 0 {
					out[improvement.RequestVolume] = append(out[improvement.RequestVolume], refSample{day: day(ev.At), group: group})
				}
				if ev.To == "" {
					continue
				}
				isF := ev.To == "closed_complete"
				if fulfilled != nil && !isF {
					fulfilled = nil
				}
				if fulfilled == nil && isF {
					fulfilled = &refSample{day: day(ev.At), group: group, ms: ms(opened, ev.At)}
				}
				state = ev.To
			}
			_ = state
			if fulfilled != nil {
				out[improvement.RequestFulfilmentTime] = append(out[improvement.RequestFulfilmentTime], *fulfilled)
			}
			continue
		}
		group, agent, state := "", "", ""
		acked, held, untimedRec := false, false, false
		reassign, agentChg, reopen := 0, 0, 0
		var final, first *refSample
		var flags [3]bool // reopened, reassigned, fcr of the final resolution
		for i, ev := range rec {
			assigned, untimed := false, false
			for _, c := range ev.Changes {
				switch c.Field {
				case "assignment_group":
					g := str(c.To)
					if group != "" && g != "" && g != group {
						reassign++
					}
					group = g
				case "assigned_to":
					a := str(c.To)
					assigned = a != ""
					if agent != "" && a != "" && a != agent {
						agentChg++
					}
					agent = a
				case "resolved_at":
					untimed = cfg.SkipUntimed && (c.To == "null" || str(c.To) == "")
				}
			}
			if i == 0 {
				out[improvement.IncidentVolume] = append(out[improvement.IncidentVolume], refSample{day: day(ev.At), group: group})
			}
			from, to := state, state
			if ev.To != "" {
				to = ev.To
			}
			if !acked && to != "canceled" && ((from == "new" && to != "new") || assigned) {
				acked = true
				out[improvement.MTTA] = append(out[improvement.MTTA], refSample{day: day(ev.At), group: group, ms: ms(opened, ev.At)})
			}
			if to == "on_hold" {
				held = true
			}
			if final != nil && (isOpen(to) || to == "canceled") {
				final = nil
				if to != "canceled" {
					reopen++
				}
			}
			resolving := to == "resolved" || (to == "closed" && from != "resolved")
			if resolving && cfg.SkipUntimed && (untimed || from == "") {
				untimedRec = true
			}
			if final == nil && !untimedRec && resolving {
				final = &refSample{day: day(ev.At), group: group, ms: ms(opened, ev.At)}
				fc := cfg.FirstContact
				flags = [3]bool{reopen > 0, reassign > 0, reassign == 0 && (fc.AllowReopen || reopen == 0) &&
					(fc.AllowHold || !held) && (!fc.SameAgent || agentChg == 0)}
				if first == nil {
					f := *final
					first = &f
				}
			}
			state = to
		}
		if first != nil {
			out[improvement.MTTRFirst] = append(out[improvement.MTTRFirst], *first)
		}
		if final != nil {
			out[improvement.MTTR] = append(out[improvement.MTTR], *final)
			for i, k := range []improvement.KPI{improvement.ReopenRate, improvement.GroupReassignmentRate, improvement.FirstContactResolution} {
				s := *final
				s.hit = flags[i]
				out[k] = append(out[k], s)
			}
		}
	}
	return out
}

// refRow is what the test compares of a result row.
type refRow struct {
	Start         time.Time
	Group         string
	Count, Hits   int64
	Mean          time.Duration
	P50, P90, P95 time.Duration
}

// refRows aggregates samples per day and group (byDay) or over the whole
// range.
func refRows(k improvement.KPI, ss []refSample, byDay bool) []refRow {
	type key struct {
		day   int32
		group string
	}
	groups := map[key][]refSample{}
	for _, s := range ss {
		kk := key{}
		if byDay {
			kk = key{s.day, s.group}
		}
		groups[kk] = append(groups[kk], s)
	}
	var rows []refRow
	for kk, g := range groups {
		r := refRow{Count: int64(len(g))}
		if byDay {
			r.Start, r.Group = time.Unix(int64(kk.day)*86400, 0).UTC(), kk.group
		}
		var sum int64
		var xs []int64
		for _, s := range g {
			sum += s.ms
			xs = append(xs, s.ms)
			if s.hit {
				r.Hits++
			}
		}
		if k.Unit() == improvement.UnitHours {
			r.Mean = time.Duration(sum/r.Count) * time.Millisecond
			if k.HasPercentiles() {
				slices.Sort(xs)
				rank := func(p int) time.Duration {
					i := max(1, min(len(xs), (p*len(xs)+99)/100))
					return time.Duration(xs[i-1]) * time.Millisecond
				}
				r.P50, r.P90, r.P95 = rank(50), rank(90), rank(95)
			}
		}
		rows = append(rows, r)
	}
	sortRef(rows)
	return rows
}

func sortRef(rows []refRow) {
	slices.SortFunc(rows, func(a, b refRow) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.Group, b.Group))
	})
}

var diffKPIs = []improvement.KPI{improvement.MTTA, improvement.MTTR, improvement.MTTRFirst, improvement.ReopenRate,
	improvement.FirstContactResolution, improvement.GroupReassignmentRate, improvement.RequestFulfilmentTime,
	improvement.IncidentVolume, improvement.RequestVolume}

// diffConfigs are the engine configurations each history is checked under.
func diffConfigs() []struct {
	name string
	cfg  improvement.Config
} {
	return []struct {
		name string
		cfg  improvement.Config
	}{
		{"defaults", improvement.Config{}},
		{"tenant acme", improvement.Config{Tenants: []string{"acme"}}},
		{"default tenant, region emea, untimed skipped", improvement.Config{Tenants: []string{itsm.DefaultTenant},
			Keep: improvement.CustomEquals("region", "emea"), SkipUntimed: true}},
		{"lenient first contact", improvement.Config{FirstContact: improvement.FirstContactRule{AllowHold: true, AllowReopen: true}}},
		{"first agent", improvement.Config{FirstContact: improvement.FirstContactRule{SameAgent: true}, SkipUntimed: true}},
	}
}

// checkDifferential applies evs to an engine under each configuration and
// compares every KPI, over the whole range and per day and group, with
// refKPIs.
func checkDifferential(t *testing.T, evs []itsm.Event) {
	t.Helper()
	for _, c := range diffConfigs() {
		e, err := improvement.NewDetached(c.cfg)
		require.NoError(t, err)
		// in uneven batches, as a store would hand them out
		for rest := evs; len(rest) > 0; {
			n := min(len(rest), 1+len(rest)%97)
			e.Apply(rest[:n])
			rest = rest[n:]
		}
		ref := refKPIs(c.cfg, evs)
		for _, k := range diffKPIs {
			for _, byDay := range []bool{false, true} {
				q := improvement.Query{KPI: k, Percentiles: k.HasPercentiles()}
				if byDay {
					q.Period, q.By = improvement.PeriodDay, []improvement.Dimension{improvement.ByGroup}
				}
				res, err := e.Compute(q)
				require.NoError(t, err)
				got := []refRow{}
				for _, r := range res.Rows {
					rr := refRow{Count: r.Count, Hits: r.Hits, Mean: r.Mean, P50: r.P50, P90: r.P90, P95: r.P95}
					if byDay {
						rr.Start, rr.Group = r.Start, r.Group
					}
					got = append(got, rr)
				}
				want := refRows(k, ref[k], byDay)
				if want == nil {
					want = []refRow{}
				}
				require.Equal(t, want, got, "%s: %s (by day %v)", c.name, k, byDay)
			}
		}
	}
}

func TestDifferentialAgainstPlainLoop(t *testing.T) {
	seeds := 300
	if testing.Short() {
		seeds = 40
	}
	// what the histories held, so the comparison is known to cover it
	var reopenAfterClose, holds, regroup, backwards, unknownState int
	for seed := range uint64(seeds) {
		evs := messyLog(seed, 5+int(seed%60))
		state, group, at := map[string]string{}, map[string]string{}, map[string]time.Time{}
		for _, ev := range evs {
			if ev.To == "in_progress" && state[ev.RecordID] == "closed" {
				reopenAfterClose++
			}
			if ev.To == "on_hold" {
				holds++
			}
			if ev.To == "awaiting_vendor" {
				unknownState++
			}
			for _, c := range ev.Changes {
				if c.Field == "assignment_group" && group[ev.RecordID] != "" && c.To != group[ev.RecordID] && c.To != `""` {
					regroup++
				}
				if c.Field == "assignment_group" {
					group[ev.RecordID] = c.To
				}
			}
			if ev.At.Before(at[ev.RecordID]) {
				backwards++
			}
			if ev.To != "" {
				state[ev.RecordID] = ev.To
			}
			at[ev.RecordID] = ev.At
		}
		t.Run(fmt.Sprint(seed), func(t *testing.T) { checkDifferential(t, evs) })
	}
	t.Logf("%d histories: %d reopens after close, %d holds, %d group reassignments, %d events back in time, %d events into a state the defaults lack",
		seeds, reopenAfterClose, holds, regroup, backwards, unknownState)
	for name, n := range map[string]int{"reopens after close": reopenAfterClose, "holds": holds,
		"reassignments": regroup, "events back in time": backwards, "unknown states": unknownState} {
		require.Positive(t, n, name)
	}
}

// FuzzDifferential drives the generator with the fuzzer's seed and size.
func FuzzDifferential(f *testing.F) {
	for _, s := range []uint64{1, 7, 42, 1 << 40} {
		f.Add(s, uint8(30))
	}
	f.Fuzz(func(t *testing.T, seed uint64, n uint8) {
		checkDifferential(t, messyLog(seed, int(n%120)))
	})
}
