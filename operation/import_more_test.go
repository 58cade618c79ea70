package operation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
)

// importedBy reads the incidents of the store by their source key, with
// the names of their events.
func importedBy(t *testing.T, f fixture) map[string]string {
	t.Helper()
	incs, err := f.desk.Incidents().All(as(reader), storage.Query{})
	require.NoError(t, err)
	out := map[string]string{}
	for _, i := range incs {
		require.NotEmpty(t, i.SourceKey, i.Number)
		evs, err := f.desk.Incidents().History(as(reader), i.ID)
		require.NoError(t, err)
		trail := ""
		for _, e := range evs {
			trail += fmt.Sprintf(" %s@%s/%s", e.Name, e.At.Format(time.TimeOnly), e.Actor)
		}
		out[i.SourceKey] = fmt.Sprintf("%s %s reopen=%d reassign=%d prio=%d resolved=%s closed=%s notes=%d/%d%s", i.Number, i.State,
			i.ReopenCount, i.ReassignmentCount, i.Priority, i.ResolvedAt.Format(time.TimeOnly), i.ClosedAt.Format(time.TimeOnly),
			len(i.Comments), len(i.WorkNotes), trail)
		require.NoError(t, f.desk.Incidents().Verify(as(reader), i.ID))
	}
	return out
}

func TestImportIsIdempotent(t *testing.T) {
	f := newFixture(t)
	f.clock.Set(t0.Add(365 * 24 * time.Hour))
	incs := importBatch(12, t0)
	opts := operation.ImportOptions{States: jiraStates, Source: "jsm", BatchSize: 5}
	rep, err := f.desk.Import(as(migrate), incs, opts)
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	assert.Equal(t, 12, rep.Imported)
	assert.Equal(t, 12*7, rep.Events)
	first := f.snapshot(t)
	want := importedBy(t, f)

	// The same source again: skipped, nothing written.
	rep, err = f.desk.Import(as(migrate), incs, opts)
	require.NoError(t, err)
	assert.Equal(t, operation.ImportReport{Skipped: 12}, rep)
	assert.Equal(t, first, f.snapshot(t))

	// Changed content under the same key: a per-record conflict unless
	// update was chosen; the others are still skipped.
	changed := importBatch(12, t0)
	changed[3].History = append(changed[3].History, operation.ImportRow{At: t0.Add(2 * time.Hour), Actor: "carl", State: "Work in progress",
		Comment: "it is back"})
	changed[4].History[1].Actor = "bob" // an old row rewritten
	rep, err = f.desk.Import(as(migrate), changed, opts)
	require.NoError(t, err)
	assert.Equal(t, 10, rep.Skipped)
	require.Len(t, rep.Errors, 2)
	for _, e := range rep.Errors {
		assert.Equal(t, "source_key", e.Rule)
		require.ErrorIs(t, e, itsm.ErrConflict)
	}
	assert.Equal(t, first, f.snapshot(t))

	// Update: JSM-3's new row is applied (a reopen of a closed incident,
	// long outside the reopen window); JSM-4's rewritten row is earlier
	// than its newest event and refused, naming the row.
	opts.Mode = operation.ImportUpdate
	rep, err = f.desk.Import(as(migrate), changed, opts)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Updated)
	assert.Equal(t, 2, rep.Events, "reopen and the comment")
	require.Len(t, rep.Errors, 5, "each of JSM-4's rows before its newest event")
	for n, e := range rep.Errors {
		assert.Equal(t, "JSM-4", e.Record)
		assert.Equal(t, "order", e.Rule)
		assert.Equal(t, n+1, e.Row)
	}
	got := importedBy(t, f)
	assert.Contains(t, got["jsm:JSM-3"], "in_progress reopen=1")
	assert.Contains(t, got["jsm:JSM-3"], "reopen@11:00:00/carl update@11:00:00/carl")
	assert.Equal(t, want["jsm:JSM-4"], got["jsm:JSM-4"])

	// And again: nothing new.
	rep, err = f.desk.Import(as(migrate), changed[:4], opts)
	require.NoError(t, err)
	assert.Equal(t, 4, rep.Skipped)
	assert.Empty(t, rep.Errors)
}

