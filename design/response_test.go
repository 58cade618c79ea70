package design_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// responseSLA is a response definition built with every default, the pause
// rules included, as a host writes one set of defaults for both metrics.
func responseSLA() design.Definition {
	return design.Definition{ID: "response", Name: "Respond to incidents", Type: design.SLA, Metric: design.Response,
		Kind: "incident", Calendar: "office", Pause: design.DefaultPause(),
		Targets: map[int]time.Duration{1: 30 * time.Minute, 2: time.Hour, 3: 4 * time.Hour}}
}

// Definitions with the defaults for both metrics are accepted: the pause
// rules apply to resolution, and response stops on the first response.
func TestDefaultsForBothMetrics(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pause []design.PauseRule
	}{{"default pause given", design.DefaultPause()}, {"pause left nil", nil}, {"no pause", []design.PauseRule{}}} {
		t.Run(tc.name, func(t *testing.T) {
			r := responseSLA()
			r.Pause = tc.pause
			f := newFixture(t, r, resolutionSLA())
			defs := f.engine.Definitions()
			require.Len(t, defs, 2)
			assert.Empty(t, defs[0].Pause, "a response clock never pauses")
			assert.Equal(t, design.DefaultRespondOn(), defs[0].RespondOn)
			assert.Equal(t, []string{"in_progress", "on_hold", "resolved", "closed"}, defs[0].StopStates)
			assert.Equal(t, design.DefaultPause(), defs[1].Pause)
			assert.Nil(t, defs[1].RespondOn)
		})
	}
}

// histStep is one change of an incident: at an offset from Monday 09:00, by an
// actor, a lifecycle event ("" for a field change) and the fields it sets.
type histStep struct {
	at     time.Duration
	by     itsm.Actor
	event  string
	mutate func(*incident)
}

var (
	carl = itsm.Actor{ID: "carl", Roles: []string{"agent"}} // the caller (agent rights only to write the fixture)
	bob  = itsm.Actor{ID: "bob", Roles: []string{"agent"}}
)

func comment(by string) func(*incident) {
	return func(i *incident) { i.Comments = append(i.Comments, note{Author: by, Text: "hello"}) }
}

// play writes the steps of one incident, live (the clock advances to each
// step) or backdated (each step imported at its time, by its actor with the
// importer role, as operation's import does), syncing after every step,
// and returns the incident's clocks by definition.
func play(t *testing.T, f fixture, inc *incident, steps []histStep, backdated bool) map[string]*design.SLAClock {
	t.Helper()
	ctxOf := func(a itsm.Actor) context.Context {
		if backdated {
			a.Roles = append([]string{itsm.RoleImporter}, a.Roles...)
		}
		return as(a)
	}
	cmdAt := func(d time.Duration) storage.Command {
		if backdated {
			return storage.Command{At: monday.Add(d)}
		}
		f.clock.Set(monday.Add(d))
		return storage.Command{}
	}
	if backdated {
		f.clock.Set(monday.Add(60 * 24 * time.Hour))
	}
	require.NoError(t, f.incidents.Create(ctxOf(agent), inc, cmdAt(0)))
	f.sync(t)
	for _, s := range steps {
		cmd := cmdAt(s.at)
		mut := func(i *incident) error {
			if s.mutate != nil {
				s.mutate(i)
			}
			return nil
		}
		var err error
		if s.event == "" {
			_, err = f.incidents.Change(ctxOf(s.by), inc.ID, cmd, mut)
		} else {
			_, err = f.incidents.Fire(ctxOf(s.by), inc.ID, s.event, cmd, mut)
		}
		require.NoError(t, err)
		f.sync(t)
	}
	clocks, err := f.engine.ClocksOf(as(agent), inc.ID)
	require.NoError(t, err)
	out := map[string]*design.SLAClock{}
	for _, c := range clocks {
		out[c.DefinitionID] = c
	}
	return out
}

