package operation_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
)

// jiraStates maps a Jira Service Management workflow to Pillars states.
var jiraStates = operation.StateMap{
	"Open": "new", "Work in progress": "in_progress", "Waiting for customer": "on_hold",
	"Pending": "on_hold", "Resolved": "resolved", "Closed": "closed", "Canceled": "canceled",
}

// history builds an incident opened at base with six history rows:
// assign, start, hold, resume, resolve, close.
func history(ref string, base time.Time) operation.ImportIncident {
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	return operation.ImportIncident{
		Ref:      ref,
		Incident: operation.Incident{ShortDescription: "Imported " + ref, CallerID: "carl", Impact: 2, Urgency: 2},
		OpenedAt: base, OpenedBy: "jane",
		History: []operation.ImportRow{
			{At: at(5), Actor: "jane", AssignmentGroup: "network", AssignedTo: "ann"},
			{At: at(10), Actor: "ann", State: "Work in progress"},
			{At: at(20), Actor: "ann", State: "Waiting for customer", HoldReason: operation.HoldAwaitingCaller},
			{At: at(30), Actor: "ann", State: "Work in progress"},
			{At: at(40), Actor: "ann", State: "Resolved", ResolutionCode: operation.ResolvedPermanently, ResolutionNotes: "fixed"},
			{At: at(50), Actor: "carl", State: "Closed"},
		},
	}
}

func TestImportIncidents(t *testing.T) {
	f := newFixture(t)
	f.clock.Set(t0.Add(365 * 24 * time.Hour))
	good := history("JSM-1", t0)
	good.Incident.Number = "INC0100001"
	reopened := history("JSM-2", t0.Add(time.Hour))
	reopened.History = append(reopened.History[:5],
		operation.ImportRow{At: t0.Add(2 * time.Hour), Actor: "carl", State: "Work in progress", Reason: "still broken"},
		operation.ImportRow{At: t0.Add(3 * time.Hour), Actor: "ann", State: "Resolved", ResolutionCode: operation.ResolvedWorkaround, ResolutionNotes: "again"})
	badResolve := history("JSM-3", t0)
	badResolve.History[4].ResolutionCode = ""
	badState := history("JSM-4", t0)
	badState.History[2].State = "Sleeping"
	badJump := history("JSM-5", t0)
	badJump.History = badJump.History[:1]
	badJump.History = append(badJump.History, operation.ImportRow{At: t0.Add(time.Hour), State: "Closed"})
	badOrder := history("JSM-6", t0)
	badOrder.History[3].At = t0
	badImpact := history("JSM-7", t0)
	badImpact.Incident.Impact = 9

	before := f.snapshot(t)
	res, err := f.desk.ImportIncidents(as(migrate), []operation.ImportIncident{good, badResolve, reopened, badState, badJump, badOrder, badImpact}, jiraStates)
	require.NoError(t, err)
	// JSM-6's rows out of order are sorted by time and imported.
	assert.Equal(t, 3, res.Imported)
	require.Len(t, res.Errors, 4)
	want := []struct {
		ref      string
		row      int
		rule     string
		sentinel error
	}{{"JSM-3", 5, "resolution_code_and_notes", itsm.ErrInvalidTransition}, {"JSM-4", 3, "state_map", itsm.ErrInvalid},
		{"JSM-5", 2, "resolution_code_and_notes", itsm.ErrInvalidTransition}, {"JSM-7", 0, "record", itsm.ErrInvalid}}
	for i, w := range want {
		e := res.Errors[i]
		assert.Equal(t, w.ref, e.Record)
		assert.Equal(t, w.row, e.Row, w.ref)
		assert.Equal(t, w.rule, e.Rule, w.ref)
		require.ErrorIs(t, e, w.sentinel, w.ref)
		assert.Contains(t, e.Error(), w.ref)
	}
	var ie *operation.ImportError
	require.ErrorAs(t, res.Err(), &ie)
	// Only the good incidents were written: 1+6, 1+7 and 1+5 events (JSM-6's
	// second "Work in progress" row repeats the state: no event).
	after := f.snapshot(t)
	assert.Len(t, after.docs[operation.KindIncident], len(before.docs[operation.KindIncident])+3)
	assert.Len(t, after.events, len(before.events)+7+8+6)

	incs, _, err := f.desk.Incidents().Query(as(reader), storage.Query{})
	require.NoError(t, err)
	require.Len(t, incs, 3)
	byRef := map[string]*operation.Incident{}
	for _, i := range incs {
		byRef[i.ShortDescription] = i
	}
	g := byRef["Imported JSM-1"]
	assert.Equal(t, "INC0100001", g.Number, "the foreign number is kept")
	assert.Equal(t, operation.StateClosed, g.State)
	assert.Equal(t, t0, g.CreatedAt)
	assert.Equal(t, t0.Add(10*time.Minute), g.FirstResponseAt)
	assert.Equal(t, t0.Add(40*time.Minute), g.ResolvedAt)
	assert.Equal(t, t0.Add(50*time.Minute), g.ClosedAt)
	assert.Equal(t, "jane", g.OpenedBy)
	evs, err := f.desk.Incidents().History(as(reader), g.ID)
	require.NoError(t, err)
	var trail []string
	for _, e := range evs {
		trail = append(trail, fmt.Sprintf("%s@%s by %s", e.Name, e.At.Sub(t0), e.Actor))
	}
	assert.Equal(t, []string{"create@0s by jane", "update@5m0s by jane", "start@10m0s by ann", "hold@20m0s by ann",
		"resume@30m0s by ann", "resolve@40m0s by ann", "close@50m0s by carl"}, trail)
	require.NoError(t, f.desk.Incidents().Verify(as(reader), g.ID))
	r := byRef["Imported JSM-2"]
	assert.Equal(t, 1, r.ReopenCount)
	assert.Equal(t, operation.StateResolved, r.State)
}

