package design_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/design/calendar"
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
