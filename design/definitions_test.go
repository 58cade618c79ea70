package design_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/design/calendar"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// newRecordFixture is a fixture whose engine declares no definitions in
// code: they are all kept as records (SaveDefinition, SaveCalendar).
func newRecordFixture(t testing.TB, store storage.Backend) fixture {
	t.Helper()
	unused := resolutionSLA() // the fixture's code engine seeds it; this engine runs the records
	unused.ID, unused.Kind = "unused", "problem"
	f := newFixtureOn(t, store, unused)
	eng, err := design.NewEngine(context.Background(), store, design.EngineConfig{Name: "records",
		Calendars: []*calendar.Calendar{officeHours(t)}, Clock: f.clock})
	require.NoError(t, err)
	f.engine = eng
	return f
}

// plantSpec is a calendar record: weekdays from..to o'clock, UTC.
func plantSpec(from, to int) calendar.Spec {
	day := []string{fmt.Sprintf("%02d:00-%02d:00", from, to)}
	return calendar.Spec{Name: "plant", TimeZone: "UTC", FromYear: 2020, ToYear: 2030,
		Hours: map[string][]string{"mon": day, "tue": day, "wed": day, "thu": day, "fri": day}}
}

// plantSLA is the resolution definition on the plant calendar; with
// strict, every hold pauses it and its targets are doubled.
func plantSLA(strict bool) design.Definition {
	d := resolutionSLA()
	d.Calendar = "plant"
	if strict {
		d.Pause = []design.PauseRule{{State: "on_hold"}}
		d.Targets = map[int]time.Duration{1: 8 * time.Hour, 2: 16 * time.Hour, 3: 48 * time.Hour}
	}
	return d
}

