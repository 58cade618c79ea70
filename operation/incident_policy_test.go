package operation_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
)

// TestPolicyIsPerDesk runs two desks with different policies side by side:
// what one host adds (a resolution code, a hold reason, an open state)
// does not leak into the other, and neither re-lists the defaults.
func TestPolicyIsPerDesk(t *testing.T) {
	custom := operation.IncidentPolicy{
		ExtraResolutionCodes: []string{"solved_by_vendor"},
		ExtraHoldReasons:     []string{"awaiting_parts"},
		ExtraOpenStates:      []string{"triage"},
	}
	lc := operation.IncidentLifecycle(custom).States("triage").Event("triage", "triage", operation.StateNew)
	hosted := newFixture(t, func(c *operation.Config) { c.Incident, c.IncidentLifecycle = custom, lc })
	plain := newFixture(t)

	tests := []struct {
		name       string
		f          fixture
		code       string
		hold       string
		wantCode   bool
		wantHold   bool
		triageOpen bool
	}{
		{"host's additions", hosted, "solved_by_vendor", "awaiting_parts", true, true, true},
		{"defaults kept beside them", hosted, operation.ResolvedRemotely, operation.HoldAwaitingVendor, true, true, true},
		{"other desk keeps only the defaults", plain, "solved_by_vendor", "awaiting_parts", false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.triageOpen, tt.f.desk.IsOpen(&operation.Incident{Record: itsm.Record{State: "triage"}}))
			assert.True(t, tt.f.desk.IsOpen(&operation.Incident{Record: itsm.Record{State: operation.StateOnHold}}))
			assert.False(t, tt.f.desk.IsOpen(&operation.Incident{Record: itsm.Record{State: operation.StateResolved}}))

			inc := tt.f.open(t)
			_, err := tt.f.desk.HoldIncident(as(ann), inc.ID, tt.hold, storage.Command{})
			if tt.wantHold {
				require.NoError(t, err)
			} else {
				requireField(t, err, "hold_reason")
			}
			_, err = tt.f.desk.ResolveIncident(as(ann), inc.ID, tt.code, "done", storage.Command{})
			if tt.wantCode {
				require.NoError(t, err)
			} else {
				requireField(t, err, "resolution_code")
			}
		})
	}
	// The added open state is one the lifecycle's events leave.
	inc := hosted.open(t, func(i *operation.Incident) { i.AssignmentGroup, i.AssignedTo = "network", "ann" })
	got, err := hosted.desk.Incidents().Fire(as(ann), inc.ID, "triage", storage.Command{}, nil)
	require.NoError(t, err)
	assert.True(t, hosted.desk.IsOpen(got))
	_, err = hosted.desk.CancelIncident(as(ann), inc.ID, storage.Command{Reason: "duplicate"})
	require.NoError(t, err)

	_, err = operation.New(context.Background(), newStore(t), operation.Config{
		Incident: operation.IncidentPolicy{ExtraOpenStates: []string{"Not Valid"}}})
	require.ErrorIs(t, err, itsm.ErrInvalid)
}

// requireField asserts a guard refusal that keeps its type: it matches
// ErrInvalidTransition and ErrInvalid, and its *itsm.ValidationError names
// the field.
func requireField(t *testing.T, err error, field string) {
	t.Helper()
	require.ErrorIs(t, err, itsm.ErrInvalidTransition)
	require.ErrorIs(t, err, itsm.ErrInvalid)
	var ve *itsm.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Contains(t, ve.Fields, field)
}

// TestGuardRefusalsKeepTheirType: a refusal for a missing or unknown field
// is the same kind of error whichever command meets it.
func TestGuardRefusalsKeepTheirType(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name  string
		field string
		run   func(id string) error
	}{
		{"cancel without a reason", "reason", func(id string) error {
			_, err := f.desk.CancelIncident(as(ann), id, storage.Command{Reason: "  "})
			return err
		}},
		{"hold with an unknown reason", "hold_reason", func(id string) error {
			_, err := f.desk.HoldIncident(as(ann), id, "lunch", storage.Command{})
			return err
		}},
		{"resolve without notes", "resolution_notes", func(id string) error {
			_, err := f.desk.ResolveIncident(as(ann), id, operation.ResolvedRemotely, "", storage.Command{})
			return err
		}},
		{"reject major without a reason", "reason", func(id string) error {
			if _, err := f.desk.ProposeMajor(as(ann), id, storage.Command{}); err != nil {
				return err
			}
			_, err := f.desk.RejectMajor(as(dora), id, storage.Command{})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inc := f.open(t)
			before := f.snapshot(t)
			err := tt.run(inc.ID)
			requireField(t, err, tt.field)
			var te *itsm.TransitionError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, inc.Number, te.Number)
			if tt.field != "reason" || tt.name == "cancel without a reason" {
				assert.Equal(t, len(before.events), len(f.snapshot(t).events), "nothing written")
			}
		})
	}
}

