package design_test

import (
	"context"
	"errors"
	"strings"
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

// incident is the part of the operation pillar's incident the engine reads,
// with the field names the pillars agreed on.
type incident struct {
	itsm.Record
	ShortDescription string `json:"short_description"`
	Priority         int    `json:"priority"`
	ServiceID        string `json:"service_id,omitempty"`
	AssignmentGroup  string `json:"assignment_group,omitempty"`
	HoldReason       string `json:"hold_reason,omitempty"`
	Major            bool   `json:"major,omitempty"`
	CallerID         string `json:"caller_id,omitempty"`
	AssignedTo       string `json:"assigned_to,omitempty"`
	Comments         []note `json:"comments,omitempty"`
	WorkNotes        []note `json:"work_notes,omitempty"`
}

// note is a journal entry of the fixture's incident, as operation.Note.
type note struct {
	At     time.Time `json:"at"`
	Author string    `json:"author"`
	Text   string    `json:"text"`
}

var (
	agent    = itsm.Actor{ID: "ann", Roles: []string{"agent"}}
	importer = itsm.Actor{ID: "migrator", Roles: []string{itsm.RoleImporter}}
	monday   = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC) // a Monday
)

func as(a itsm.Actor) context.Context { return itsm.WithActor(context.Background(), a) }

type fixture struct {
	store     storage.Backend
	clock     *itsm.FakeClock
	incidents *storage.Records[incident, *incident]
	engine    *design.Engine
}

func officeHours(t testing.TB) *calendar.Calendar {
	t.Helper()
	var week [7][]calendar.Range
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []calendar.Range{{Start: 9 * 60, End: 17 * 60}}
	}
	c, err := calendar.Compile(calendar.Config{Name: "office", Week: week, FromYear: 2020, ToYear: 2030})
	require.NoError(t, err)
	return c
}

func resolutionSLA() design.Definition {
	return design.Definition{ID: "resolution", Name: "Resolve incidents", Type: design.SLA, Metric: design.Resolution,
		Kind: "incident", Calendar: "office",
		Targets: map[int]time.Duration{1: 4 * time.Hour, 2: 8 * time.Hour, 3: 24 * time.Hour}}
}

func newFixture(t testing.TB, defs ...design.Definition) fixture {
	t.Helper()
	return newFixtureOn(t, memory.New(), defs...)
}

// newFixtureOn builds the fixture on any backend: the engine has no
// adapter-specific code.
func newFixtureOn(t testing.TB, store storage.Backend, defs ...design.Definition) fixture {
	t.Helper()
	ctx := context.Background()
	m, err := itsm.NewLifecycle[*incident]("incident").
		Initial("new").States("in_progress", "on_hold", "resolved").Final("closed", "canceled").
		Event("start", "in_progress", "new").
		Event("hold", "on_hold", "new", "in_progress").
		Event("resume", "in_progress", "on_hold").
		Event("resolve", "resolved", "new", "in_progress", "on_hold").
		Event("reopen", "in_progress", "resolved").
		Event("close", "closed", "resolved").
		Event("cancel", "canceled", "new", "in_progress", "on_hold").
		Compile()
	require.NoError(t, err)
	coll := storage.NewCollection[incident]("incident")
	require.NoError(t, coll.Register(ctx, store))
	clock := itsm.NewFakeClock(monday)
	recs, err := storage.NewRecords(store, coll, m, storage.RecordsConfig{Prefix: "INC", Clock: clock})
	require.NoError(t, err)
	if len(defs) == 0 {
		defs = []design.Definition{resolutionSLA()}
	}
	eng, err := design.NewEngine(ctx, store, design.EngineConfig{Definitions: defs,
		Calendars: []*calendar.Calendar{officeHours(t)}, Clock: clock})
	require.NoError(t, err)
	return fixture{store: store, clock: clock, incidents: recs, engine: eng}
}

func (f fixture) fire(t testing.TB, id, event string, mutate func(*incident) error) {
	t.Helper()
	_, err := f.incidents.Fire(as(agent), id, event, storage.Command{}, mutate)
	require.NoError(t, err)
}

func (f fixture) sync(t testing.TB) {
	t.Helper()
	_, err := f.engine.Sync(context.Background())
	require.NoError(t, err)
}

func (f fixture) clockOf(t testing.TB, id, def string) *design.SLAClock {
	t.Helper()
	c, err := f.engine.Clocks().Get(as(agent), design.ClockID("incident", id, def))
	require.NoError(t, err)
	return c
}

