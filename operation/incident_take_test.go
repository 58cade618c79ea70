package operation_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
)

func TestTakeIncident(t *testing.T) {
	carol := itsm.Actor{ID: "carol", Roles: []string{"agent"}, Groups: []string{"network"}} // not in the Directory's network
	tests := []struct {
		name     string
		setup    func(t *testing.T, f fixture, id string)
		who      itsm.Actor
		group    string
		reassign bool
		sentinel error  // nil: taken
		field    string // the ValidationError's field, when invalid
		state    string // after a take
		count    int    // reassignment count after a take
		events   []string
	}{
		{name: "unassigned new incident: assigned and started", who: ann, group: "network",
			state: operation.StateInProgress, events: []string{itsm.EventUpdate, operation.EventStart}},
		{name: "in progress with the group: assigned only", who: bob, group: "network",
			setup: func(t *testing.T, f fixture, id string) {
				_, err := f.desk.StartIncident(as(ann), id, storage.Command{})
				require.NoError(t, err)
			},
			state: operation.StateInProgress, events: []string{itsm.EventUpdate}},
		{name: "already mine and new: started", who: ann, group: "network",
			setup: func(t *testing.T, f fixture, id string) { assign(t, f, id, "network", "ann") },
			state: operation.StateInProgress, events: []string{operation.EventStart}},
		{name: "held by another", who: bob, group: "network", sentinel: itsm.ErrConflict,
			setup: func(t *testing.T, f fixture, id string) { assign(t, f, id, "network", "ann") }},
		{name: "held by another, reassign", who: bob, group: "network", reassign: true,
			setup: func(t *testing.T, f fixture, id string) { assign(t, f, id, "network", "ann") },
			state: operation.StateInProgress, count: 1, events: []string{itsm.EventUpdate, operation.EventStart}},
		{name: "not in the group: may not even read it", who: eve, group: "network", sentinel: itsm.ErrForbidden},
		{name: "the Directory decides over the actor's groups", who: carol, group: "network", sentinel: itsm.ErrInvalid, field: "assigned_to"},
		{name: "no assignment group", who: ann, sentinel: itsm.ErrInvalid, field: "assignment_group"},
		{name: "resolved incident", who: ann, group: "network", sentinel: itsm.ErrInvalidTransition,
			setup: func(t *testing.T, f fixture, id string) {
				_, err := f.desk.ResolveIncident(as(ann), id, operation.ResolvedRemotely, "done", storage.Command{})
				require.NoError(t, err)
			}},
		{name: "no actor", who: itsm.Actor{}, group: "network", sentinel: itsm.ErrForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			inc := f.open(t, func(i *operation.Incident) { i.AssignmentGroup = tt.group })
			if tt.setup != nil {
				tt.setup(t, f, inc.ID)
			}
			ctx := context.Background()
			if tt.who.ID != "" {
				ctx = as(tt.who)
			}
			before := f.snapshot(t)
			got, err := f.desk.TakeIncident(ctx, inc.ID, tt.reassign, storage.Command{})
			if tt.sentinel != nil {
				require.ErrorIs(t, err, tt.sentinel)
				if tt.field != "" {
					var ve *itsm.ValidationError
					require.ErrorAs(t, err, &ve)
					assert.Contains(t, ve.Fields, tt.field)
				}
				assert.Equal(t, before, f.snapshot(t), "a refused take writes nothing")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.who.ID, got.AssignedTo)
			assert.Equal(t, tt.state, got.State)
			assert.Equal(t, tt.count, got.ReassignmentCount)
			stored, err := f.desk.Incidents().Get(as(reader), inc.ID)
			require.NoError(t, err)
			assert.Equal(t, got.Version, stored.Version)
			assert.Equal(t, tt.who.ID, stored.AssignedTo)
			after := f.snapshot(t)
			var names []string
			for _, ev := range after.events[len(before.events):] {
				names = append(names, ev.Name)
			}
			assert.Equal(t, tt.events, names)
		})
	}
}

func assign(t *testing.T, f fixture, id, group, person string) {
	t.Helper()
	_, err := f.desk.AssignIncident(as(ann), id, group, person, storage.Command{})
	require.NoError(t, err)
}

// TestTakeIncidentRace has two agents press Take on one incident at once,
// on the memory and the SQLite store: exactly one is told success, the
// other gets ErrConflict, and the one told success owns the incident.
func TestTakeIncidentRace(t *testing.T) {
	stores := map[string]func(testing.TB) storage.Backend{"memory": newStore, "sqlite": openSQLite}
	for name, mk := range stores {
		t.Run(name, func(t *testing.T) {
			if name == "sqlite" && testing.Short() {
				t.Skip("short")
			}
			prev := newStore
			newStore = mk
			defer func() { newStore = prev }()
			f := newFixture(t)
			for try := range 10 {
				inc := f.open(t, func(i *operation.Incident) { i.AssignmentGroup = "network" })
				var wg sync.WaitGroup
				errs := make([]error, 2)
				agents := []itsm.Actor{ann, bob}
				start := make(chan struct{})
				for i, a := range agents {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						_, errs[i] = f.desk.TakeIncident(as(a), inc.ID, false, storage.Command{})
					}()
				}
				close(start)
				wg.Wait()
				var winner string
				for i, err := range errs {
					if err == nil {
						require.Empty(t, winner, "try %d: both agents were told success", try)
						winner = agents[i].ID
						continue
					}
					require.ErrorIs(t, err, itsm.ErrConflict, "try %d", try)
				}
				require.NotEmpty(t, winner, "try %d: nobody took it: %v", try, errors.Join(errs...))
				got, err := f.desk.Incidents().Get(as(reader), inc.ID)
				require.NoError(t, err)
				assert.Equal(t, winner, got.AssignedTo, "try %d: the one told success owns it", try)
				assert.Equal(t, operation.StateInProgress, got.State)
				assert.Equal(t, 0, got.ReassignmentCount)
			}
		})
	}
}