func TestImportRefusals(t *testing.T) {
	f := newFixture(t)
	f.clock.Set(t0.Add(24 * time.Hour))
	inc := []operation.ImportIncident{history("X-1", t0)}
	_, err := f.desk.ImportIncidents(as(ann), inc, jiraStates)
	require.ErrorIs(t, err, itsm.ErrForbidden, "agents do not import")
	_, err = f.desk.ImportIncidents(as(migrate), inc, operation.StateMap{"Open": "sleeping"})
	require.ErrorIs(t, err, itsm.ErrInvalid, "a map to an unknown state")
	future := history("X-2", t0.Add(48*time.Hour))
	res, err := f.desk.ImportIncidents(as(migrate), []operation.ImportIncident{future, {Ref: "X-3"}}, jiraStates)
	require.NoError(t, err)
	require.Len(t, res.Errors, 2)
	assert.True(t, errors.Is(res.Errors[0], itsm.ErrInvalid), "occurrence in the future: %v", res.Errors[0])
	assert.True(t, errors.Is(res.Errors[1], itsm.ErrInvalid), "no opened_at: %v", res.Errors[1])
	assert.Empty(t, f.snapshot(t).events)
}

// A refused incident in the middle of a batch costs the batch nothing: the
// others are imported whole, it alone is reported.
func TestImportBatchFallback(t *testing.T) {
	f := newFixture(t)
	f.clock.Set(t0.Add(365 * 24 * time.Hour))
	n := operation.ImportBatchSize*2 + 7
	incs := importBatch(n, t0)
	bad := operation.ImportBatchSize + 3
	incs[bad].History[4].ResolutionNotes = ""
	res, err := f.desk.ImportIncidents(as(migrate), incs, jiraStates)
	require.NoError(t, err)
	assert.Equal(t, n-1, res.Imported)
	require.Len(t, res.Errors, 1)
	assert.Equal(t, incs[bad].Ref, res.Errors[0].Record)
	assert.Equal(t, 5, res.Errors[0].Row)
	snap := f.snapshot(t)
	assert.Len(t, snap.docs[operation.KindIncident], n-1)
	assert.Len(t, snap.events, (n-1)*7)
}