func TestClockRunsPausesAndCompletes(t *testing.T) {
	f := newFixture(t)
	inc := &incident{ShortDescription: "mail down", Priority: 1, AssignmentGroup: "messaging"}
	require.NoError(t, f.incidents.Create(as(agent), inc, storage.Command{}))
	f.sync(t)
	c := f.clockOf(t, inc.ID, "resolution")
	assert.Equal(t, design.StageInProgress, c.State)
	assert.Equal(t, 4*time.Hour, c.Target)
	assert.Equal(t, monday.Add(4*time.Hour), c.DueAt)
	assert.Equal(t, monday.Add(2*time.Hour), c.NextCheckAt, "first check is the 50% warning")

	// Two hours later the 50% warning is due, and only that.
	f.clock.Advance(2 * time.Hour)
	due, _, err := f.engine.Due(context.Background(), f.clock.Now(), storage.Paging{Limit: 10})
	require.NoError(t, err)
	require.Len(t, due, 1)
	n, err := f.engine.Check(context.Background(), f.clock.Now())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	c = f.clockOf(t, inc.ID, "resolution")
	assert.Equal(t, []int{50}, c.Warnings)
	assert.InDelta(t, 50.0, c.Percentage, 0.001)
	assert.Equal(t, monday.Add(3*time.Hour), c.NextCheckAt)

	// On hold awaiting the caller overnight: paused, no time counts.
	f.fire(t, inc.ID, "hold", func(i *incident) error { i.HoldReason = "awaiting_caller"; return nil })
	f.sync(t)
	assert.Equal(t, design.StagePaused, f.clockOf(t, inc.ID, "resolution").State)
	f.clock.Set(monday.Add(24 * time.Hour)) // Tuesday 09:00
	n, err = f.engine.Check(context.Background(), f.clock.Now())
	require.NoError(t, err)
	assert.Zero(t, n, "a paused clock is never due")
	f.fire(t, inc.ID, "resume", func(i *incident) error { i.HoldReason = ""; return nil })
	f.sync(t)
	c = f.clockOf(t, inc.ID, "resolution")
	assert.Equal(t, design.StageInProgress, c.State)
	assert.Equal(t, 2*time.Hour, c.ElapsedBefore)
	assert.Equal(t, monday.Add(26*time.Hour), c.DueAt, "Tuesday 11:00")

	// Resolved at Tuesday 10:30: met, 87.5 %.
	f.clock.Advance(90 * time.Minute)
	f.fire(t, inc.ID, "resolve", nil)
	f.sync(t)
	c = f.clockOf(t, inc.ID, "resolution")
	assert.Equal(t, design.StageCompleted, c.State)
	assert.Equal(t, 3*time.Hour+30*time.Minute, c.BusinessElapsed)
	assert.InDelta(t, 87.5, c.Percentage, 0.001)
	assert.Equal(t, []int{50, 75}, c.Warnings)
	assert.False(t, c.Breached)
	assert.True(t, c.NextCheckAt.IsZero())

	// Every clock event is chained to the clock.
	require.NoError(t, f.engine.Clocks().Verify(as(agent), c.ID))
	hist, err := f.engine.Clocks().History(as(agent), c.ID)
	require.NoError(t, err)
	var names []string
	for _, ev := range hist {
		names = append(names, ev.Name)
	}
	assert.Equal(t, []string{"create", "update", "pause", "resume", "complete"}, names)
}

