package transition_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/transition"
)

// interleaved is a Backend whose next unit of work runs hook between its
// first and second read of a record of kind, as when another instance
// commits a command at that moment: a unit's reads see committed data, so
// the second read sees the other command's write.
type interleaved struct {
	storage.Backend
	kind  string
	hook  func()
	armed atomic.Bool
}

func (b *interleaved) Update(ctx context.Context, fn func(storage.Tx) error) error {
	return b.Backend.Update(ctx, func(tx storage.Tx) error { return fn(&interleavedTx{Tx: tx, b: b}) })
}

type interleavedTx struct {
	storage.Tx
	b    *interleaved
	gets int
}

func (t *interleavedTx) Get(ctx context.Context, kind, id string) (storage.Document, error) {
	if kind == t.b.kind {
		if t.gets++; t.gets == 2 && t.b.armed.CompareAndSwap(true, false) {
			t.b.hook()
		}
	}
	return t.Tx.Get(ctx, kind, id)
}

// TestCABCommandsDecideOnFreshData: a CAB command that read the meeting, then
// meets a concurrent command's write before its own, decides again on the
// fresh meeting instead of overwriting it.
func TestCABCommandsDecideOnFreshData(t *testing.T) {
	ctx := as(admin)
	e := newChangeEnv(t, nil)
	pending := e.toAuthorize(t, e.normal(t, e.db), lowAnswers)
	late := e.normal(t, e.db)
	wrapped := &interleaved{Backend: e.store, kind: transition.KindCABMeeting}
	other, err := transition.NewChanges(ctx, wrapped, transition.ChangesConfig{Clock: e.clock, CMDB: e.cmdb,
		Directory: itsm.StaticDirectory{"cab": {"bob", "cara", "ivan"}}})
	require.NoError(t, err)
	start := t0.Add(24 * time.Hour)
	m := &transition.CABMeeting{Name: "Weekly CAB", Board: "change_management", Start: start, End: start.Add(time.Hour),
		Attendees: []transition.CABAttendee{{ID: "alice", Role: transition.AttendeeChair}}}
	require.NoError(t, e.changes.ScheduleCAB(as(alice), m, storage.Command{}))
	_, err = e.changes.AddToAgenda(as(alice), m.ID, []string{pending.ID}, storage.Command{})
	require.NoError(t, err)
	_, err = e.changes.FireCAB(as(alice), m.ID, transition.CABEventStart, storage.Command{})
	require.NoError(t, err)

	// An approval commits while a deferral of the same item is under way.
	wrapped.hook = func() {
		_, _, err := e.changes.DecideAgendaItem(as(alice), m.ID, pending.ID, transition.AgendaApproved, "approved in the room", storage.Command{})
		require.NoError(t, err)
	}
	wrapped.armed.Store(true)
	_, _, err = other.DecideAgendaItem(as(alice), m.ID, pending.ID, transition.AgendaDeferred, "out of time", storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalidTransition, "the item was decided meanwhile")
	got, err := e.changes.CAB(ctx, m.ID)
	require.NoError(t, err)
	assert.Equal(t, transition.AgendaApproved, got.Agenda[0].Decision, "the approval stands")

	// The meeting completes while a change is being added to its agenda.
	wrapped.hook = func() {
		_, err := e.changes.FireCAB(as(alice), m.ID, transition.CABEventComplete, storage.Command{})
		require.NoError(t, err)
	}
	wrapped.armed.Store(true)
	_, err = other.AddToAgenda(as(alice), m.ID, []string{late.ID}, storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalidTransition, "a completed meeting takes no agenda items")
	got, err = e.changes.CAB(ctx, m.ID)
	require.NoError(t, err)
	assert.Equal(t, transition.CABCompleted, got.State)
	assert.Len(t, got.Agenda, 1, "no pending item on a completed meeting")
}
