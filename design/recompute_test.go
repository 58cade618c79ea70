package design_test

import (
	"context"
	"fmt"
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

// clockView is what a clock computes, without its record bookkeeping.
type clockView struct {
	State, Definition                 string
	DefinitionVersion                 int64
	Target, ElapsedBefore, Elapsed    time.Duration
	Start, Stop, Running, Paused, Due time.Time
	Next, Evaluated, BreachedAt       time.Time
	Warnings                          []int
	Breached                          bool
	Resets, Priority                  int
}

func viewOf(c *design.SLAClock) clockView {
	return clockView{c.State, c.DefinitionID, c.DefinitionVersion, c.Target, c.ElapsedBefore, c.BusinessElapsed, c.StartTime, c.StopTime,
		c.RunningSince, c.PausedAt, c.DueAt, c.NextCheckAt, c.EvaluatedAt, c.BreachedAt, c.Warnings, c.Breached, c.ResetCount, c.Priority}
}

// story is the life of one incident: its priority, then its events.
type story struct {
	priority int
	events   []string
}

// playStories creates an incident per story and fires its events, half an
// hour apart on the fake clock, syncing the engine after each; it returns
// the incidents' ids.
func playStories(t *testing.T, f fixture, stories []story) []string {
	t.Helper()
	ids := make([]string, len(stories))
	at := monday
	for i, s := range stories {
		at = at.Add(30 * time.Minute)
		f.clock.Set(at)
		inc := &incident{ShortDescription: fmt.Sprint("story ", i), Priority: s.priority}
		require.NoError(t, f.incidents.Create(as(agent), inc, storage.Command{}))
		ids[i] = inc.ID
		f.sync(t)
		for _, ev := range s.events {
			at = at.Add(30 * time.Minute)
			f.clock.Set(at)
			f.fire(t, inc.ID, ev, func(x *incident) error {
				if ev == "hold" {
					x.HoldReason = "awaiting_caller"
				}
				return nil
			})
			f.sync(t)
		}
	}
	return ids
}

// TestNewOrWidenedDefinitionStartsClocksOfOpenRecords: records that match
// a definition saved after their events get their clock at the save, not
// at their next event, and each equals the clock of a store where the
// definition ran from the start; a record whose clock would have stopped
// gets none. A change that widens a definition starts the clocks of the
// records it now matches when it recomputes, and none when it keeps the
// running clocks' version.
func TestNewOrWidenedDefinitionStartsClocksOfOpenRecords(t *testing.T) {
	stories := []story{
		{1, nil},
		{2, []string{"hold"}},
		{1, []string{"resolve"}},
		{3, []string{"start", "hold", "resume"}},
		{2, []string{"resolve", "reopen"}},
		{1, []string{"cancel"}},
		{3, []string{"start"}},
	}
	open := map[int]bool{0: true, 1: true, 3: true, 4: true, 6: true}
	def := plantSLA(true)
	setup := func(t *testing.T) fixture {
		f := newRecordFixture(t, memory.New())
		_, _, err := f.engine.SaveCalendar(as(agent), plantSpec(9, 17), design.KeepVersion, storage.Command{})
		require.NoError(t, err)
		return f
	}

	scratch := setup(t)
	_, _, err := scratch.engine.SaveDefinition(as(agent), def, design.KeepVersion, storage.Command{})
	require.NoError(t, err)
	want := playStories(t, scratch, stories)

	for _, policy := range []design.ClockPolicy{design.KeepVersion, design.RecomputeClocks} {
		t.Run("new definition/"+string(policy), func(t *testing.T) {
			late := setup(t)
			got := playStories(t, late, stories)
			for _, id := range got {
				_, err := late.engine.Clocks().Get(as(agent), design.ClockID("incident", id, "resolution"))
				require.ErrorIs(t, err, itsm.ErrNotFound, "no definition, no clock")
			}
			_, n, err := late.engine.SaveDefinition(as(agent), def, policy, storage.Command{Reason: "new SLA"})
			require.NoError(t, err)
			assert.Equal(t, len(open), n, "a clock for each open record")
			for i := range stories {
				_, err := late.engine.Clocks().Get(as(agent), design.ClockID("incident", got[i], "resolution"))
				if !open[i] {
					assert.ErrorIs(t, err, itsm.ErrNotFound, "story %d stopped before the definition: no clock", i)
					continue
				}
				require.NoError(t, err)
				assert.Equal(t, viewOf(scratch.clockOf(t, want[i], "resolution")), viewOf(late.clockOf(t, got[i], "resolution")), "story %d", i)
				require.NoError(t, late.engine.Clocks().Verify(as(agent), design.ClockID("incident", got[i], "resolution")))
			}
			// Saved again unchanged, it starts nothing more.
			_, n, err = late.engine.SaveDefinition(as(agent), def, policy, storage.Command{})
			require.NoError(t, err)
			assert.Zero(t, n)
		})
	}

	for _, policy := range []design.ClockPolicy{design.KeepVersion, design.RecomputeClocks} {
		t.Run("widened/"+string(policy), func(t *testing.T) {
			f := setup(t)
			narrow := def
			narrow.Priorities = []int{1}
			_, _, err := f.engine.SaveDefinition(as(agent), narrow, design.KeepVersion, storage.Command{})
			require.NoError(t, err)
			ids := playStories(t, f, stories)
			_, n, err := f.engine.SaveDefinition(as(agent), def, policy, storage.Command{Reason: "every priority"})
			require.NoError(t, err)
			for i, s := range stories {
				_, err := f.engine.Clocks().Get(as(agent), design.ClockID("incident", ids[i], "resolution"))
				switch {
				case s.priority == 1:
					require.NoError(t, err, "story %d ran under the narrow version", i)
				case policy == design.KeepVersion || !open[i]:
					assert.ErrorIs(t, err, itsm.ErrNotFound, "story %d", i)
				default:
					require.NoError(t, err, "story %d", i)
					w := viewOf(scratch.clockOf(t, want[i], "resolution"))
					w.DefinitionVersion = 2 // the widened version
					assert.Equal(t, w, viewOf(f.clockOf(t, ids[i], "resolution")), "story %d", i)
				}
			}
			if policy == design.KeepVersion {
				assert.Zero(t, n)
			} else {
				assert.Equal(t, 5, n, "stories 1, 3, 4 and 6 started, and the running clock of story 0 moved to version 2")
			}
		})
	}
}

// TestRecomputeAuditsEachChangedClockOnly: a recompute writes each clock
// it changes with an event of its own, chained to the clock's history
// (Verify), listing the fields that changed as any write does; a clock
// whose value is unchanged is not written, so a second recompute writes
// nothing.
func TestRecomputeAuditsEachChangedClockOnly(t *testing.T) {
	f := newRecordFixture(t, memory.New())
	ctx := as(agent)
	_, _, err := f.engine.SaveDefinition(ctx, resolutionSLA(), design.KeepVersion, storage.Command{})
	require.NoError(t, err)
	var ids []string
	for p := 1; p <= 3; p++ {
		inc := &incident{ShortDescription: "x", Priority: p}
		require.NoError(t, f.incidents.Create(ctx, inc, storage.Command{}))
		ids = append(ids, inc.ID)
	}
	f.sync(t)
	f.clock.Set(monday.Add(time.Hour))
	d := resolutionSLA()
	d.Targets[1] = 6 * time.Hour
	_, n, err := f.engine.SaveDefinition(ctx, d, design.RecomputeClocks, storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, 3, n, "every clock moves to version 2")
	for i, id := range ids {
		cid := design.ClockID("incident", id, "resolution")
		require.NoError(t, f.engine.Clocks().Verify(ctx, cid))
		hist, err := f.engine.Clocks().History(ctx, cid)
		require.NoError(t, err)
		require.Len(t, hist, 2)
		last := hist[1]
		assert.Equal(t, itsm.EventUpdate, last.Name)
		assert.Equal(t, "sla definition resolution version 2 recomputed", last.Reason)
		assert.Equal(t, int64(2), last.RecordVersion)
		fields := map[string]string{}
		for _, c := range last.Changes {
			fields[c.Field] = c.From + " -> " + c.To
		}
		if i == 0 {
			assert.Equal(t, map[string]string{"definition_version": "1 -> 2", "target": "14400000000000 -> 21600000000000",
				"due_at": `"2026-11-30T13:00:00Z" -> "2026-11-30T15:00:00Z"`, "next_check_at": `"2026-11-30T11:00:00Z" -> "2026-11-30T12:00:00Z"`}, fields)
		} else {
			assert.Equal(t, map[string]string{"definition_version": "1 -> 2"}, fields, "priority %d: only the version moves", i+1)
		}
	}
	n, err = f.engine.Recompute(ctx, "resolution")
	require.NoError(t, err)
	assert.Zero(t, n, "nothing changed since")
}

// TestRecomputeCancelsAClockTheNewRulesNeverStart: a running clock whose
// record the new version does not match at any event is canceled, with
// its history kept, rather than failing the recompute.
func TestRecomputeCancelsAClockTheNewRulesNeverStart(t *testing.T) {
	f := newRecordFixture(t, memory.New())
	ctx := as(agent)
	_, _, err := f.engine.SaveDefinition(ctx, resolutionSLA(), design.KeepVersion, storage.Command{})
	require.NoError(t, err)
	inc := &incident{ShortDescription: "x", Priority: 1}
	require.NoError(t, f.incidents.Create(ctx, inc, storage.Command{}))
	f.sync(t)
	f.clock.Set(monday.Add(time.Hour))
	d := resolutionSLA()
	d.Groups = []string{"nobody"}
	_, n, err := f.engine.SaveDefinition(ctx, d, design.RecomputeClocks, storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	c := f.clockOf(t, inc.ID, "resolution")
	assert.Equal(t, design.StageCanceled, c.State)
	assert.Equal(t, int64(2), c.DefinitionVersion)
	assert.Equal(t, monday, c.StopTime, "stopped where the record's history ends")
	assert.True(t, c.NextCheckAt.IsZero())
	require.NoError(t, f.engine.Clocks().Verify(ctx, c.ID))
	hist, err := f.engine.Clocks().History(ctx, c.ID)
	require.NoError(t, err)
	assert.Equal(t, "cancel", hist[len(hist)-1].Name)
}

// recomputeSpy is a Telemetry that records the SLA thresholds reported
// and the commands on clocks begun and ended.
type recomputeSpy struct {
	slaSpy
	commands []storage.CommandInfo
	results  []storage.CommandResult
}

func (s *recomputeSpy) Command(ctx context.Context, c storage.CommandInfo) (context.Context, func(storage.CommandResult)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Kind != design.ClockKind {
		return ctx, func(storage.CommandResult) {}
	}
	s.commands = append(s.commands, c)
	return ctx, func(r storage.CommandResult) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.results = append(s.results, r)
	}
}

// TestRecomputeReportsToTelemetry: a recompute reports each unit of work
// to Telemetry as one command on clocks ("recompute") with its outcome,
// and the warnings and the breach its clocks reach that the stored clocks
// had not, once each, as Sync reports a replay's.
func TestRecomputeReportsToTelemetry(t *testing.T) {
	f := newRecordFixture(t, memory.New())
	ctx := as(agent)
	spy := &recomputeSpy{}
	eng, err := design.NewEngine(context.Background(), f.store, design.EngineConfig{Name: "observed",
		Calendars: []*calendar.Calendar{officeHours(t)}, Clock: f.clock, Telemetry: spy})
	require.NoError(t, err)
	_, _, err = eng.SaveDefinition(ctx, resolutionSLA(), design.KeepVersion, storage.Command{})
	require.NoError(t, err)
	inc := &incident{ShortDescription: "x", Priority: 1}
	require.NoError(t, f.incidents.Create(ctx, inc, storage.Command{}))
	f.sync(t)
	f.clock.Advance(3 * time.Hour)
	f.fire(t, inc.ID, "start", nil)
	f.sync(t)
	require.Equal(t, []int{50, 75}, f.clockOf(t, inc.ID, "resolution").Warnings, "3 hours of 4")
	spy.commands, spy.results = nil, nil

	d := resolutionSLA()
	d.Targets[1] = 2 * time.Hour // 3 hours of 2: every warning and the breach
	_, n, err := eng.SaveDefinition(ctx, d, design.RecomputeClocks, storage.Command{})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	assert.Equal(t, []int{90, 0}, spy.reached, "what the stored clock had is not reported again")
	assert.Equal(t, []storage.CommandInfo{{Kind: design.ClockKind, Event: "recompute"}}, spy.commands, "one unit")
	assert.Equal(t, []storage.CommandResult{{Attempts: 1}}, spy.results)

	n, err = eng.Recompute(ctx, "resolution")
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, []int{90, 0}, spy.reached, "nothing new to report")
}