func TestBreach(t *testing.T) {
	f := newFixture(t)
	inc := &incident{ShortDescription: "vpn down", Priority: 1}
	require.NoError(t, f.incidents.Create(as(agent), inc, storage.Command{}))
	f.sync(t)
	soon, _, err := f.engine.BreachingSoon(context.Background(), f.clock.Now(), 5*time.Hour, storage.Paging{Limit: 10})
	require.NoError(t, err)
	assert.Equal(t, []string{inc.ID}, soon)
	soon, _, err = f.engine.BreachingSoon(context.Background(), f.clock.Now(), time.Hour, storage.Paging{Limit: 10})
	require.NoError(t, err)
	assert.Empty(t, soon)

	ids, next, err := f.engine.BreachingBefore(context.Background(), "incident", monday.Add(4*time.Hour), storage.Paging{Limit: 10})
	require.NoError(t, err)
	assert.Equal(t, []string{inc.ID}, ids)
	assert.Empty(t, next)
	ids, _, err = f.engine.BreachingBefore(context.Background(), "incident", monday.Add(4*time.Hour-time.Second), storage.Paging{Limit: 10})
	require.NoError(t, err)
	assert.Empty(t, ids)
	ids, _, err = f.engine.BreachingBefore(context.Background(), "change", monday.Add(100*time.Hour), storage.Paging{Limit: 10})
	require.NoError(t, err)
	assert.Empty(t, ids, "another kind")
	_, _, err = f.engine.BreachingBefore(context.Background(), "", monday, storage.Paging{Limit: 10})
	assert.ErrorIs(t, err, itsm.ErrInvalid)

	f.clock.Advance(6 * time.Hour) // Monday 15:00, due was 13:00
	_, err = f.engine.Check(context.Background(), f.clock.Now())
	require.NoError(t, err)
	c := f.clockOf(t, inc.ID, "resolution")
	assert.True(t, c.Breached)
	assert.Equal(t, monday.Add(4*time.Hour), c.BreachedAt)
	assert.Equal(t, []int{50, 75, 90}, c.Warnings)
	assert.True(t, c.NextCheckAt.IsZero(), "nothing left to check")
	due, _, err := f.engine.Due(context.Background(), f.clock.Now().Add(1000*time.Hour), storage.Paging{Limit: 10})
	require.NoError(t, err)
	assert.Empty(t, due)
	ids, _, err = f.engine.BreachingBefore(context.Background(), "incident", f.clock.Now(), storage.Paging{Limit: 10})
	require.NoError(t, err)
	assert.Equal(t, []string{inc.ID}, ids, "overdue clocks stay in the queue until they stop")
}

// The same history imported with backdated times gives the same clock as
// when it was lived.
func TestImportedHistoryMatchesLive(t *testing.T) {
	live := newFixture(t)
	inc := &incident{ShortDescription: "db slow", Priority: 2}
	require.NoError(t, live.incidents.Create(as(agent), inc, storage.Command{}))
	live.clock.Advance(3 * time.Hour)
	live.fire(t, inc.ID, "hold", func(i *incident) error { i.HoldReason = "awaiting_vendor"; return nil })
	live.clock.Advance(20 * time.Hour)
	live.fire(t, inc.ID, "resume", func(i *incident) error { i.HoldReason = ""; return nil })
	live.clock.Advance(7 * time.Hour) // Tuesday 15:00 + ... past due
	live.fire(t, inc.ID, "resolve", nil)
	live.sync(t) // one Sync at the end: the engine catches up
	want := live.clockOf(t, inc.ID, "resolution")

	imp := newFixture(t)
	imp.clock.Set(monday.Add(30 * 24 * time.Hour))
	rec := &incident{ShortDescription: "db slow", Priority: 2}
	ctx := as(importer)
	require.NoError(t, imp.incidents.Create(ctx, rec, storage.Command{At: monday}))
	imp.sync(t) // the engine sees the record half imported
	_, err := imp.engine.Check(context.Background(), imp.clock.Now())
	require.NoError(t, err)
	steps := []struct {
		at    time.Duration
		event string
		hold  string
	}{{3 * time.Hour, "hold", "awaiting_vendor"}, {23 * time.Hour, "resume", ""}, {30 * time.Hour, "resolve", ""}}
	for _, s := range steps {
		_, err := imp.incidents.Fire(ctx, rec.ID, s.event, storage.Command{At: monday.Add(s.at)}, func(i *incident) error {
			i.HoldReason = s.hold
			return nil
		})
		require.NoError(t, err)
		imp.sync(t)
	}
	got := imp.clockOf(t, rec.ID, "resolution")
	assert.Equal(t, design.StageCompleted, got.State)
	for _, c := range []*design.SLAClock{want, got} {
		// Monday 09-12 = 3h, then on hold until Tuesday 08:00, then 08:00-15:00 counts 09-15 = 6h.
		assert.Equal(t, 9*time.Hour, c.BusinessElapsed)
		assert.True(t, c.Breached)
		assert.Equal(t, monday.Add(24*time.Hour+5*time.Hour), c.BreachedAt, "8h target met at Tuesday 14:00")
	}
	assert.Equal(t, want.Warnings, got.Warnings)
	assert.Equal(t, want.StartTime, got.StartTime)
	assert.Equal(t, want.StopTime, got.StopTime)
}

