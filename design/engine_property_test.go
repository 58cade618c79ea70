package design_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// step is one command of a random incident history.
type step struct {
	at     time.Time
	event  string // "" for a field change
	hold   string
	group  string
	change bool
}

var holdReasons = []string{"awaiting_caller", "awaiting_vendor", "awaiting_change"}

// randomHistory builds a valid random history of one incident: who holds it
// for what, resolves, reopens, cancels, reassigns. Times are whole minutes.
func randomHistory(r *rand.Rand) (time.Time, int, []step) {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(50*24*60)) * time.Minute)
	at := start
	state := "new"
	var steps []step
	for range 2 + r.IntN(12) {
		at = at.Add(time.Duration(r.IntN(30*60)) * time.Minute)
		var opts []string
		switch state {
		case "new":
			opts = []string{"start", "hold", "resolve", "cancel", "update"}
		case "in_progress":
			opts = []string{"hold", "resolve", "cancel", "update"}
		case "on_hold":
			opts = []string{"resume", "resolve", "cancel", "update"}
		case "resolved":
			opts = []string{"reopen", "close"}
		default:
			return start, 1 + r.IntN(3), steps
		}
		ev := opts[r.IntN(len(opts))]
		s := step{at: at, event: ev}
		switch ev {
		case "update":
			s.event, s.change, s.group = "", true, fmt.Sprintf("group-%d", len(steps)) // always a real change
		case "hold":
			s.hold = holdReasons[r.IntN(len(holdReasons))]
			state = "on_hold"
		case "resume", "start", "reopen":
			state = "in_progress"
		case "resolve":
			state = "resolved"
		case "close":
			state = "closed"
		case "cancel":
			state = "canceled"
		}
		steps = append(steps, s)
	}
	return start, 1 + r.IntN(3), steps
}

// referenceElapsed counts, minute by minute, the office-hours minutes in
// which the incident's resolution clock runs: state new or in progress, or
// on hold for a reason that does not pause. With reset, only minutes after
// the last reopen count. The clock has breached when it still runs (in
// any hour) after the end of the minute in which the count reached the
// target.
func referenceElapsed(start time.Time, steps []step, reset bool, target time.Duration) (time.Duration, time.Time, bool) {
	type point struct {
		at          time.Time
		state, hold string
	}
	points := []point{{start, "new", ""}}
	state, hold := "new", ""
	from := start
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
		if s.event == "reopen" && reset {
			from = s.at
		}
		points = append(points, point{s.at, state, hold})
	}
	end := points[len(points)-1].at
	var total time.Duration
	var due time.Time
	breached := false
	for m := from; m.Before(end); m = m.Add(time.Minute) {
		i := len(points) - 1
		for points[i].at.After(m) {
			i--
		}
		p := points[i]
		runs := p.state == "new" || p.state == "in_progress" || (p.state == "on_hold" && p.hold == "awaiting_change")
		if runs && !due.IsZero() && !m.Before(due) {
			breached = true
		}
		wd := m.Weekday()
		if runs && wd != time.Saturday && wd != time.Sunday && m.Hour() >= 9 && m.Hour() < 17 {
			total += time.Minute
			if total == target {
				due = m.Add(time.Minute)
			}
		}
	}
	return total, end, breached
}

// TestEngineAgainstReference replays random incident histories, live and
// imported with backdated times (with Syncs at random points in between),
// and compares each clock with the minute-stepping reference: 100
// histories by default, 5,000 with PILLARS_SCALE=1.
func TestEngineAgainstReference(t *testing.T) {
	n := 100
	if os.Getenv("PILLARS_SCALE") == "1" {
		n = 5000
	}
	resume := resolutionSLA()
	reset := resolutionSLA()
	reset.ID, reset.ResetOnReopen = "resolution-reset", true
	reset.Type = design.OLA // side by side with resume: overlapping SLAs are refused
	began := time.Now()
	sqliteStore := stores(t)["sqlite"]
	for i := range n {
		// Every tenth history also runs on SQLite.
		opens := []func() storage.Backend{func() storage.Backend { return memory.New() }}
		if i%10 == 0 {
			opens = append(opens, sqliteStore)
		}
		for _, open := range opens {
			runHistory(t, i, open, resume, reset)
		}
	}
	t.Logf("%d random histories, live and imported, agree with the reference in %s", n, time.Since(began).Round(time.Millisecond))
}

// runHistory plays history i live and imported on a fresh store each and
// checks both clocks against the reference.
func runHistory(t *testing.T, i int, open func() storage.Backend, resume, reset design.Definition) {
	r := rand.New(rand.NewPCG(uint64(i), 0xc10c))
	start, priority, steps := randomHistory(r)
	for _, imported := range []bool{false, true} {
		f := newFixtureOn(t, open(), resume, reset)
		ctx := as(agent)
		cmdAt := func(at time.Time) storage.Command { return storage.Command{} }
		if imported {
			ctx = as(importer)
			f.clock.Set(start.Add(200 * 24 * time.Hour))
			cmdAt = func(at time.Time) storage.Command { return storage.Command{At: at} }
		} else {
			f.clock.Set(start)
		}
		inc := &incident{ShortDescription: "random", Priority: priority}
		require.NoError(t, f.incidents.Create(ctx, inc, cmdAt(start)))
		for _, s := range steps {
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
		f.sync(t)
		for _, def := range []design.Definition{resume, reset} {
			c := f.clockOf(t, inc.ID, def.ID)
			want, end, breached := referenceElapsed(start, steps, def.ResetOnReopen, def.Targets[priority])
			last := "new"
			if len(steps) > 0 {
				last = steps[len(steps)-1].event
			}
			msg := fmt.Sprintf("case %d imported=%v def %s steps %+v", i, imported, def.ID, steps)
			require.Equal(t, want, c.BusinessElapsed, msg)
			require.Equal(t, end, c.EvaluatedAt, msg)
			require.Equal(t, breached, c.Breached, msg)
			switch last {
			case "resolve", "close":
				require.Equal(t, design.StageCompleted, c.State, msg)
			case "cancel":
				require.Equal(t, design.StageCanceled, c.State, msg)
			}
			for _, w := range design.DefaultWarnings() {
				reached := want*100 >= def.Targets[priority]*time.Duration(w)
				require.Equal(t, reached, slices.Contains(c.Warnings, w), "%s warning %d", msg, w)
			}
			require.NoError(t, f.engine.Clocks().Verify(as(agent), c.ID))
		}
	}
}