// A large import stopped midway and run again ends where one run ends,
// with nothing applied twice.
func TestImportResumes(t *testing.T) {
	incs := importBatch(37, t0)
	incs[25].History[4].ResolutionNotes = "" // refused both times
	opts := operation.ImportOptions{States: jiraStates, BatchSize: 10}

	once := newFixture(t)
	once.clock.Set(t0.Add(365 * 24 * time.Hour))
	rep, err := once.desk.Import(as(migrate), incs, opts)
	require.NoError(t, err)
	require.Len(t, rep.Errors, 1)
	want := importedBy(t, once)

	f := newFixture(t)
	f.clock.Set(t0.Add(365 * 24 * time.Hour))
	ctx, cancel := context.WithCancel(as(migrate))
	stopped := opts
	stopped.Progress = func(done int) {
		if done >= 20 {
			cancel()
		}
	}
	rep, err = f.desk.Import(ctx, incs, stopped)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 20, rep.Imported, "two batches")
	rep, err = f.desk.Import(as(migrate), incs, opts)
	require.NoError(t, err)
	assert.Equal(t, 20, rep.Skipped)
	assert.Equal(t, 16, rep.Imported, "17 left, one refused")
	require.Len(t, rep.Errors, 1)
	assert.Equal(t, want, importedBy(t, f))
	assert.Len(t, f.snapshot(t).events, len(once.snapshot(t).events))
}

func TestImportDryRunWritesNothing(t *testing.T) {
	f := newFixture(t)
	f.clock.Set(t0.Add(365 * 24 * time.Hour))
	incs := importBatch(8, t0)
	incs[2].History[2].State = "Sleeping"
	incs[2].History[4].ResolutionCode = "" // two bad rows of one incident: both reported
	incs[5].OpenedAt = time.Time{}
	before := f.snapshot(t)
	dry, err := f.desk.Import(as(migrate), incs, operation.ImportOptions{States: jiraStates, DryRun: true})
	require.NoError(t, err)
	assert.Equal(t, before, f.snapshot(t), "a dry run writes nothing")
	require.Len(t, dry.Errors, 3)
	assert.Equal(t, []string{"state_map", "resolution_code_and_notes"}, []string{dry.Errors[0].Rule, dry.Errors[1].Rule})
	assert.Equal(t, []int{3, 5}, []int{dry.Errors[0].Row, dry.Errors[1].Row})
	assert.Equal(t, "time", dry.Errors[2].Rule)
	var ies operation.ImportErrors
	require.ErrorAs(t, dry.Err(), &ies)
	assert.Len(t, ies, 3)

	real, err := f.desk.Import(as(migrate), incs, operation.ImportOptions{States: jiraStates})
	require.NoError(t, err)
	assert.Equal(t, dry.Imported, real.Imported)
	assert.Equal(t, dry.Events, real.Events)
	assert.Equal(t, len(dry.Errors), len(real.Errors))
}