func TestReopenResumesOrResets(t *testing.T) {
	resume := resolutionSLA()
	reset := resolutionSLA()
	reset.ID, reset.ResetOnReopen = "resolution-reset", true
	reset.Type = design.OLA // side by side with resume: overlapping SLAs are refused
	f := newFixture(t, resume, reset)
	inc := &incident{ShortDescription: "printer", Priority: 1}
	require.NoError(t, f.incidents.Create(as(agent), inc, storage.Command{}))
	f.clock.Advance(time.Hour)
	f.fire(t, inc.ID, "resolve", nil)
	f.clock.Advance(time.Hour)
	f.fire(t, inc.ID, "reopen", nil)
	f.clock.Advance(time.Hour)
	f.sync(t)
	_, err := f.engine.Check(context.Background(), f.clock.Now())
	require.NoError(t, err)

	a := f.clockOf(t, inc.ID, "resolution")
	assert.Equal(t, design.StageInProgress, a.State)
	assert.Equal(t, time.Hour, a.ElapsedBefore)
	assert.Equal(t, monday.Add(5*time.Hour), a.DueAt, "1h used, 3h left from the 11:00 reopen")
	b := f.clockOf(t, inc.ID, "resolution-reset")
	assert.Equal(t, time.Duration(0), b.ElapsedBefore)
	assert.Equal(t, 1, b.ResetCount)
	assert.Equal(t, monday.Add(6*time.Hour), b.DueAt)
	assert.Equal(t, monday.Add(2*time.Hour), b.StartTime)
}

func TestConditionsStartAndCancel(t *testing.T) {
	p1 := resolutionSLA()
	p1.ID, p1.Priorities, p1.Services = "p1-email", []int{1}, []string{"email"}
	f := newFixture(t, p1)
	inc := &incident{ShortDescription: "slow mail", Priority: 3, ServiceID: "email"}
	require.NoError(t, f.incidents.Create(as(agent), inc, storage.Command{}))
	f.sync(t)
	clocks, err := f.engine.ClocksOf(as(agent), inc.ID)
	require.NoError(t, err)
	assert.Empty(t, clocks, "priority 3 does not match")

	f.clock.Advance(time.Hour)
	_, err = f.incidents.Change(as(agent), inc.ID, storage.Command{}, func(i *incident) error { i.Priority = 1; return nil })
	require.NoError(t, err)
	f.sync(t)
	c := f.clockOf(t, inc.ID, "p1-email")
	assert.Equal(t, design.StageInProgress, c.State)
	assert.Equal(t, monday.Add(time.Hour), c.StartTime, "starts when the condition becomes true")

	_, err = f.incidents.Change(as(agent), inc.ID, storage.Command{}, func(i *incident) error { i.ServiceID = "web"; return nil })
	require.NoError(t, err)
	f.sync(t)
	assert.Equal(t, design.StageCanceled, f.clockOf(t, inc.ID, "p1-email").State)

	// Sync is incremental: nothing left to consume.
	n, err := f.engine.Sync(context.Background())
	require.NoError(t, err)
	assert.Zero(t, n)
	cp, err := f.engine.Checkpoint(context.Background())
	require.NoError(t, err)
	assert.Positive(t, cp)
}

