package design_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/design/calendar"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// Two engines on one store check the same clocks at the same times, at
// once: every warning and every breach is written exactly once, and the
// clocks end as one engine alone leaves them.
func TestTwoEnginesWarnOnce(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			const incidents = 60
			build := func() (fixture, []string) {
				f := newFixtureOn(t, open())
				ids := make([]string, incidents)
				for i := range incidents {
					inc := &incident{ShortDescription: fmt.Sprint("outage ", i), Priority: 1 + i%3}
					require.NoError(t, f.incidents.Create(as(agent), inc, storage.Command{}))
					ids[i] = inc.ID
					f.clock.Advance(7 * time.Minute)
				}
				f.sync(t)
				return f, ids
			}
			// Checks every 20 minutes over three working days.
			var times []time.Time
			for at := monday; at.Before(monday.Add(72 * time.Hour)); at = at.Add(20 * time.Minute) {
				times = append(times, at)
			}

			alone, aloneIDs := build()
			aloneWrites := 0
			for _, at := range times {
				n, err := alone.engine.Check(context.Background(), at)
				require.NoError(t, err)
				aloneWrites += n
			}

			f, ids := build()
			second, err := design.NewEngine(context.Background(), f.store, design.EngineConfig{
				Definitions: []design.Definition{resolutionSLA()}, Calendars: []*calendar.Calendar{officeHours(t)},
				Clock: f.clock, Instance: "second"})
			require.NoError(t, err)
			var wg sync.WaitGroup
			written := make([]int, 2)
			errs := make([]error, 2)
			for i, eng := range []*design.Engine{f.engine, second} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for _, at := range times {
						n, err := eng.Check(context.Background(), at)
						if err != nil {
							errs[i] = err
							return
						}
						written[i] += n
					}
				}()
			}
			wg.Wait()
			require.NoError(t, errs[0])
			require.NoError(t, errs[1])

			checks := 0
			for k, id := range ids {
				c := f.clockOf(t, id, "resolution")
				hist, err := f.engine.Clocks().History(as(agent), c.ID)
				require.NoError(t, err)
				raised := map[int]int{}
				breaches := 0
				for _, ev := range hist {
					if ev.Reason != "sla check" {
						continue
					}
					checks++
					for _, ch := range ev.Changes {
						switch ch.Field {
						case "warnings":
							var from, to []int
							_ = json.Unmarshal([]byte(ch.From), &from)
							require.NoError(t, json.Unmarshal([]byte(ch.To), &to))
							for _, w := range to {
								if !slices.Contains(from, w) {
									raised[w]++
								}
							}
						case "has_breached":
							if ch.To == "true" {
								breaches++
							}
						}
					}
				}
				want := alone.clockOf(t, aloneIDs[k], "resolution")
				for _, w := range want.Warnings {
					assert.Equal(t, 1, raised[w], "clock %d: warning %d%% written %d times", k, w, raised[w])
				}
				assert.Len(t, raised, len(want.Warnings), "clock %d", k)
				assert.Equal(t, want.Warnings, c.Warnings, "clock %d", k)
				assert.Equal(t, want.Breached, c.Breached, "clock %d", k)
				assert.Equal(t, want.BreachedAt, c.BreachedAt, "clock %d", k)
				if want.Breached {
					assert.Equal(t, 1, breaches, "clock %d: breach written %d times", k, breaches)
				}
			}
			assert.Equal(t, checks, written[0]+written[1], "each write counted by the engine that made it")
			assert.Positive(t, aloneWrites)
			t.Logf("%s: %d clock writes by one engine alone; %d + %d by two at once", name, aloneWrites, written[0], written[1])

			// Nothing is left leased.
			left, err := f.store.Query(context.Background(), storage.Query{Kind: design.LeaseKind, Limit: storage.MaxLimit})
			require.NoError(t, err)
			assert.Empty(t, left.Docs)
		})
	}
}

func TestLeaseTTLRefusal(t *testing.T) {
	f := newFixture(t)
	_, err := design.NewEngine(context.Background(), f.store, design.EngineConfig{
		Definitions: []design.Definition{resolutionSLA()}, Calendars: []*calendar.Calendar{officeHours(t)}, LeaseTTL: -time.Second})
	require.ErrorIs(t, err, itsm.ErrInvalid)
	assert.Contains(t, err.Error(), "lease")
}

