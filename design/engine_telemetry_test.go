package design_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/design/calendar"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// slaSpy is an observer that records the SLA thresholds reported.
type slaSpy struct {
	mu      sync.Mutex
	reached []int
}

func (s *slaSpy) Command(ctx context.Context, _ storage.CommandInfo) (context.Context, func(storage.CommandResult)) {
	return ctx, func(storage.CommandResult) {}
}

func (s *slaSpy) SLAReached(_ context.Context, def string, threshold int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if def == resolutionSLA().ID {
		s.reached = append(s.reached, threshold)
	}
}

// TestCheckReportsWarningsAndBreaches: an engine whose Telemetry is an
// SLAObserver is told of every warning and the breach Check raises, once.
func TestCheckReportsWarningsAndBreaches(t *testing.T) {
	f := newFixture(t)
	spy := &slaSpy{}
	eng, err := design.NewEngine(context.Background(), f.store, design.EngineConfig{Definitions: []design.Definition{resolutionSLA()},
		Calendars: []*calendar.Calendar{officeHours(t)}, Clock: f.clock, Telemetry: spy})
	require.NoError(t, err)
	inc := &incident{ShortDescription: "vpn down", Priority: 1}
	require.NoError(t, f.incidents.Create(as(agent), inc, storage.Command{}))
	f.sync(t)
	f.clock.Advance(6 * time.Hour)
	_, err = eng.Check(context.Background(), f.clock.Now())
	require.NoError(t, err)
	_, err = eng.Check(context.Background(), f.clock.Now().Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, []int{50, 75, 90, 0}, spy.reached)
}

// clockConflicts fails the next n units of work that write an SLA clock
// with a version conflict after they ran (nothing of them is kept), as a
// concurrent writer would at commit: Sync runs the batch again.
type clockConflicts struct {
	storage.Backend
	n   atomic.Int32 // conflicts still to raise
	met atomic.Int32 // conflicts raised
}

func (c *clockConflicts) Update(ctx context.Context, fn func(storage.Tx) error) error {
	return c.Backend.Update(ctx, func(tx storage.Tx) error {
		w := &clockWrites{Tx: tx}
		if err := fn(w); err != nil {
			return err
		}
		if w.clocks > 0 && c.n.Load() > 0 {
			c.n.Add(-1)
			c.met.Add(1)
			return &itsm.ConflictError{Kind: design.ClockKind, ID: "sync", Expected: 1, Actual: 2}
		}
		return nil
	})
}

type clockWrites struct {
	storage.Tx
	clocks int
}

func (w *clockWrites) Put(ctx context.Context, d storage.Document, expected int64) error {
	if d.Kind == design.ClockKind {
		w.clocks++
	}
	return w.Tx.Put(ctx, d, expected)
}

// TestSyncReportsWarningsAndBreaches: the warnings and the breach a
// clock reaches on Sync's replay of the record's events (a record
// resolved late, with or without Check having run meanwhile) are reported
// once: not again for what Check reported, nor when Sync runs again with
// nothing new, nor when a batch is run again after a conflict.
func TestSyncReportsWarningsAndBreaches(t *testing.T) {
	for _, tc := range []struct {
		name      string
		check     bool  // Check runs 3 hours in (of a 4-hour target), before the resolve
		conflicts int32 // units writing a clock that conflict on the last Sync
		want      []int
		byCheck   []int // what Check reported
	}{
		{name: "sync alone", want: []int{50, 75, 90, 0}},
		{name: "check first", check: true, want: []int{50, 75, 90, 0}, byCheck: []int{50, 75}},
		{name: "batch run again after a conflict", conflicts: 1, want: []int{50, 75, 90, 0}},
		{name: "check first, batch run again", check: true, conflicts: 2, want: []int{50, 75, 90, 0}, byCheck: []int{50, 75}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			spy := &slaSpy{}
			store := &clockConflicts{Backend: f.store}
			eng, err := design.NewEngine(context.Background(), store, design.EngineConfig{Definitions: []design.Definition{resolutionSLA()},
				Calendars: []*calendar.Calendar{officeHours(t)}, Clock: f.clock, Telemetry: spy})
			require.NoError(t, err)
			sync := func() {
				t.Helper()
				_, err := eng.Sync(context.Background())
				require.NoError(t, err)
			}
			inc := &incident{ShortDescription: "vpn down", Priority: 1}
			require.NoError(t, f.incidents.Create(as(agent), inc, storage.Command{}))
			sync()
			assert.Empty(t, spy.reached, "a clock just started has reached nothing")
			f.clock.Advance(3 * time.Hour)
			if tc.check {
				_, err = eng.Check(context.Background(), f.clock.Now())
				require.NoError(t, err)
				assert.Equal(t, tc.byCheck, spy.reached)
			}
			f.clock.Advance(5 * time.Hour)
			f.fire(t, inc.ID, "resolve", nil)
			store.n.Store(tc.conflicts)
			sync()
			assert.Equal(t, tc.conflicts, store.met.Load(), "the conflicts were met")
			assert.Equal(t, tc.want, spy.reached)
			c := f.clockOf(t, inc.ID, resolutionSLA().ID)
			assert.True(t, c.Breached)
			assert.Equal(t, []int{50, 75, 90}, c.Warnings)

			sync()
			f.clock.Advance(time.Hour)
			_, err = eng.Check(context.Background(), f.clock.Now())
			require.NoError(t, err)
			assert.Equal(t, tc.want, spy.reached, "nothing new to report")
		})
	}
}