func TestDefinitionRefusals(t *testing.T) {
	mod := func(fn func(*design.Definition)) design.Definition {
		d := resolutionSLA()
		d.Targets = map[int]time.Duration{1: time.Hour, 2: 2 * time.Hour}
		fn(&d)
		return d
	}
	tests := []struct {
		name  string
		def   design.Definition
		field string
	}{
		{"zero target", mod(func(d *design.Definition) { d.Targets[1] = 0 }), "targets[1]"},
		{"negative target", mod(func(d *design.Definition) { d.Targets[2] = -time.Hour }), "targets[2]"},
		{"priority out of range", mod(func(d *design.Definition) { d.Targets[9] = time.Hour }), "targets[9]"},
		{"no targets", mod(func(d *design.Definition) { d.Targets = nil }), "targets"},
		{"matches nothing", mod(func(d *design.Definition) { d.Priorities = []int{4} }), "priorities"},
		{"unknown calendar", mod(func(d *design.Definition) { d.Calendar = "mars" }), "calendar"},
		{"bad warnings", mod(func(d *design.Definition) { d.Warnings = []int{90, 50} }), "warnings"},
		{"bad metric", mod(func(d *design.Definition) { d.Metric = "speed" }), "metric"},
		{"bad type", mod(func(d *design.Definition) { d.Type = "promise" }), "type"},
		{"no id", mod(func(d *design.Definition) { d.ID = "" }), "id"},
		{"no kind", mod(func(d *design.Definition) { d.Kind = "" }), "kind"},
		{"empty group", mod(func(d *design.Definition) { d.Groups = []string{""} }), "groups"},
		{"pause on a stop state", mod(func(d *design.Definition) { d.Pause = []design.PauseRule{{State: "resolved"}} }), "pause[0]"},
		{"response with its own pause", mod(func(d *design.Definition) {
			d.Metric, d.Pause = design.Response, []design.PauseRule{{State: "on_hold"}}
		}), "pause"},
		{"unknown response signal", mod(func(d *design.Definition) {
			d.Metric, d.RespondOn = design.Response, []design.ResponseSignal{"smoke"}
		}), "respond_on[0]"},
		{"resolution with response signals", mod(func(d *design.Definition) {
			d.RespondOn = []design.ResponseSignal{design.RespondComment}
		}), "respond_on"},
		// Issue 18: such an id was accepted, and then every Sync failed
		// to store any clock.
		{"id with NUL", mod(func(d *design.Definition) { d.ID = "p1\x00" }), "id"},
		{"id not UTF-8", mod(func(d *design.Definition) { d.ID = "p1\xff" }), "id"},
		{"id over 1 KiB", mod(func(d *design.Definition) { d.ID = strings.Repeat("i", design.MaxText+1) }), "id"},
		{"kind not UTF-8", mod(func(d *design.Definition) { d.Kind = "incident\xc3" }), "kind"},
		{"name with NUL", mod(func(d *design.Definition) { d.Name = "a\x00b" }), "name"},
		{"group over 1 KiB", mod(func(d *design.Definition) { d.Groups = []string{strings.Repeat("g", design.MaxText+1)} }), "groups"},
		{"service not UTF-8", mod(func(d *design.Definition) { d.Services = []string{"\xfe"} }), "services"},
		{"stop state with NUL", mod(func(d *design.Definition) { d.StopStates = []string{"resolved\x00"} }), "stop_states"},
		{"cancel state not UTF-8", mod(func(d *design.Definition) { d.CancelStates = []string{"\x80"} }), "cancel_states"},
		{"hold reason with NUL", mod(func(d *design.Definition) {
			d.Pause = []design.PauseRule{{State: "on_hold", HoldReasons: []string{"x\x00"}}}
		}), "pause[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := memory.New()
			_, err := design.NewEngine(context.Background(), store, design.EngineConfig{
				Definitions: []design.Definition{tc.def}, Calendars: []*calendar.Calendar{officeHours(t)}})
			require.ErrorIs(t, err, itsm.ErrInvalid)
			var ve *itsm.ValidationError
			require.True(t, errors.As(err, &ve), "%v", err)
			assert.Contains(t, ve.Fields, tc.field)
			if tc.def.ID != "" {
				assert.NotEmpty(t, ve.ID, "the error names the definition")
			}
			_, qerr := store.Query(context.Background(), storage.Query{Kind: design.ClockKind})
			assert.ErrorIs(t, qerr, itsm.ErrInvalid, "nothing was registered")
		})
	}
	// An engine with no definitions in code is fine: they may all be kept
	// as records (SaveDefinition).
	_, err := design.NewEngine(context.Background(), memory.New(), design.EngineConfig{})
	assert.NoError(t, err)
	_, err = design.NewEngine(context.Background(), memory.New(), design.EngineConfig{
		Definitions: []design.Definition{resolutionSLA(), resolutionSLA()}, Calendars: []*calendar.Calendar{officeHours(t)}})
	assert.ErrorIs(t, err, itsm.ErrInvalid)
}

