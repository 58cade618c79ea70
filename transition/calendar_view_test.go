package transition_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/transition"
)

// TestCalendarView builds a random CMDB and a week of changes (some running
// past the period, some outside it) with global and per-service windows on
// every store, and checks that every entry's collisions are what
// Collisions answers for that change, at several depths, walking the store
// and walking the graph index; and that freezes and maintenance windows are
// the ones the change overlaps.
func TestCalendarView(t *testing.T) {
	for name, st := range allStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := as(admin)
			rng := rand.New(rand.NewPCG(3, 4))
			e := newEnvOn(t, st)
			ids, _ := randomCMDB(t, e, rng, 25, 40)
			g, err := transition.LoadGraph(ctx, e.cmdb)
			require.NoError(t, err)
			plain, err := transition.NewChanges(ctx, st, transition.ChangesConfig{Clock: e.clock, CMDB: e.cmdb})
			require.NoError(t, err)
			indexed, err := transition.NewChanges(ctx, st, transition.ChangesConfig{Clock: e.clock, CMDB: e.cmdb, Graph: g})
			require.NoError(t, err)

			week := t0.Add(24 * time.Hour)
			windows := []*transition.ChangeWindow{
				{Name: "year-end", WindowType: transition.WindowFreeze, Start: week.Add(50 * time.Hour), End: week.Add(60 * time.Hour)},
				{Name: "payroll run", WindowType: transition.WindowFreeze, ServiceID: "payroll", Start: week.Add(20 * time.Hour), End: week.Add(30 * time.Hour)},
				{Name: "sunday", WindowType: transition.WindowMaintenance, Start: week.Add(-2 * time.Hour), End: week.Add(40 * time.Hour)},
				{Name: "next month", WindowType: transition.WindowFreeze, Start: week.Add(40 * 24 * time.Hour), End: week.Add(41 * 24 * time.Hour)},
			}
			for _, w := range windows {
				require.NoError(t, plain.CreateWindow(as(alice), w, storage.Command{}))
			}
			for i := range 30 {
				start := week.Add(time.Duration(rng.IntN(24*9)-24) * time.Hour) // some begin before the week, some after it
				c := &transition.Change{ShortDescription: "change", Type: transition.TypeNormal,
					CIIDs:        []string{ids[rng.IntN(len(ids))], ids[rng.IntN(len(ids))]},
					PlannedStart: start, PlannedEnd: start.Add(time.Duration(1+rng.IntN(30)) * time.Hour)}
				if c.CIIDs[0] == c.CIIDs[1] {
					c.CIIDs = c.CIIDs[:1]
				}
				if i%5 == 0 {
					c.ServiceID = "payroll"
				}
				require.NoError(t, plain.Create(as(rita), c, storage.Command{}))
			}

			for _, depth := range []int{0, 1, 2, 4} {
				for way, m := range map[string]*transition.Changes{"store": plain, "graph": indexed} {
					v, err := m.CalendarView(ctx, week, week.Add(7*24*time.Hour), depth)
					require.NoError(t, err)
					changes, ws, err := m.Calendar(ctx, week, week.Add(7*24*time.Hour))
					require.NoError(t, err)
					assert.Equal(t, ws, v.Windows)
					require.Len(t, v.Entries, len(changes))
					collided := 0
					for i, en := range v.Entries {
						assert.Equal(t, changes[i], en.Change)
						want, err := m.Collisions(ctx, en.Change.ID, depth)
						require.NoError(t, err)
						assert.Equal(t, want, en.Collisions, "%s depth %d %s", way, depth, en.Change.Number)
						collided += len(want)

						c := en.Change
						var freezes, maint []string
						inside := false
						for _, w := range windows {
							applies := w.ServiceID == "" || w.ServiceID == c.ServiceID
							if !applies || !w.Start.Before(c.PlannedEnd) || !w.End.After(c.PlannedStart) {
								continue
							}
							if w.WindowType == transition.WindowFreeze {
								freezes = append(freezes, w.Name)
							} else {
								maint = append(maint, w.Name)
								inside = inside || !w.Start.After(c.PlannedStart) && !w.End.Before(c.PlannedEnd)
							}
						}
						assert.Equal(t, freezes, windowNames(en.Freezes), c.Number)
						assert.Equal(t, maint, windowNames(en.Maintenance), c.Number)
						assert.Equal(t, inside, en.InMaintenance, c.Number)
					}
					if depth == 2 {
						assert.Positive(t, collided, "the fixture has collisions to find")
					}
				}
			}

			cases := []struct {
				name     string
				from, to time.Time
				depth    int
				want     error
			}{
				{"negative depth", week, week.Add(time.Hour), -1, itsm.ErrInvalid},
				{"depth beyond 64", week, week.Add(time.Hour), 65, itsm.ErrInvalid},
				{"to before from", week, week.Add(-time.Hour), 0, itsm.ErrInvalid},
			}
			for _, tc := range cases {
				_, err := plain.CalendarView(ctx, tc.from, tc.to, tc.depth)
				assert.ErrorIs(t, err, tc.want, tc.name)
			}
			noCMDB, err := transition.NewChanges(ctx, st, transition.ChangesConfig{Clock: e.clock})
			require.NoError(t, err)
			_, err = noCMDB.CalendarView(ctx, week, week.Add(time.Hour), 1)
			assert.ErrorIs(t, err, itsm.ErrInvalid)
			empty, err := plain.CalendarView(ctx, week.Add(-1000*time.Hour), week.Add(-999*time.Hour), 2)
			require.NoError(t, err)
			assert.Empty(t, empty.Entries)
		})
	}
}

func windowNames(ws []*transition.ChangeWindow) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Name)
	}
	return out
}