func TestRetiredAndRenamedDefinitionsKeepClocksRunning(t *testing.T) {
	f := newFixture(t)
	ctx := as(agent)
	inc := &incident{ShortDescription: "mail down", Priority: 1}
	require.NoError(t, f.incidents.Create(ctx, inc, storage.Command{}))
	f.sync(t)

	renamed := resolutionSLA()
	renamed.Name = "Resolve incidents (gold)"
	rec, n, err := f.engine.SaveDefinition(ctx, renamed, design.KeepVersion, storage.Command{Reason: "rename"})
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, int64(2), rec.Version, "seeded as version 1, renamed as version 2")
	_, err = f.engine.RetireDefinition(ctx, "resolution", storage.Command{Reason: "replaced"})
	require.NoError(t, err)
	hist, err := f.engine.DefinitionRecords().History(ctx, rec.ID)
	require.NoError(t, err)
	assert.Len(t, hist, 3, "seed, rename and retire are audited")

	// An engine whose code no longer declares it still checks the clock.
	bare, err := design.NewEngine(context.Background(), f.store, design.EngineConfig{Name: "bare",
		Calendars: []*calendar.Calendar{officeHours(t)}, Clock: f.clock})
	require.NoError(t, err)
	due, _, err := bare.Due(ctx, monday.Add(3*time.Hour), storage.Paging{Limit: 10})
	require.NoError(t, err)
	require.Len(t, due, 1)
	n, err = bare.Check(ctx, monday.Add(5*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	c := f.clockOf(t, inc.ID, "resolution")
	assert.Equal(t, int64(1), c.DefinitionVersion, "the clock keeps the version it started under")
	assert.True(t, c.Breached)

	// The retired definition moves its running clock on, and starts none.
	f.fire(t, inc.ID, "resolve", nil)
	_, err = bare.Sync(context.Background())
	require.NoError(t, err)
	assert.Equal(t, design.StageCompleted, f.clockOf(t, inc.ID, "resolution").State)
	other := &incident{ShortDescription: "printer", Priority: 1}
	require.NoError(t, f.incidents.Create(ctx, other, storage.Command{}))
	_, err = bare.Sync(context.Background())
	require.NoError(t, err)
	_, err = f.engine.Clocks().Get(ctx, design.ClockID("incident", other.ID, "resolution"))
	assert.ErrorIs(t, err, itsm.ErrNotFound)
}

func TestKeepOrRecomputeOnDefinitionChange(t *testing.T) {
	for _, policy := range []design.ClockPolicy{design.KeepVersion, design.RecomputeClocks} {
		t.Run(string(policy), func(t *testing.T) {
			f := newRecordFixture(t, memory.New())
			ctx := as(agent)
			_, _, err := f.engine.SaveCalendar(ctx, plantSpec(9, 17), design.KeepVersion, storage.Command{})
			require.NoError(t, err)
			_, _, err = f.engine.SaveDefinition(ctx, plantSLA(false), design.KeepVersion, storage.Command{})
			require.NoError(t, err)
			inc := &incident{ShortDescription: "mail down", Priority: 1}
			require.NoError(t, f.incidents.Create(ctx, inc, storage.Command{}))
			f.sync(t)
			f.clock.Set(monday.Add(time.Hour))
			f.fire(t, inc.ID, "hold", func(x *incident) error { x.HoldReason = "awaiting_change"; return nil })
			f.sync(t)
			f.clock.Set(monday.Add(2 * time.Hour))
			_, n, err := f.engine.SaveDefinition(ctx, plantSLA(true), policy, storage.Command{Reason: "stricter pause, longer targets"})
			require.NoError(t, err)
			c := f.clockOf(t, inc.ID, "resolution")
			if policy == design.KeepVersion {
				assert.Zero(t, n)
				assert.Equal(t, int64(1), c.DefinitionVersion)
				assert.Equal(t, design.StageInProgress, c.State, "awaiting_change does not pause version 1")
				assert.Equal(t, 4*time.Hour, c.Target)
				return
			}
			assert.Equal(t, 1, n)
			assert.Equal(t, int64(2), c.DefinitionVersion)
			assert.Equal(t, design.StagePaused, c.State, "version 2 pauses on every hold, from the hold on")
			assert.Equal(t, time.Hour, c.ElapsedBefore, "the hour before the hold is kept")
			assert.Equal(t, 8*time.Hour, c.Target)
			// New clocks start under version 2 either way.
			other := &incident{ShortDescription: "printer", Priority: 2}
			require.NoError(t, f.incidents.Create(ctx, other, storage.Command{}))
			f.sync(t)
			assert.Equal(t, 16*time.Hour, f.clockOf(t, other.ID, "resolution").Target)
		})
	}
}

func TestConditionsOnTenantAndCustomFields(t *testing.T) {
	dict, err := storage.ParseDictionary([]byte(`{"kinds": {"incident": {"fields": [{"name": "region", "type": "string"}]}}}`))
	require.NoError(t, err)
	store := memory.New()
	f := newFixtureOn(t, store)
	eng, err := design.NewEngine(context.Background(), store, design.EngineConfig{Name: "custom", Dictionary: dict,
		Calendars: []*calendar.Calendar{officeHours(t)}, Clock: f.clock})
	require.NoError(t, err)
	d := resolutionSLA()
	d.Conditions = []design.Condition{{Field: "custom.region", Values: []string{"emea"}}, {Field: design.FieldTenant, Values: []string{itsm.DefaultTenant}}}
	_, _, err = eng.SaveDefinition(as(agent), d, design.KeepVersion, storage.Command{})
	require.NoError(t, err)
	// The incident fixture has no Custom member: write the custom.region
	// change as the custom-fields code does, in the event log.
	type regional struct {
		incident
		Custom itsm.Values `json:"custom,omitempty"`
	}
	coll := storage.NewCollection[regional]("incident").WithDictionary(dict)
	m, err := itsm.NewLifecycle[*regional]("incident").Initial("new").Final("closed").Event("close", "closed", "new").Compile()
	require.NoError(t, err)
	recs, err := storage.NewRecords(store, coll, m, storage.RecordsConfig{Clock: f.clock})
	require.NoError(t, err)
	for _, region := range []string{"emea", "apac"} {
		r := &regional{incident: incident{ShortDescription: region, Priority: 1}}
		r.Custom.SetString("region", region)
		require.NoError(t, recs.Create(as(agent), r, storage.Command{}))
		_, err = eng.Sync(context.Background())
		require.NoError(t, err)
		_, err = eng.Clocks().Get(as(agent), design.ClockID("incident", r.ID, "resolution"))
		if region == "emea" {
			assert.NoError(t, err, "the definition runs on emea")
		} else {
			assert.ErrorIs(t, err, itsm.ErrNotFound, "and not on apac")
		}
	}
}

func TestDefinitionsPerTenant(t *testing.T) {
	f := newRecordFixture(t, memory.New())
	acme, globex := itsm.WithTenant(as(agent), "acme"), itsm.WithTenant(as(agent), "globex")
	_, _, err := f.engine.SaveDefinition(acme, resolutionSLA(), design.KeepVersion, storage.Command{})
	require.NoError(t, err)
	strict := resolutionSLA()
	strict.Targets = map[int]time.Duration{1: time.Hour}
	_, _, err = f.engine.SaveDefinition(globex, strict, design.KeepVersion, storage.Command{})
	require.NoError(t, err)
	for _, tc := range []struct {
		tenant string
		ctx    context.Context
		target time.Duration
	}{{"acme", acme, 4 * time.Hour}, {"globex", globex, time.Hour}} {
		inc := &incident{ShortDescription: "x", Priority: 1}
		require.NoError(t, f.incidents.Create(tc.ctx, inc, storage.Command{}))
		_, err := f.engine.Sync(itsm.WithTenant(context.Background(), tc.tenant))
		require.NoError(t, err)
		c, err := f.engine.Clocks().Get(tc.ctx, design.ClockID("incident", inc.ID, "resolution"))
		require.NoError(t, err)
		assert.Equal(t, tc.target, c.Target)
	}
}

// referenceRules are the rules a mid-clock change switches between in
// the extended minute-stepping reference.
type referenceRules struct {
	from, to  int  // working hours, weekdays
	pauseAll  bool // every hold pauses, not only those awaiting the caller or a vendor
	targetMul time.Duration
}

// referenceElapsedUnder is referenceElapsed under other rules.
func referenceElapsedUnder(start time.Time, steps []step, target time.Duration, r referenceRules) (time.Duration, time.Time, bool) {
	type point struct {
		at          time.Time
		state, hold string
	}
	points := []point{{start, "new", ""}}
	state, hold := "new", ""
	for _, s := range steps {
		switch s.event {
		case "start", "resume", "reopen":
			state, hold = "in_progress", ""
		case "hold":
			state, hold = "on_hold", s.hold
		case "resolve":
			state, hold = "resolved", ""
		case "close":
			state = "closed"
		case "cancel":
			state = "canceled"
		}
		points = append(points, point{s.at, state, hold})
	}
	end := points[len(points)-1].at
	target *= r.targetMul
	var total time.Duration
	var due time.Time
	breached := false
	for m := start; m.Before(end); m = m.Add(time.Minute) {
		i := len(points) - 1
		for points[i].at.After(m) {
			i--
		}
		p := points[i]
		runs := p.state == "new" || p.state == "in_progress" || (p.state == "on_hold" && p.hold == "awaiting_change" && !r.pauseAll)
		if runs && !due.IsZero() && !m.Before(due) {
			breached = true
		}
		wd := m.Weekday()
		if runs && wd != time.Saturday && wd != time.Sunday && m.Hour() >= r.from && m.Hour() < r.to {
			total += time.Minute
			if total == target {
				due = m.Add(time.Minute)
			}
		}
	}
	return total, end, breached
}

// TestEngineAgainstReferenceWithChanges extends the minute-stepping
// reference to a definition or calendar change in the middle of a clock,
// live and imported with backdated times, kept or recomputed: a kept
// change leaves the clock under the old rules, a recompute puts a running
// clock under the new ones from its start (a stopped clock keeps its
// version, and so the old rules when it reopens). 60 histories per
// variant by default, 600 with PILLARS_SCALE=1.
func TestEngineAgainstReferenceWithChanges(t *testing.T) {
	n := 60
	if testing.Short() {
		n = 15
	}
	if os.Getenv("PILLARS_SCALE") == "1" {
		n = 600
	}
	old := referenceRules{from: 9, to: 17, targetMul: 1}
	checked := 0
	for i := range n {
		for _, change := range []string{"definition", "calendar"} {
			for _, policy := range []design.ClockPolicy{design.KeepVersion, design.RecomputeClocks} {
				for _, imported := range []bool{false, true} {
					r := rand.New(rand.NewPCG(uint64(i), 0x5ca1e))
					start, priority, steps := randomHistory(r)
					at := r.IntN(len(steps) + 1) // the change comes before step at
					f := newRecordFixture(t, memory.New())
					ctx, cmdAt := as(agent), func(time.Time) storage.Command { return storage.Command{} }
					if imported {
						ctx = as(importer)
						f.clock.Set(start.Add(200 * 24 * time.Hour))
						cmdAt = func(at time.Time) storage.Command { return storage.Command{At: at} }
					} else {
						f.clock.Set(start)
					}
					_, _, err := f.engine.SaveCalendar(as(agent), plantSpec(9, 17), design.KeepVersion, storage.Command{})
					require.NoError(t, err)
					_, _, err = f.engine.SaveDefinition(as(agent), plantSLA(false), design.KeepVersion, storage.Command{})
					require.NoError(t, err)
					inc := &incident{ShortDescription: "random", Priority: priority}
					require.NoError(t, f.incidents.Create(ctx, inc, cmdAt(start)))
					f.sync(t)
					stoppedAtChange := false
					applyChange := func() {
						// The clocks as the engine has them when the admin
						// saves: a recompute takes the clocks running then.
						f.sync(t)
						var err error
						if change == "definition" {
							_, _, err = f.engine.SaveDefinition(as(agent), plantSLA(true), policy, storage.Command{})
						} else {
							_, _, err = f.engine.SaveCalendar(as(agent), plantSpec(8, 18), policy, storage.Command{})
						}
						require.NoError(t, err)
					}
					for k, s := range steps {
						if k == at {
							stoppedAtChange = k > 0 && slices.Contains([]string{"resolve", "close", "cancel"}, steps[k-1].event)
							applyChange()
						}
						if !imported {
							f.clock.Set(s.at)
						}
						var err error
						if s.change {
							_, err = f.incidents.Change(ctx, inc.ID, cmdAt(s.at), func(x *incident) error { x.AssignmentGroup = s.group; return nil })
						} else {
							_, err = f.incidents.Fire(ctx, inc.ID, s.event, cmdAt(s.at), func(x *incident) error { x.HoldReason = s.hold; return nil })
						}
						require.NoError(t, err)
						if r.IntN(3) == 0 {
							f.sync(t)
						}
					}
					if at == len(steps) {
						stoppedAtChange = len(steps) > 0 && slices.Contains([]string{"resolve", "close", "cancel"}, steps[len(steps)-1].event)
						f.sync(t)
						applyChange()
					}
					f.sync(t)
					rules := old
					if policy == design.RecomputeClocks && !stoppedAtChange {
						if change == "definition" {
							rules.pauseAll, rules.targetMul = true, 2
						} else {
							rules.from, rules.to = 8, 18
						}
					}
					c := f.clockOf(t, inc.ID, "resolution")
					want, end, breached := referenceElapsedUnder(start, steps, plantSLA(false).Targets[priority], rules)
					msg := fmt.Sprintf("case %d %s %s imported=%v change before step %d steps %+v", i, change, policy, imported, at, steps)
					require.Equal(t, want, c.BusinessElapsed, msg)
					require.Equal(t, end, c.EvaluatedAt, msg)
					require.Equal(t, breached, c.Breached, msg)
					require.NoError(t, f.engine.Clocks().Verify(as(agent), c.ID))
					checked++
				}
			}
		}
	}
	t.Logf("%d clocks with a definition or calendar change mid-clock agree with the reference", checked)
}

// TestRecomputeEqualsReplayFromScratch: for random histories and random
// new versions of the definition (targets, pause rules, warnings, reset on
// reopen, calendar hours), a clock recomputed under the new version equals
// the clock of an engine that ran under it from the start.
func TestRecomputeEqualsReplayFromScratch(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 40
	}
	compared := 0
	for i := range n {
		r := rand.New(rand.NewPCG(uint64(i), 0xbeef))
		start, priority, steps := randomHistory(r)
		steps = steps[:r.IntN(len(steps)+1)] // cut short, so that more clocks still run
		v2 := plantSLA(false)
		v2.Targets = map[int]time.Duration{}
		for p := 1; p <= 3; p++ {
			v2.Targets[p] = time.Duration(1+r.IntN(40)) * 30 * time.Minute
		}
		switch r.IntN(3) {
		case 0:
			v2.Pause = []design.PauseRule{{State: "on_hold"}}
		case 1:
			v2.Pause = []design.PauseRule{}
		}
		v2.Warnings = [][]int{nil, {25, 50}, {80}}[r.IntN(3)]
		v2.ResetOnReopen = r.IntN(2) == 0
		hours := plantSpec(9, 17)
		if r.IntN(2) == 0 {
			hours = plantSpec(7, 19)
		}
		play := func(f fixture, changeLater bool) *design.SLAClock {
			f.clock.Set(start)
			_, _, err := f.engine.SaveCalendar(as(agent), plantSpec(9, 17), design.KeepVersion, storage.Command{})
			require.NoError(t, err)
			first := v2
			if changeLater {
				first = plantSLA(false)
			} else {
				_, _, err = f.engine.SaveCalendar(as(agent), hours, design.KeepVersion, storage.Command{})
				require.NoError(t, err)
			}
			_, _, err = f.engine.SaveDefinition(as(agent), first, design.KeepVersion, storage.Command{})
			require.NoError(t, err)
			inc := &incident{ShortDescription: "random", Priority: priority}
			require.NoError(t, f.incidents.Create(as(agent), inc, storage.Command{}))
			f.sync(t)
			for _, s := range steps {
				f.clock.Set(s.at)
				var err error
				if s.change {
					_, err = f.incidents.Change(as(agent), inc.ID, storage.Command{}, func(x *incident) error { x.AssignmentGroup = s.group; return nil })
				} else {
					_, err = f.incidents.Fire(as(agent), inc.ID, s.event, storage.Command{}, func(x *incident) error { x.HoldReason = s.hold; return nil })
				}
				require.NoError(t, err)
				f.sync(t)
			}
			if changeLater {
				_, _, err = f.engine.SaveCalendar(as(agent), hours, design.KeepVersion, storage.Command{})
				require.NoError(t, err)
				_, _, err = f.engine.SaveDefinition(as(agent), v2, design.RecomputeClocks, storage.Command{})
				require.NoError(t, err)
				// The recompute's events chain onto the clock's history.
				require.NoError(t, f.engine.Clocks().Verify(as(agent), design.ClockID("incident", inc.ID, "resolution")))
			}
			c, err := f.engine.Clocks().Get(as(agent), design.ClockID("incident", inc.ID, "resolution"))
			require.NoError(t, err)
			return c
		}
		recomputed := play(newRecordFixture(t, memory.New()), true)
		if recomputed.State != design.StageInProgress && recomputed.State != design.StagePaused {
			continue // a stopped clock keeps its version: nothing to compare
		}
		scratch := play(newRecordFixture(t, memory.New()), false)
		msg := fmt.Sprintf("case %d v2 %+v steps %+v", i, v2, steps)
		type view struct {
			State                             string
			Target, ElapsedBefore, Elapsed    time.Duration
			Start, Stop, Running, Paused, Due time.Time
			Next, Evaluated, BreachedAt       time.Time
			Warnings                          []int
			Breached                          bool
			Resets                            int
			Percentage                        float64
		}
		v := func(c *design.SLAClock) view {
			return view{c.State, c.Target, c.ElapsedBefore, c.BusinessElapsed, c.StartTime, c.StopTime, c.RunningSince, c.PausedAt, c.DueAt,
				c.NextCheckAt, c.EvaluatedAt, c.BreachedAt, c.Warnings, c.Breached, c.ResetCount, c.Percentage}
		}
		require.Equal(t, v(scratch), v(recomputed), msg)
		compared++
	}
	require.Positive(t, compared)
	t.Logf("%d of %d random histories had a running clock to recompute; each equals the replay from scratch", compared, n)
}