// TestEngineNamesAtTheLimit: a definition id of MaxText bytes is taken and
// its clocks are stored; the engine configuration's names are held to the
// same bound.
func TestEngineNamesAtTheLimit(t *testing.T) {
	def := resolutionSLA()
	def.ID = strings.Repeat("d", design.MaxText)
	f := newFixture(t, def)
	inc := &incident{ShortDescription: "x", Priority: 1}
	require.NoError(t, f.incidents.Create(as(agent), inc, storage.Command{}))
	f.sync(t)
	assert.Equal(t, design.StageInProgress, f.clockOf(t, inc.ID, def.ID).State)

	tests := []struct {
		name string
		cfg  func(*design.EngineConfig)
	}{
		{"name with NUL", func(c *design.EngineConfig) { c.Name = "sla\x00" }},
		{"instance not UTF-8", func(c *design.EngineConfig) { c.Instance = "\xff" }},
		{"instance over 1 KiB", func(c *design.EngineConfig) { c.Instance = strings.Repeat("i", design.MaxText+1) }},
		{"actor id with NUL", func(c *design.EngineConfig) {
			c.Actor = itsm.Actor{ID: "a\x00", Roles: []string{itsm.RoleImporter}}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := memory.New()
			cfg := design.EngineConfig{Definitions: []design.Definition{resolutionSLA()},
				Calendars: []*calendar.Calendar{officeHours(t)}}
			tc.cfg(&cfg)
			_, err := design.NewEngine(context.Background(), store, cfg)
			require.ErrorIs(t, err, itsm.ErrInvalid)
			_, qerr := store.Query(context.Background(), storage.Query{Kind: design.ClockKind})
			assert.ErrorIs(t, qerr, itsm.ErrInvalid, "nothing was registered")
		})
	}
}

func TestQueryRefusalsWriteNothing(t *testing.T) {
	f := newFixture(t)
	inc := &incident{ShortDescription: "x", Priority: 1}
	require.NoError(t, f.incidents.Create(as(agent), inc, storage.Command{}))
	f.sync(t)
	before, err := f.store.ReadEvents(context.Background(), 0, 1000)
	require.NoError(t, err)
	_, _, err = f.engine.BreachingSoon(context.Background(), f.clock.Now(), 0, storage.Paging{Limit: 10})
	assert.ErrorIs(t, err, itsm.ErrInvalid)
	_, _, err = f.engine.Due(context.Background(), f.clock.Now(), storage.Paging{Limit: 10, Cursor: "not-a-cursor"})
	assert.ErrorIs(t, err, itsm.ErrInvalid)
	_, _, err = f.engine.Due(context.Background(), f.clock.Now(), storage.Paging{Limit: -1})
	assert.ErrorIs(t, err, itsm.ErrInvalid)
	//nolint:staticcheck // nil context is the bad input under test
	_, err = f.engine.Sync(nil)
	assert.ErrorIs(t, err, itsm.ErrInvalid)
	after, err := f.store.ReadEvents(context.Background(), 0, 1000)
	require.NoError(t, err)
	assert.Equal(t, before, after)
}

// slaWatcher is the operation pillar's SLAWatcher, restated here (pillars
// never import each other): the engine must satisfy it as it is.
type slaWatcher interface {
	BreachingBefore(ctx context.Context, kind string, deadline time.Time, p storage.Paging) (ids []string, next string, err error)
}

var _ slaWatcher = (*design.Engine)(nil)

// An OLA runs while its group holds the record: reassignment cancels it,
// and a return restarts it from zero.
func TestOLAFollowsTheGroup(t *testing.T) {
	ola := design.Definition{ID: "network-ola", Type: design.OLA, Metric: design.Resolution, Kind: "incident",
		Groups: []string{"network"}, Targets: map[int]time.Duration{1: 2 * time.Hour, 2: 4 * time.Hour, 3: 8 * time.Hour}}
	f := newFixture(t, ola)
	inc := &incident{ShortDescription: "packet loss", Priority: 2, AssignmentGroup: "service-desk"}
	require.NoError(t, f.incidents.Create(as(agent), inc, storage.Command{}))
	assign := func(g string) {
		_, err := f.incidents.Change(as(agent), inc.ID, storage.Command{}, func(i *incident) error { i.AssignmentGroup = g; return nil })
		require.NoError(t, err)
	}
	f.clock.Advance(time.Hour)
	assign("network")
	f.clock.Advance(time.Hour)
	assign("servers")
	f.sync(t)
	c := f.clockOf(t, inc.ID, "network-ola")
	assert.Equal(t, design.StageCanceled, c.State)
	assert.Equal(t, design.OLA, c.Type)
	assert.Equal(t, time.Hour, c.BusinessElapsed)
	f.clock.Advance(time.Hour)
	assign("network")
	f.sync(t)
	c = f.clockOf(t, inc.ID, "network-ola")
	assert.Equal(t, design.StageInProgress, c.State)
	assert.Equal(t, 1, c.ResetCount)
	assert.Equal(t, time.Duration(0), c.ElapsedBefore)
	assert.Equal(t, "network", c.AssignmentGroup)
	assert.Equal(t, monday.Add(3*time.Hour+4*time.Hour), c.DueAt, "round the clock without a calendar")
}

