package operation_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
)

// Every command refuses a nil context with ErrInvalid (or ErrForbidden for
// the missing actor) instead of panicking, and writes nothing.
func TestNilContextNeverPanics(t *testing.T) {
	f := newFixture(t)
	inc := f.open(t)
	var nilCtx context.Context
	id, cmd := inc.ID, storage.Command{Reason: "r"}
	calls := map[string]func() error{
		"OpenIncident": func() error { return f.desk.OpenIncident(nilCtx, &operation.Incident{}, cmd) },
		"Assign":       func() error { _, err := f.desk.AssignIncident(nilCtx, id, "network", "", cmd); return err },
		"Update": func() error {
			_, err := f.desk.UpdateIncident(nilCtx, id, cmd, func(*operation.Incident) error { return nil })
			return err
		},
		"Override": func() error { _, err := f.desk.OverridePriority(nilCtx, id, 1, "r", storage.Command{}); return err },
		"WorkNote": func() error { _, err := f.desk.AddWorkNote(nilCtx, id, "n", storage.Command{}); return err },
		"Start":    func() error { _, err := f.desk.StartIncident(nilCtx, id, cmd); return err },
		"Hold":     func() error { _, err := f.desk.HoldIncident(nilCtx, id, operation.HoldAwaitingCaller, cmd); return err },
		"Resolve": func() error {
			_, err := f.desk.ResolveIncident(nilCtx, id, operation.ResolvedPermanently, "n", cmd)
			return err
		},
		"Cancel":        func() error { _, err := f.desk.CancelIncident(nilCtx, id, cmd); return err },
		"LinkChild":     func() error { _, err := f.desk.LinkChild(nilCtx, id, id, cmd); return err },
		"CloseResolved": func() error { _, err := f.desk.CloseResolved(nilCtx, t0); return err },
		"MyOpen":        func() error { _, _, err := f.desk.MyOpenIncidents(nilCtx, storage.Paging{}); return err },
		"Unassigned":    func() error { _, _, err := f.desk.UnassignedInMyGroups(nilCtx, storage.Paging{}); return err },
		"Breaching":     func() error { _, _, err := f.desk.BreachingSoon(nilCtx, time.Hour, storage.Paging{}); return err },
		"BreachingMine": func() error {
			_, _, err := f.desk.BreachingSoonInMyGroups(nilCtx, time.Hour, storage.Paging{})
			return err
		},
		"MyRequested":   func() error { _, _, err := f.desk.MyRequestedIncidents(nilCtx, storage.Paging{}); return err },
		"Comment":       func() error { _, err := f.desk.AddComment(nilCtx, id, "c", storage.Command{}); return err },
		"CancelRequest": func() error { _, err := f.desk.CancelRequest(nilCtx, id, cmd); return err },
		"Incomplete":    func() error { _, err := f.desk.CloseTaskIncomplete(nilCtx, id, "n", cmd); return err },
		"OpenProblem":   func() error { return f.desk.OpenProblem(nilCtx, &operation.Problem{}, cmd) },
		"Publish":       func() error { _, err := f.desk.PublishKnownError(nilCtx, id, cmd); return err },
		"ResolveProblem": func() error {
			_, _, err := f.desk.ResolveProblem(nilCtx, id, "x", "", operation.ResolveLinked, cmd)
			return err
		},
		"Submit":   func() error { return f.desk.SubmitRequest(nilCtx, &operation.Request{}, cmd) },
		"Approve":  func() error { _, err := f.desk.ApproveRequest(nilCtx, id, "", storage.Command{}); return err },
		"Complete": func() error { _, err := f.desk.CompleteTask(nilCtx, id, "", cmd); return err },
		"Ingest":   func() error { _, err := f.desk.Ingest(nilCtx, operation.MonitorEvent{}); return err },
		"Escalate": func() error { _, err := f.desk.Escalate(nilCtx, t0); return err },
		"Import":   func() error { _, err := f.desk.ImportIncidents(nilCtx, nil, nil); return err },
	}
	before := f.snapshot(t)
	for name, call := range calls {
		err := call()
		assert.True(t, errors.Is(err, itsm.ErrInvalid) || errors.Is(err, itsm.ErrForbidden), "%s: %v", name, err)
	}
	assert.Equal(t, before, f.snapshot(t))
}

// Concurrent work notes on one incident are never lost: every note whose
// command succeeded is on the record, and the event chain verifies.
func TestConcurrentNotesAreNotLost(t *testing.T) {
	f := newFixture(t)
	inc := f.open(t)
	const writers = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.desk.AddWorkNote(as(ann), inc.ID, "note "+string(rune('a'+i)), storage.Command{})
			if err != nil {
				assert.ErrorIs(t, err, itsm.ErrConflict)
				return
			}
			mu.Lock()
			ok++
			mu.Unlock()
		}()
	}
	wg.Wait()
	got, err := f.desk.Incidents().Get(as(reader), inc.ID)
	require.NoError(t, err)
	assert.Len(t, got.WorkNotes, ok)
	assert.Positive(t, ok)
	require.NoError(t, f.desk.Incidents().Verify(as(reader), inc.ID))
}