// Two instances each run Sync and Check in a loop while the desk works: no
// call fails, and the clocks end as one engine alone leaves them.
func TestInstancesSyncAndCheckTogether(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			const n = 24
			// script plays the desk's day: n incidents raised, then each put
			// on hold awaiting the caller, resumed and resolved, 7 minutes
			// apart; after is called after every step.
			script := func(f fixture, after func()) []string {
				ids := make([]string, n)
				for k := range 4 * n {
					f.clock.Advance(7 * time.Minute)
					i := k % n
					switch k / n {
					case 0:
						inc := &incident{ShortDescription: fmt.Sprint("slow ", i), Priority: 1 + i%3}
						require.NoError(t, f.incidents.Create(as(agent), inc, storage.Command{}))
						ids[i] = inc.ID
					case 1:
						f.fire(t, ids[i], "hold", func(x *incident) error { x.HoldReason = "awaiting_caller"; return nil })
					case 2:
						f.fire(t, ids[i], "resume", func(x *incident) error { x.HoldReason = ""; return nil })
					case 3:
						if i%2 == 0 {
							f.fire(t, ids[i], "resolve", nil)
						}
					}
					after()
				}
				return ids
			}
			finish := func(f fixture, engines ...*design.Engine) {
				f.clock.Advance(30 * time.Hour)
				for _, e := range engines {
					_, err := e.Sync(context.Background())
					require.NoError(t, err)
					_, err = e.Check(context.Background(), f.clock.Now())
					require.NoError(t, err)
				}
			}

			alone := newFixtureOn(t, open())
			aloneIDs := script(alone, func() {
				alone.sync(t)
				_, err := alone.engine.Check(context.Background(), alone.clock.Now())
				require.NoError(t, err)
			})
			finish(alone, alone.engine)

			f := newFixtureOn(t, open())
			second, err := design.NewEngine(context.Background(), f.store, design.EngineConfig{
				Definitions: []design.Definition{resolutionSLA()}, Calendars: []*calendar.Calendar{officeHours(t)},
				Clock: f.clock, Instance: "second"})
			require.NoError(t, err)
			engines := []*design.Engine{f.engine, second}
			done := make(chan struct{})
			var wg sync.WaitGroup
			errs := make([]error, len(engines))
			for i, e := range engines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-done:
							return
						default:
						}
						if _, err := e.Sync(context.Background()); err != nil {
							errs[i] = fmt.Errorf("sync: %w", err)
							return
						}
						if _, err := e.Check(context.Background(), f.clock.Now()); err != nil {
							errs[i] = fmt.Errorf("check: %w", err)
							return
						}
						time.Sleep(time.Millisecond)
					}
				}()
			}
			ids := script(f, func() {})
			close(done)
			wg.Wait()
			require.NoError(t, errs[0])
			require.NoError(t, errs[1])
			finish(f, engines...)

			for k := range ids {
				want, got := alone.clockOf(t, aloneIDs[k], "resolution"), f.clockOf(t, ids[k], "resolution")
				assert.Equal(t, want.State, got.State, "clock %d", k)
				assert.Equal(t, want.Warnings, got.Warnings, "clock %d", k)
				assert.Equal(t, want.Breached, got.Breached, "clock %d", k)
				assert.Equal(t, want.BreachedAt, got.BreachedAt, "clock %d", k)
				assert.Equal(t, want.StartTime, got.StartTime, "clock %d", k)
				assert.Equal(t, want.StopTime, got.StopTime, "clock %d", k)
				assert.Equal(t, want.ElapsedBefore, got.ElapsedBefore, "clock %d", k)
				assert.Equal(t, want.DueAt, got.DueAt, "clock %d", k)
				require.NoError(t, f.engine.Clocks().Verify(as(agent), got.ID))
			}
			cp, err := second.Checkpoint(context.Background())
			require.NoError(t, err)
			last, err := f.store.ReadEvents(context.Background(), cp, 1000)
			require.NoError(t, err)
			for _, ev := range last {
				assert.Equal(t, design.ClockKind, ev.Kind, "only the clocks' own events are left after the checkpoint")
			}
		})
	}
}

// TestCheckRefusalLeavesNoLease: a check at a time no calendar can
// evaluate (issue 18: year 9999 returned ErrInvalid but left a lease
// written) is refused before anything is written.
func TestCheckRefusalLeavesNoLease(t *testing.T) {
	tests := []struct {
		name string
		now  time.Time
	}{
		{"year 9999", time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"after the horizon", time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"before the horizon", time.Date(2019, 12, 31, 0, 0, 0, 0, time.UTC)},
		{"zero time", time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			for p := 1; p <= 3; p++ {
				require.NoError(t, f.incidents.Create(as(agent), &incident{ShortDescription: "x", Priority: p}, storage.Command{}))
			}
			f.sync(t)
			before := takeSnapshot(t, f.store, fixtureKinds...)
			require.NotEmpty(t, before.Docs[design.ClockKind])
			n, err := f.engine.Check(context.Background(), tc.now)
			require.ErrorIs(t, err, itsm.ErrInvalid)
			assert.Zero(t, n)
			assert.Equal(t, before, takeSnapshot(t, f.store, fixtureKinds...))
		})
	}
}

// TestCheckFailureGivesLeasesBack: an engine that meets a clock it cannot
// evaluate (its calendar answers only up to 2026, the check is in 2027)
// fails the check, and leaves no lease behind on the clocks it claimed.
func TestCheckFailureGivesLeasesBack(t *testing.T) {
	other := resolutionSLA()
	other.ID, other.Type = "other", design.OLA // two SLAs would overlap
	f := newFixture(t, resolutionSLA(), other)
	require.NoError(t, f.incidents.Create(as(agent), &incident{ShortDescription: "x", Priority: 1}, storage.Command{}))
	f.sync(t)
	// The office calendar (seeded from the code as a record) is narrowed
	// to end with 2026, and the running clocks recomputed on it.
	short := calendar.Spec{Name: "office", TimeZone: "UTC", FromYear: 2020, ToYear: 2026,
		Hours: map[string][]string{"mon": {"09:00-17:00"}}}
	_, n, err := f.engine.SaveCalendar(as(agent), short, design.RecomputeClocks, storage.Command{})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	_, err = f.engine.Check(context.Background(), time.Date(2027, 1, 5, 9, 0, 0, 0, time.UTC))
	require.ErrorIs(t, err, itsm.ErrInvalid)
	assert.Empty(t, takeSnapshot(t, f.store, design.LeaseKind).Docs[design.LeaseKind])
}