// A clock due at close of business breaches when checked in the evening,
// though no working time passed after the due time (a check used to find it
// due for ever).
func TestBreachAfterHours(t *testing.T) {
	f := newFixture(t)
	f.clock.Set(monday.Add(4 * time.Hour)) // Monday 13:00, due 17:00
	inc := &incident{ShortDescription: "late", Priority: 1}
	require.NoError(t, f.incidents.Create(as(agent), inc, storage.Command{}))
	f.sync(t)
	f.clock.Set(monday.Add(9 * time.Hour)) // 18:00
	n, err := f.engine.Check(context.Background(), f.clock.Now())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	c := f.clockOf(t, inc.ID, "resolution")
	assert.True(t, c.Breached)
	assert.Equal(t, monday.Add(8*time.Hour), c.BreachedAt)
	assert.Equal(t, 4*time.Hour, c.BusinessElapsed)
	assert.InDelta(t, 100.0, c.Percentage, 0.001)

	// Resolved at exactly the due time elsewhere: met.
	g := newFixture(t)
	g.clock.Set(monday.Add(4 * time.Hour))
	on := &incident{ShortDescription: "on time", Priority: 1}
	require.NoError(t, g.incidents.Create(as(agent), on, storage.Command{}))
	g.clock.Set(monday.Add(8 * time.Hour))
	g.fire(t, on.ID, "resolve", nil)
	g.sync(t)
	assert.False(t, g.clockOf(t, on.ID, "resolution").Breached)
}

// A check on a half-imported history raises warnings and a breach; the rest
// of the history shows the incident was resolved in time, and the clock
// says so.
func TestImportCorrectsAnEarlyCheck(t *testing.T) {
	f := newFixture(t)
	f.clock.Set(monday.Add(30 * 24 * time.Hour))
	inc := &incident{ShortDescription: "imported", Priority: 1}
	require.NoError(t, f.incidents.Create(as(importer), inc, storage.Command{At: monday}))
	f.sync(t)
	_, err := f.engine.Check(context.Background(), f.clock.Now())
	require.NoError(t, err)
	c := f.clockOf(t, inc.ID, "resolution")
	require.True(t, c.Breached)
	require.Equal(t, []int{50, 75, 90}, c.Warnings)

	_, err = f.incidents.Fire(as(importer), inc.ID, "resolve", storage.Command{At: monday.Add(time.Hour)}, nil)
	require.NoError(t, err)
	f.sync(t)
	c = f.clockOf(t, inc.ID, "resolution")
	assert.Equal(t, design.StageCompleted, c.State)
	assert.False(t, c.Breached)
	assert.True(t, c.BreachedAt.IsZero())
	assert.Empty(t, c.Warnings)
	assert.Equal(t, time.Hour, c.BusinessElapsed)
	assert.Equal(t, monday.Add(time.Hour), c.StopTime)
}

// A response SLA stops when work starts; a resolution SLA on the same
// incident keeps running.
func TestResponseAndResolution(t *testing.T) {
	response := design.Definition{ID: "response", Metric: design.Response, Kind: "incident", Calendar: "office",
		Targets: map[int]time.Duration{1: 30 * time.Minute, 2: time.Hour, 3: 4 * time.Hour}}
	f := newFixture(t, response, resolutionSLA())
	inc := &incident{ShortDescription: "cannot log in", Priority: 2}
	require.NoError(t, f.incidents.Create(as(agent), inc, storage.Command{}))
	f.clock.Advance(45 * time.Minute)
	f.fire(t, inc.ID, "start", nil)
	f.sync(t)
	r := f.clockOf(t, inc.ID, "response")
	assert.Equal(t, design.StageCompleted, r.State)
	assert.Equal(t, 45*time.Minute, r.BusinessElapsed)
	assert.Equal(t, []int{50, 75}, r.Warnings)
	assert.False(t, r.Breached)
	assert.Equal(t, design.Response, r.Metric)
	res := f.clockOf(t, inc.ID, "resolution")
	assert.Equal(t, design.StageInProgress, res.State)
	assert.Equal(t, monday.Add(8*time.Hour), res.DueAt)
}