// The response clock stops at the first of: work starting, a comment to
// the caller by someone else, assignment to a person, as ServiceNow's
// response SLAs with "assigned to is not empty" and "state is not new" as
// stop conditions; and identically for a lived and a backdated history.
func TestFirstResponse(t *testing.T) {
	tests := []struct {
		name      string
		respondOn []design.ResponseSignal
		create    incident
		steps     []histStep
		stage     string // "" when no response clock started
		elapsed   time.Duration
		breached  bool
		resStage  string
	}{
		{name: "work starts", steps: []histStep{{at: 45 * time.Minute, by: agent, event: "start"}},
			stage: design.StageCompleted, elapsed: 45 * time.Minute, resStage: design.StageInProgress},
		{name: "agent comment while new, then nothing reopens it", steps: []histStep{
			{at: 20 * time.Minute, by: agent, mutate: comment("ann")},
			{at: 30 * time.Minute, by: agent, mutate: func(i *incident) { i.Priority = 3 }},
			{at: 40 * time.Minute, by: agent, event: "start"}},
			stage: design.StageCompleted, elapsed: 20 * time.Minute, resStage: design.StageInProgress},
		{name: "caller comment and group assignment are no response", steps: []histStep{
			{at: 10 * time.Minute, by: carl, mutate: comment("carl")},
			{at: 30 * time.Minute, by: agent, mutate: func(i *incident) { i.AssignmentGroup = "network" }},
			{at: 50 * time.Minute, by: agent, mutate: func(i *incident) { i.AssignedTo = "bob" }}},
			stage: design.StageCompleted, elapsed: 50 * time.Minute, resStage: design.StageInProgress},
		{name: "a work note is no response", steps: []histStep{
			{at: 10 * time.Minute, by: agent, mutate: func(i *incident) { i.WorkNotes = append(i.WorkNotes, note{Author: "ann", Text: "looking"}) }},
			{at: 70 * time.Minute, by: bob, event: "start"}},
			stage: design.StageCompleted, elapsed: 70 * time.Minute, breached: true, resStage: design.StageInProgress},
		{name: "on hold from new answers the caller; resolution pauses", steps: []histStep{
			{at: 15 * time.Minute, by: agent, event: "hold", mutate: func(i *incident) { i.HoldReason = "awaiting_caller" }}},
			stage: design.StageCompleted, elapsed: 15 * time.Minute, resStage: design.StagePaused},
		{name: "raised already assigned: answered at once", create: incident{AssignedTo: "ann"},
			steps: []histStep{{at: time.Hour, by: agent, event: "start"}}, stage: "", resStage: design.StageInProgress},
		{name: "state-only response ignores comments", respondOn: []design.ResponseSignal{},
			steps: []histStep{
				{at: 10 * time.Minute, by: agent, mutate: comment("ann")},
				{at: 20 * time.Minute, by: agent, mutate: func(i *incident) { i.AssignedTo = "ann" }},
				{at: 30 * time.Minute, by: agent, event: "start"}},
			stage: design.StageCompleted, elapsed: 30 * time.Minute, resStage: design.StageInProgress},
		{name: "comment only", respondOn: []design.ResponseSignal{design.RespondComment},
			steps: []histStep{
				{at: 10 * time.Minute, by: agent, mutate: func(i *incident) { i.AssignedTo = "ann" }},
				{at: 25 * time.Minute, by: bob, mutate: comment("bob")}},
			stage: design.StageCompleted, elapsed: 25 * time.Minute, resStage: design.StageInProgress},
		{name: "no response yet", steps: []histStep{{at: 10 * time.Minute, by: carl, mutate: comment("carl")}},
			stage: design.StageInProgress, elapsed: 10 * time.Minute, resStage: design.StageInProgress},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got [2]map[string]*design.SLAClock
			for i, backdated := range []bool{false, true} {
				r := responseSLA()
				r.RespondOn = tc.respondOn
				f := newFixture(t, r, resolutionSLA())
				inc := tc.create
				inc.ShortDescription, inc.Priority, inc.CallerID = "cannot print", 2, "carl"
				got[i] = play(t, f, &inc, tc.steps, backdated)
			}
			for i, clocks := range got {
				res := clocks["response"]
				if tc.stage == "" {
					assert.Nil(t, res, "history %d", i)
				} else if assert.NotNil(t, res, "history %d", i) {
					assert.Equal(t, tc.stage, res.State, "history %d", i)
					if tc.stage == design.StageCompleted {
						assert.Equal(t, tc.elapsed, res.BusinessElapsed, "history %d", i)
						assert.Equal(t, monday.Add(tc.elapsed), res.StopTime, "history %d", i)
					}
					assert.Equal(t, tc.breached, res.Breached, "history %d", i)
				}
				require.NotNil(t, clocks["resolution"])
				assert.Equal(t, tc.resStage, clocks["resolution"].State, "history %d", i)
			}
			if tc.stage == design.StageCompleted {
				live, imp := got[0]["response"], got[1]["response"]
				assert.Equal(t, live.StartTime, imp.StartTime)
				assert.Equal(t, live.Warnings, imp.Warnings)
				assert.Equal(t, live.BreachedAt, imp.BreachedAt)
				assert.Equal(t, live.Percentage, imp.Percentage)
			}
		})
	}
}