// TestImportedHistoryIsFact: a reopen row outside the reopen window, from
// another tool's history, is imported; the same row as a live (or strict)
// transition is refused by the window.
func TestImportedHistoryIsFact(t *testing.T) {
	policy := operation.IncidentPolicy{ReopenWindow: 30 * 24 * time.Hour}
	lc := operation.IncidentLifecycle(policy).NotFinal(operation.StateClosed).
		Event(operation.EventReopen, operation.StateInProgress, operation.StateClosed)
	f := newFixture(t, func(c *operation.Config) { c.Incident, c.IncidentLifecycle = policy, lc })
	day := 24 * time.Hour
	now := t0.Add(400 * day)
	f.clock.Set(now)
	closedAt := now.Add(-60 * day)
	in := operation.ImportIncident{
		Ref:      "OLD-1",
		Incident: operation.Incident{ShortDescription: "Printer jams", CallerID: "carl", Impact: 3, Urgency: 3},
		OpenedAt: closedAt.Add(-2 * day), OpenedBy: "jane",
		History: []operation.ImportRow{
			{At: closedAt.Add(-day), Actor: "ann", State: "Resolved", ResolutionCode: operation.ResolvedPermanently, ResolutionNotes: "new drum"},
			{At: closedAt, Actor: "carl", State: "Closed"},
			{At: closedAt.Add(40 * day), Actor: "carl", State: "Work in progress", Reason: "jams again"},
		},
	}
	res, err := f.desk.ImportIncidents(as(migrate), []operation.ImportIncident{in}, jiraStates)
	require.NoError(t, err)
	require.Empty(t, res.Errors)
	require.Equal(t, 1, res.Imported)
	got, _, err := f.desk.Incidents().Query(as(reader), storage.Query{Kind: operation.KindIncident})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, operation.StateInProgress, got[0].State)
	assert.Equal(t, 1, got[0].ReopenCount)

	// Through the desk's commands: a backdated reopen 38 days after a
	// backdated close is history; with Command.Strict it is held to the
	// window like a live one, and nothing is written.
	f.clock.Set(now.Add(100 * day))
	id := got[0].ID
	at := func(d int) storage.Command { return storage.Command{At: closedAt.Add(time.Duration(d) * day)} }
	_, err = f.desk.ResolveIncident(as(migrate), id, operation.ResolvedPermanently, "new drum again", at(41))
	require.NoError(t, err)
	_, err = f.desk.CloseIncident(as(migrate), id, at(42))
	require.NoError(t, err)
	strict := at(80)
	strict.Strict = true
	before := f.snapshot(t)
	_, err = f.desk.ReopenIncident(as(migrate), id, strict)
	require.ErrorIs(t, err, itsm.ErrInvalidTransition)
	assert.Equal(t, before, f.snapshot(t))
	reopened, err := f.desk.ReopenIncident(as(migrate), id, at(80))
	require.NoError(t, err)
	assert.Equal(t, 2, reopened.ReopenCount)

	// The guard itself: an import row passes, a strict import row and a
	// live command are held to the window measured from closure.
	m, err := lc.Compile()
	require.NoError(t, err)
	closed := &operation.Incident{Record: itsm.Record{State: operation.StateClosed}, ResolvedAt: closedAt.Add(-day), ClosedAt: closedAt}
	for _, tt := range []struct {
		name string
		tr   itsm.Transition
		ok   bool
	}{
		{"import", itsm.Transition{Import: true}, true},
		{"strict import", itsm.Transition{Import: true, Strict: true}, false},
		{"live", itsm.Transition{}, false},
		{"live within the window", itsm.Transition{At: closedAt.Add(29 * day)}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := tt.tr
			tr.Event, tr.From = operation.EventReopen, operation.StateClosed
			if tr.At.IsZero() {
				tr.At = closedAt.Add(40 * day)
			}
			_, err := m.Decide(context.Background(), closed, tr)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			var te *itsm.TransitionError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, "within_reopen_window", te.Guard)
			assert.False(t, errors.Is(err, itsm.ErrInvalid))
		})
	}
}