// History is fact: what the other tool recorded is imported as it
// happened, in time order.
func TestImportHistoryAsRecorded(t *testing.T) {
	f := newFixture(t)
	f.clock.Set(t0.Add(3 * 365 * 24 * time.Hour))
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	states := operation.StateMap{"Open": "new", "Work in progress": "in_progress", "Waiting for vendor": "on_hold:awaiting_vendor",
		"Resolved": "resolved", "Closed": "closed"}
	inc := operation.ImportIncident{Ref: "SN-1", OpenedAt: at(0), OpenedBy: "jane",
		Incident: operation.Incident{ShortDescription: "VPN down", CallerID: "carl", Impact: 3, Urgency: 3},
		History: []operation.ImportRow{
			// out of order: sorted by time
			{At: at(30), Actor: "ann", State: "Resolved", ResolutionCode: operation.ResolvedPermanently, ResolutionNotes: "reset"},
			{At: at(10), Actor: "ann", State: "Work in progress", AssignmentGroup: "network", AssignedTo: "ann", Impact: 1, Urgency: 2},
			// repeated state: no event
			{At: at(12), Actor: "ann", State: "Work in progress"},
			// equal times keep their order: the hold then the work note
			{At: at(20), Actor: "ann", State: "Waiting for vendor"},
			{At: at(20), Actor: "ann", WorkNote: "ticket opened with the vendor", Category: "network"},
			{At: at(40), Actor: "carl", State: "Closed", Comment: "thanks"},
			// a reopen of a closed incident two years later, backdated
			{At: at(60 * 24 * 400), Actor: "carl", State: "Work in progress", Reason: "again"},
			// from in progress straight to on hold with another reason, then resolved from hold
			{At: at(60*24*400 + 5), Actor: "ann", State: "Waiting for vendor", HoldReason: operation.HoldAwaitingChange, Priority: 1},
			{At: at(60*24*400 + 9), Actor: "ann", State: "Resolved", ResolutionCode: operation.ResolvedWorkaround, ResolutionNotes: "patched"},
		}}
	rep, err := f.desk.Import(as(migrate), []operation.ImportIncident{inc}, operation.ImportOptions{States: states})
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	incs, err := f.desk.Incidents().All(as(reader), storage.Query{})
	require.NoError(t, err)
	require.Len(t, incs, 1)
	got := incs[0]
	assert.Equal(t, operation.StateResolved, got.State)
	assert.Equal(t, 1, got.ReopenCount)
	assert.Equal(t, 1, got.Priority)
	assert.Equal(t, "imported with priority 1", got.PriorityOverrideReason)
	assert.Equal(t, "network", got.Category)
	assert.Equal(t, at(10), got.FirstResponseAt)
	assert.Equal(t, at(60*24*400+9), got.ResolvedAt)
	require.Len(t, got.Comments, 1)
	assert.Equal(t, operation.Note{At: at(40), Author: "carl", Text: "thanks"}, got.Comments[0])
	evs, err := f.desk.Incidents().History(as(reader), got.ID)
	require.NoError(t, err)
	var trail []string
	for _, e := range evs {
		trail = append(trail, fmt.Sprintf("%s@%d/%s", e.Name, int(e.At.Sub(t0).Minutes()), e.Actor))
	}
	assert.Equal(t, []string{"create@0/jane", "update@10/ann", "start@10/ann", "hold@20/ann", "update@20/ann", "update@20/ann",
		"resolve@30/ann", "close@40/carl", "update@40/carl", "reopen@576000/carl", "update@576005/ann", "hold@576005/ann",
		"resolve@576009/ann"}, trail)
	assert.Equal(t, operation.StateClosed, evs[7].To)
	require.NoError(t, f.desk.Incidents().Verify(as(reader), got.ID))
}

// Custom field values change along the history, each change recorded at
// its row's time; a value the dictionary refuses refuses its row.
func TestImportCustomFields(t *testing.T) {
	f := customFixture(t)
	f.clock.Set(t0.Add(365 * 24 * time.Hour))
	in := history("CF-1", t0)
	in.Incident.Custom.SetString("region", "emea")
	in.History[1].Custom = itsm.Values{}
	in.History[1].Custom.SetString("region", "apac")
	in.History[1].Custom.SetInt("outage_minutes", 30)
	in.History[3].Custom = itsm.Values{"outage_minutes": json.RawMessage("null")}
	bad := history("CF-2", t0)
	bad.Incident.Custom.SetString("region", "emea")
	bad.History[2].Custom = itsm.Values{}
	bad.History[2].Custom.SetString("region", "mars")
	rep, err := f.desk.Import(as(migrate), []operation.ImportIncident{in, bad}, operation.ImportOptions{States: jiraStates})
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Imported)
	require.Len(t, rep.Errors, 1)
	assert.Equal(t, "CF-2", rep.Errors[0].Record)
	assert.Equal(t, 3, rep.Errors[0].Row)
	require.ErrorIs(t, rep.Errors[0], itsm.ErrInvalid)

	incs, err := f.desk.Incidents().All(as(reader), storage.Query{Filters: []storage.Filter{storage.Eq("region", storage.String("apac"))}})
	require.NoError(t, err)
	require.Len(t, incs, 1)
	assert.False(t, incs[0].Custom.Has("outage_minutes"), "removed by a null")
	evs, err := f.desk.Incidents().History(as(reader), incs[0].ID)
	require.NoError(t, err)
	var changed []string
	for _, e := range evs {
		for _, c := range e.Changes {
			if strings.HasPrefix(c.Field, "custom.") {
				changed = append(changed, fmt.Sprintf("%s@%d", c.Field, int(e.At.Sub(t0).Minutes())))
			}
		}
	}
	assert.Equal(t, []string{"custom.region@0", "custom.outage_minutes@10", "custom.region@10", "custom.outage_minutes@30"}, changed)
}