// The operation pillar's incidents drive the clocks as they are: a live
// desk and the same history imported from another tool give the same
// response and resolution clocks.
func TestOperationLiveAndImportedClocks(t *testing.T) {
	response := responseSLA()
	response.Calendar = ""
	response.Targets = map[int]time.Duration{1: 15 * time.Minute, 2: 30 * time.Minute, 3: time.Hour, 4: 4 * time.Hour, 5: 8 * time.Hour}
	resolution := resolutionSLA()
	resolution.Calendar = ""
	resolution.Targets = map[int]time.Duration{1: time.Hour, 2: 4 * time.Hour, 3: 8 * time.Hour, 4: 24 * time.Hour, 5: 72 * time.Hour}
	open := func(t *testing.T) (*operation.Desk, *design.Engine, *itsm.FakeClock) {
		store := memory.New()
		clock := itsm.NewFakeClock(monday)
		desk, err := operation.New(context.Background(), store, operation.Config{Clock: clock})
		require.NoError(t, err)
		eng, err := design.NewEngine(context.Background(), store, design.EngineConfig{Clock: clock,
			Definitions: []design.Definition{response, resolution}})
		require.NoError(t, err)
		return desk, eng, clock
	}
	at := func(m int) time.Time { return monday.Add(time.Duration(m) * time.Minute) }
	// operation's default authoriser lets no bare caller comment; carl is
	// the caller by id and writes with agent rights.
	caller := itsm.Actor{ID: "carl", Roles: []string{"caller", "agent"}}
	ann := itsm.Actor{ID: "ann", Roles: []string{"agent"}, Groups: []string{"network"}}
	base := operation.Incident{ShortDescription: "VPN drops", CallerID: "carl", Impact: 2, Urgency: 2}

	// Live: the caller adds a comment (no response), ann takes it at 25 min.
	desk, live, clock := open(t)
	inc := base
	require.NoError(t, desk.OpenIncident(as(caller), &inc, storage.Command{}))
	clock.Set(at(10))
	_, err := desk.AddComment(as(caller), inc.ID, "it happened again", storage.Command{})
	require.NoError(t, err)
	clock.Set(at(25))
	_, err = desk.AssignIncident(as(ann), inc.ID, "network", "ann", storage.Command{})
	require.NoError(t, err)
	clock.Set(at(40))
	_, err = desk.StartIncident(as(ann), inc.ID, storage.Command{})
	require.NoError(t, err)
	clock.Set(at(60))
	_, err = desk.HoldIncident(as(ann), inc.ID, operation.HoldAwaitingCaller, storage.Command{})
	require.NoError(t, err)
	clock.Set(at(180))
	_, err = desk.ResumeIncident(as(ann), inc.ID, storage.Command{})
	require.NoError(t, err)
	clock.Set(at(240))
	_, err = desk.ResolveIncident(as(ann), inc.ID, operation.ResolvedPermanently, "replaced the router", storage.Command{})
	require.NoError(t, err)
	_, err = live.Sync(context.Background())
	require.NoError(t, err)
	liveClocks, err := live.ClocksOf(as(agent), inc.ID)
	require.NoError(t, err)

	// Imported: the same steps from another tool, synced row by row.
	idesk, imported, iclock := open(t)
	iclock.Set(at(60 * 24 * 10))
	states := operation.StateMap{"Open": "new", "WIP": "in_progress", "Waiting": "on_hold", "Resolved": "resolved"}
	res, err := idesk.ImportIncidents(as(itsm.Actor{ID: "migrator", Roles: []string{itsm.RoleImporter}}), []operation.ImportIncident{{
		Ref: "OLD-1", Incident: base, OpenedAt: at(0), OpenedBy: "carl",
		History: []operation.ImportRow{
			{At: at(25), Actor: "ann", AssignmentGroup: "network", AssignedTo: "ann"},
			{At: at(40), Actor: "ann", State: "WIP"},
			{At: at(60), Actor: "ann", State: "Waiting", HoldReason: operation.HoldAwaitingCaller},
			{At: at(180), Actor: "ann", State: "WIP"},
			{At: at(240), Actor: "ann", State: "Resolved", ResolutionCode: operation.ResolvedPermanently, ResolutionNotes: "replaced the router"},
		}}}, states)
	require.NoError(t, err)
	require.Equal(t, 1, res.Imported, "%v", res.Errors)
	_, err = imported.Sync(context.Background())
	require.NoError(t, err)
	page, _, err := idesk.Incidents().Query(as(importer), storage.Query{Limit: 1})
	require.NoError(t, err)
	require.Len(t, page, 1)
	importedClocks, err := imported.ClocksOf(as(agent), page[0].ID)
	require.NoError(t, err)

	byDef := func(cs []*design.SLAClock) map[string]*design.SLAClock {
		m := map[string]*design.SLAClock{}
		for _, c := range cs {
			m[c.DefinitionID] = c
		}
		return m
	}
	l, m := byDef(liveClocks), byDef(importedClocks)
	require.Len(t, l, 2)
	require.Len(t, m, 2)
	// Priority 3 from the default matrix: a 1h response met at 25 min by
	// the assignment; an 8h resolution with 2h on hold awaiting the caller.
	assert.Equal(t, design.StageCompleted, l["response"].State)
	assert.Equal(t, 25*time.Minute, l["response"].BusinessElapsed)
	assert.Equal(t, design.StageCompleted, l["resolution"].State)
	assert.Equal(t, 2*time.Hour, l["resolution"].BusinessElapsed)
	for _, id := range []string{"response", "resolution"} {
		a, b := l[id], m[id]
		assert.Equal(t, a.Priority, b.Priority, id)
		assert.Equal(t, a.StartTime, b.StartTime, id)
		assert.Equal(t, a.StopTime, b.StopTime, id)
		assert.Equal(t, a.BusinessElapsed, b.BusinessElapsed, id)
		assert.Equal(t, a.Percentage, b.Percentage, id)
		assert.Equal(t, a.Warnings, b.Warnings, id)
		assert.Equal(t, a.Breached, b.Breached, id)
	}

	// Live again: an agent's comment while the incident is still new is
	// the first response.
	desk, live, clock = open(t)
	inc = base
	require.NoError(t, desk.OpenIncident(as(caller), &inc, storage.Command{}))
	clock.Set(at(12))
	_, err = desk.AddComment(as(ann), inc.ID, "looking at it now", storage.Command{})
	require.NoError(t, err)
	_, err = live.Sync(context.Background())
	require.NoError(t, err)
	c, err := live.Clocks().Get(as(agent), design.ClockID(operation.KindIncident, inc.ID, "response"))
	require.NoError(t, err)
	assert.Equal(t, design.StageCompleted, c.State)
	assert.Equal(t, 12*time.Minute, c.BusinessElapsed)
}
