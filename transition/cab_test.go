package transition_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/transition"
)

var cabKinds = append([]string{transition.KindCABMeeting}, changeKinds...)

// TestCABMeeting runs a change advisory board meeting: the agenda built
// from the changes awaiting the board, decisions that approve (and
// schedule), reject and defer changes, refusals that write nothing, and
// completion only once every item is decided.
func TestCABMeeting(t *testing.T) {
	ctx := as(admin)
	e := newChangeEnv(t, nil)
	var pending []*transition.Change
	for range 3 {
		c := e.normal(t, e.db)
		pending = append(pending, e.toAuthorize(t, c, lowAnswers))
	}
	fresh := e.normal(t, e.db) // in new: not awaiting approval

	start := t0.Add(24 * time.Hour)
	bad := []struct {
		name string
		m    transition.CABMeeting
	}{
		{"end before start", transition.CABMeeting{Name: "weekly", Board: "change_management", Start: start, End: start.Add(-time.Hour)}},
		{"no board", transition.CABMeeting{Name: "weekly", Start: start, End: start.Add(time.Hour)}},
		{"attendee twice", transition.CABMeeting{Name: "weekly", Board: "change_management", Start: start, End: start.Add(time.Hour),
			Attendees: []transition.CABAttendee{{ID: "alice", Role: transition.AttendeeChair}, {ID: "alice", Role: transition.AttendeeMember}}}},
		{"unknown role", transition.CABMeeting{Name: "weekly", Board: "change_management", Start: start, End: start.Add(time.Hour),
			Attendees: []transition.CABAttendee{{ID: "alice", Role: "boss"}}}},
	}
	before := takeSnapshot(t, e.store, cabKinds...)
	for _, tc := range bad {
		m := tc.m
		assert.ErrorIs(t, e.changes.ScheduleCAB(as(alice), &m, storage.Command{}), itsm.ErrInvalid, tc.name)
	}
	require.Equal(t, before, takeSnapshot(t, e.store, cabKinds...))

	m := &transition.CABMeeting{Name: "Weekly CAB", Board: "change_management", Start: start, End: start.Add(time.Hour), Location: "room 4",
		Attendees: []transition.CABAttendee{{ID: "alice", Role: transition.AttendeeChair}, {ID: "bob", Role: transition.AttendeeGuest}}}
	require.NoError(t, e.changes.ScheduleCAB(as(alice), m, storage.Command{}))
	assert.Regexp(t, `^CAB\d{7}$`, m.Number)
	assert.Equal(t, transition.CABPlanned, m.State)

	got, n, err := e.changes.AgendaFromPending(as(alice), m.ID, storage.Command{})
	require.NoError(t, err)
	require.Equal(t, 3, n)
	for i, it := range got.Agenda {
		assert.Equal(t, pending[i].Number, it.Number)
		assert.Equal(t, transition.AgendaPending, it.Decision)
		assert.Equal(t, transition.RiskLow, it.Risk)
	}
	_, n, err = e.changes.AgendaFromPending(as(alice), m.ID, storage.Command{})
	require.NoError(t, err)
	assert.Zero(t, n, "nothing added twice")
	got, err = e.changes.AddToAgenda(as(alice), m.ID, []string{fresh.ID}, storage.Command{})
	require.NoError(t, err)
	require.Len(t, got.Agenda, 4)

	before = takeSnapshot(t, e.store, cabKinds...)
	refusals := []struct {
		name string
		do   func() error
		want error
	}{
		{"already on the agenda", func() error {
			_, err := e.changes.AddToAgenda(as(alice), m.ID, []string{pending[0].ID}, storage.Command{})
			return err
		}, itsm.ErrConflict},
		{"unknown change", func() error {
			_, err := e.changes.AddToAgenda(as(alice), m.ID, []string{itsm.NewID()}, storage.Command{})
			return err
		}, itsm.ErrNotFound},
		{"decision before the meeting starts", func() error {
			_, _, err := e.changes.DecideAgendaItem(as(alice), m.ID, pending[0].ID, transition.AgendaApproved, "ok", storage.Command{})
			return err
		}, itsm.ErrInvalidTransition},
		{"completing before it starts", func() error {
			_, err := e.changes.FireCAB(as(alice), m.ID, transition.CABEventComplete, storage.Command{})
			return err
		}, itsm.ErrInvalidTransition},
		{"canceling without a reason", func() error {
			_, err := e.changes.FireCAB(as(alice), m.ID, transition.CABEventCancel, storage.Command{})
			return err
		}, itsm.ErrInvalidTransition},
		{"editing the agenda by hand", func() error {
			_, err := e.changes.UpdateCAB(as(alice), m.ID, storage.Command{}, func(c *transition.CABMeeting) error {
				c.Agenda[0].Decision = transition.AgendaApproved
				return nil
			})
			return err
		}, itsm.ErrInvalid},
	}
	for _, tc := range refusals {
		assert.ErrorIs(t, tc.do(), tc.want, tc.name)
	}
	require.Equal(t, before, takeSnapshot(t, e.store, cabKinds...), "refusals write nothing")

	_, err = e.changes.FireCAB(as(alice), m.ID, transition.CABEventStart, storage.Command{})
	require.NoError(t, err)

	// Approved: the change's approval is recorded and it is scheduled.
	got, ch, err := e.changes.DecideAgendaItem(as(alice), m.ID, pending[0].ID, transition.AgendaApproved, "low risk, tested", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, transition.ChangeScheduled, ch.State)
	assert.Equal(t, transition.AgendaApproved, got.Agenda[0].Decision)
	assert.Equal(t, "alice", got.Agenda[0].DecidedBy)
	assert.True(t, got.Attendees[0].Attended)

	before = takeSnapshot(t, e.store, cabKinds...)
	decisions := []struct {
		name     string
		actor    itsm.Actor
		change   string
		decision string
		comment  string
		want     error
	}{
		{"twice", alice, pending[0].ID, transition.AgendaRejected, "no", itsm.ErrInvalidTransition},
		{"by the requester", rita, pending[1].ID, transition.AgendaApproved, "mine", itsm.ErrForbidden},
		{"by a guest outside the board", bob, pending[1].ID, transition.AgendaApproved, "", itsm.ErrForbidden},
		{"deferred by a guest outside the board", bob, pending[1].ID, transition.AgendaDeferred, "", itsm.ErrForbidden},
		{"rejected without a comment", alice, pending[1].ID, transition.AgendaRejected, "", itsm.ErrInvalid},
		{"unknown decision", alice, pending[1].ID, "maybe", "", itsm.ErrInvalid},
		{"not on the agenda", alice, itsm.NewID(), transition.AgendaApproved, "", itsm.ErrNotFound},
	}
	for _, tc := range decisions {
		_, _, err := e.changes.DecideAgendaItem(as(tc.actor), m.ID, tc.change, tc.decision, tc.comment, storage.Command{})
		assert.ErrorIs(t, err, tc.want, tc.name)
	}
	require.Equal(t, before, takeSnapshot(t, e.store, cabKinds...), "refused decisions write nothing, on the meeting or the change")

	// Rejected: the change ends.
	_, ch, err = e.changes.DecideAgendaItem(as(alice), m.ID, pending[1].ID, transition.AgendaRejected, "no backout plan", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, transition.ChangeCanceled, ch.State)
	assert.Equal(t, transition.ApprovalRejected, ch.Approval)

	_, err = e.changes.FireCAB(as(alice), m.ID, transition.CABEventComplete, storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalidTransition, "two items are still pending")
	for _, id := range []string{pending[2].ID, fresh.ID} {
		_, ch, err = e.changes.DecideAgendaItem(as(alice), m.ID, id, transition.AgendaDeferred, "out of time", storage.Command{})
		require.NoError(t, err)
		assert.NotEqual(t, transition.ChangeScheduled, ch.State, "a deferred change waits")
	}
	_, err = e.changes.UpdateCAB(as(alice), m.ID, storage.Command{}, func(c *transition.CABMeeting) error {
		c.Minutes = "Approved one, rejected one, deferred two."
		return nil
	})
	require.NoError(t, err)
	done, err := e.changes.FireCAB(as(alice), m.ID, transition.CABEventComplete, storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, transition.CABCompleted, done.State)
	_, err = e.changes.AddToAgenda(as(alice), m.ID, []string{pending[2].ID}, storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalidTransition, "a completed meeting's agenda is closed")

	// The deferred change goes on the next meeting's agenda.
	next := &transition.CABMeeting{Name: "Weekly CAB", Board: "change_management", Start: start.Add(7 * 24 * time.Hour), End: start.Add(7*24*time.Hour + time.Hour)}
	require.NoError(t, e.changes.ScheduleCAB(as(alice), next, storage.Command{}))
	got, n, err = e.changes.AgendaFromPending(as(alice), next.ID, storage.Command{})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	assert.Equal(t, pending[2].Number, got.Agenda[0].Number)
	list, err := e.changes.CABMeetings(ctx, start, start.Add(30*24*time.Hour))
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, []string{m.Number, next.Number}, []string{list[0].Number, list[1].Number})
	canceled, err := e.changes.FireCAB(as(alice), next.ID, transition.CABEventCancel, storage.Command{Reason: "bank holiday"})
	require.NoError(t, err)
	assert.Equal(t, transition.CABCanceled, canceled.State)

	evs, err := e.store.History(ctx, transition.KindCABMeeting, m.ID)
	require.NoError(t, err)
	require.NoError(t, itsm.Verify(evs, ""))
	assert.Len(t, evs, 10, "create, agenda twice, start, four decisions, minutes, complete")
}