// TestRecomputeOnEveryStore recomputes 1,100 running clocks (three units
// of work, run side by side) on each store: every clock ends under the new
// version with the new target.
func TestRecomputeOnEveryStore(t *testing.T) {
	n := 1100
	if testing.Short() {
		n = 600
	}
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			f := newRecordFixture(t, open())
			ctx := as(agent)
			_, _, err := f.engine.SaveDefinition(ctx, resolutionSLA(), design.KeepVersion, storage.Command{})
			require.NoError(t, err)
			for range n {
				require.NoError(t, f.incidents.Create(ctx, &incident{ShortDescription: "x", Priority: 1}, storage.Command{}))
			}
			f.sync(t)
			d := resolutionSLA()
			d.Targets[1] = 6 * time.Hour
			_, got, err := f.engine.SaveDefinition(ctx, d, design.RecomputeClocks, storage.Command{})
			require.NoError(t, err)
			assert.Equal(t, n, got)
			clocks, _, err := f.engine.Clocks().Query(ctx, storage.Query{Limit: storage.MaxLimit})
			require.NoError(t, err)
			for i, c := range clocks {
				require.Equal(t, int64(2), c.DefinitionVersion)
				require.Equal(t, 6*time.Hour, c.Target)
				if i < 20 { // the recompute's events chain onto each clock's history on every store
					require.NoError(t, f.engine.Clocks().Verify(ctx, c.ID))
				}
			}
		})
	}
}
