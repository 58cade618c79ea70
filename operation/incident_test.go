package operation_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
)

func TestPriorityMatrix(t *testing.T) {
	m := operation.DefaultPriorityMatrix()
	want := [3][3]int{{1, 2, 3}, {2, 3, 4}, {3, 4, 5}}
	for i := 1; i <= 3; i++ {
		for u := 1; u <= 3; u++ {
			p, err := m.Priority(i, u)
			require.NoError(t, err)
			assert.Equal(t, want[i-1][u-1], p, "impact %d urgency %d", i, u)
		}
	}
	for _, c := range [][2]int{{0, 1}, {1, 0}, {4, 1}, {1, 4}, {-1, -1}} {
		_, err := m.Priority(c[0], c[1])
		require.ErrorIs(t, err, itsm.ErrInvalid, "%v", c)
	}
	custom, err := operation.NewPriorityMatrix([][]int{{1, 1, 2, 3}, {2, 3, 4, 5}})
	require.NoError(t, err)
	p, err := custom.Priority(2, 4)
	require.NoError(t, err)
	assert.Equal(t, 5, p)
	assert.Equal(t, 2, custom.Impacts())
	assert.Equal(t, 4, custom.Urgencies())
	for _, bad := range [][][]int{nil, {{}}, {{1, 2}, {3}}, {{0}}, {{6}}} {
		_, err := operation.NewPriorityMatrix(bad)
		require.ErrorIs(t, err, itsm.ErrInvalid, "%v", bad)
	}
	assert.Equal(t, "1 - Critical", operation.PriorityName(1))
	assert.Equal(t, "5 - Planning", operation.PriorityName(5))
	assert.Empty(t, operation.PriorityName(9))
}

func TestOpenIncident(t *testing.T) {
	f := newFixture(t)
	inc := f.open(t, func(i *operation.Incident) { i.AssignmentGroup, i.AssignedTo = "network", "ann" })
	assert.Equal(t, "INC0000001", inc.Number)
	assert.Equal(t, operation.StateNew, inc.State)
	assert.Equal(t, 3, inc.Priority, "impact 2 x urgency 2 is moderate")
	assert.Equal(t, "ann", inc.OpenedBy)
	assert.Equal(t, t0, inc.CreatedAt)

	// The caller defaults to the actor; a priority equal to the matrix's is fine.
	own := &operation.Incident{ShortDescription: "Mail down", Impact: 1, Urgency: 1, Priority: 1}
	require.NoError(t, f.desk.OpenIncident(as(carl), own, storage.Command{}))
	assert.Equal(t, "carl", own.CallerID)

	// An override with its reason is kept and recorded.
	ov := &operation.Incident{ShortDescription: "CEO laptop", CallerID: "carl", Impact: 3, Urgency: 3, Priority: 1, PriorityOverrideReason: "VIP"}
	require.NoError(t, f.desk.OpenIncident(as(ann), ov, storage.Command{}))
	assert.Equal(t, 1, ov.Priority)

	evs, err := f.desk.Incidents().History(as(reader), inc.ID)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	fields := map[string]string{}
	for _, c := range evs[0].Changes {
		fields[c.Field] = c.To
	}
	for k, v := range map[string]string{"short_description": `"VPN drops"`, "caller_id": `"carl"`, "impact": "2", "urgency": "2",
		"priority": "3", "assignment_group": `"network"`, "assigned_to": `"ann"`, "reassignment_count": "0", "major": "false"} {
		assert.Equal(t, v, fields[k], k)
	}
}

func TestOpenIncidentBadInput(t *testing.T) {
	cases := []struct {
		name string
		who  itsm.Actor
		inc  operation.Incident
		want error
	}{
		{"unknown impact", ann, operation.Incident{ShortDescription: "x", CallerID: "carl", Impact: 4, Urgency: 1}, itsm.ErrInvalid},
		{"unknown urgency", ann, operation.Incident{ShortDescription: "x", CallerID: "carl", Impact: 1, Urgency: 0}, itsm.ErrInvalid},
		{"priority without override reason", ann, operation.Incident{ShortDescription: "x", CallerID: "carl", Impact: 3, Urgency: 3, Priority: 1}, itsm.ErrInvalid},
		{"unknown priority override", ann, operation.Incident{ShortDescription: "x", CallerID: "carl", Impact: 3, Urgency: 3, Priority: 7, PriorityOverrideReason: "why"}, itsm.ErrInvalid},
		{"missing short description", ann, operation.Incident{CallerID: "carl", Impact: 1, Urgency: 1}, itsm.ErrInvalid},
		{"short description too long", ann, operation.Incident{ShortDescription: string(make([]byte, 161)), CallerID: "carl", Impact: 1, Urgency: 1}, itsm.ErrInvalid},
		{"assignee outside group", ann, operation.Incident{ShortDescription: "x", CallerID: "carl", Impact: 1, Urgency: 1, AssignmentGroup: "servers", AssignedTo: "ann"}, itsm.ErrInvalid},
		{"assignee without group", ann, operation.Incident{ShortDescription: "x", CallerID: "carl", Impact: 1, Urgency: 1, AssignedTo: "ann"}, itsm.ErrInvalid},
		{"unknown known error", ann, operation.Incident{ShortDescription: "x", CallerID: "carl", Impact: 1, Urgency: 1, KnownErrorID: itsm.NewID()}, itsm.ErrNotFound},
		{"unknown parent", ann, operation.Incident{ShortDescription: "x", CallerID: "carl", Impact: 1, Urgency: 1, ParentID: itsm.NewID()}, itsm.ErrNotFound},
		{"no actor", itsm.Actor{}, operation.Incident{ShortDescription: "x", CallerID: "carl", Impact: 1, Urgency: 1}, itsm.ErrForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			before := f.snapshot(t)
			inc := tc.inc
			ctx := context.Background()
			if tc.who.ID != "" {
				ctx = as(tc.who)
			}
			err := f.desk.OpenIncident(ctx, &inc, storage.Command{})
			require.ErrorIs(t, err, tc.want)
			assert.Equal(t, before, f.snapshot(t), "store unchanged")
		})
	}
	f := newFixture(t)
	require.ErrorIs(t, f.desk.OpenIncident(as(ann), nil, storage.Command{}), itsm.ErrInvalid)
	//lint:ignore SA1012 a nil context must be refused, not panic
	require.ErrorIs(t, f.desk.OpenIncident(nil, &operation.Incident{}, storage.Command{}), itsm.ErrInvalid) //nolint:staticcheck
}

func TestIncidentLifecycleAndTimestamps(t *testing.T) {
	f := newFixture(t)
	inc := f.open(t)
	ctx := as(ann)
	step := func(d time.Duration) { f.clock.Advance(d) }

	step(10 * time.Minute)
	got, err := f.desk.AssignIncident(ctx, inc.ID, "network", "ann", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, 0, got.ReassignmentCount, "a first assignment is not a reassignment")
	step(5 * time.Minute)
	got, err = f.desk.StartIncident(ctx, inc.ID, storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, t0.Add(15*time.Minute), got.FirstResponseAt)
	step(time.Hour)
	got, err = f.desk.HoldIncident(ctx, inc.ID, operation.HoldAwaitingCaller, storage.Command{Reason: "asked for logs"})
	require.NoError(t, err)
	assert.Equal(t, operation.StateOnHold, got.State)
	// The reason may change while on hold.
	got, err = f.desk.HoldIncident(ctx, inc.ID, operation.HoldAwaitingVendor, storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, operation.HoldAwaitingVendor, got.HoldReason)
	step(time.Hour)
	got, err = f.desk.ResumeIncident(ctx, inc.ID, storage.Command{})
	require.NoError(t, err)
	assert.Empty(t, got.HoldReason)
	step(time.Hour)
	got, err = f.desk.ResolveIncident(ctx, inc.ID, operation.ResolvedWorkaround, "MTU lowered", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, operation.StateResolved, got.State)
	assert.Equal(t, f.clock.Now(), got.ResolvedAt)
	step(time.Hour)
	got, err = f.desk.CloseIncident(as(carl), inc.ID, storage.Command{Reason: "confirmed by caller"})
	require.NoError(t, err)
	assert.Equal(t, operation.StateClosed, got.State)
	assert.Equal(t, f.clock.Now(), got.ClosedAt)

	evs, err := f.desk.Incidents().History(as(reader), inc.ID)
	require.NoError(t, err)
	var names []string
	for _, e := range evs {
		names = append(names, e.Name)
	}
	assert.Equal(t, []string{"create", "update", "start", "hold", "hold", "resume", "resolve", "close"}, names)
	require.NoError(t, f.desk.Incidents().Verify(as(reader), inc.ID))
	// The assignment event carries assignment_group and assigned_to.
	var fields []string
	for _, c := range evs[1].Changes {
		fields = append(fields, c.Field)
	}
	assert.Equal(t, []string{"assigned_to", "assignment_group"}, fields)
}

func TestIncidentRefusals(t *testing.T) {
	type step func(f fixture, id string) (*operation.Incident, error)
	cases := []struct {
		name  string
		setup []step
		do    step
		want  error
	}{
		{"close unresolved", nil, func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.CloseIncident(as(ann), id, storage.Command{})
		}, itsm.ErrInvalidTransition},
		{"resolve without code", nil, func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.ResolveIncident(as(ann), id, "", "notes", storage.Command{})
		}, itsm.ErrInvalidTransition},
		{"resolve with unknown code", nil, func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.ResolveIncident(as(ann), id, "magic", "notes", storage.Command{})
		}, itsm.ErrInvalidTransition},
		{"resolve without notes", nil, func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.ResolveIncident(as(ann), id, operation.ResolvedPermanently, "", storage.Command{})
		}, itsm.ErrInvalidTransition},
		{"hold with unknown reason", nil, func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.HoldIncident(as(ann), id, "coffee_break", storage.Command{})
		}, itsm.ErrInvalidTransition},
		{"resume when not on hold", nil, func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.ResumeIncident(as(ann), id, storage.Command{})
		}, itsm.ErrInvalidTransition},
		{"assignee outside group", nil, func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.AssignIncident(as(ann), id, "servers", "ann", storage.Command{})
		}, itsm.ErrInvalid},
		{"assign without group", nil, func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.AssignIncident(as(ann), id, "", "", storage.Command{})
		}, itsm.ErrInvalid},
		{"caller resolves", nil, func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.ResolveIncident(as(carl), id, operation.ResolvedPermanently, "n", storage.Command{})
		}, itsm.ErrForbidden},
		{"cancel without reason", nil, func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.CancelIncident(as(ann), id, storage.Command{})
		}, itsm.ErrInvalid},
		{"override without reason", nil, func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.OverridePriority(as(ann), id, 1, " ", storage.Command{})
		}, itsm.ErrInvalid},
		{"override to unknown priority", nil, func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.OverridePriority(as(ann), id, 6, "why not", storage.Command{})
		}, itsm.ErrInvalid},
		{"update to unknown impact", nil, func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.UpdateIncident(as(ann), id, storage.Command{}, func(i *operation.Incident) error { i.Impact = 9; return nil })
		}, itsm.ErrInvalid},
		{"update owned field", nil, func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.UpdateIncident(as(ann), id, storage.Command{}, func(i *operation.Incident) error { i.ReopenCount = 3; return nil })
		}, itsm.ErrInvalid},
		{"update priority directly", nil, func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.UpdateIncident(as(ann), id, storage.Command{}, func(i *operation.Incident) error { i.Priority = 1; return nil })
		}, itsm.ErrInvalid},
		{"empty work note", nil, func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.AddWorkNote(as(ann), id, "  ", storage.Command{})
		}, itsm.ErrInvalid},
		{"unknown incident", nil, func(f fixture, _ string) (*operation.Incident, error) {
			return f.desk.StartIncident(as(ann), itsm.NewID(), storage.Command{})
		}, itsm.ErrNotFound},
		{"reopen after the window", []step{
			func(f fixture, id string) (*operation.Incident, error) {
				return f.desk.ResolveIncident(as(ann), id, operation.ResolvedPermanently, "fixed", storage.Command{})
			},
			func(f fixture, id string) (*operation.Incident, error) {
				f.clock.Advance(8 * 24 * time.Hour)
				return nil, nil
			},
		}, func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.ReopenIncident(as(carl), id, storage.Command{})
		}, itsm.ErrInvalidTransition},
		{"another caller closes", []step{
			func(f fixture, id string) (*operation.Incident, error) {
				return f.desk.ResolveIncident(as(ann), id, operation.ResolvedPermanently, "fixed", storage.Command{})
			},
		}, func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.CloseIncident(as(itsm.Actor{ID: "mallory", Roles: []string{"caller"}}), id, storage.Command{})
		}, itsm.ErrForbidden},
		{"edit a closed incident", []step{
			func(f fixture, id string) (*operation.Incident, error) {
				return f.desk.CancelIncident(as(ann), id, storage.Command{Reason: "duplicate"})
			},
		}, func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.AssignIncident(as(ann), id, "network", "", storage.Command{})
		}, itsm.ErrInvalidTransition},
		{"accept own major proposal", []step{
			func(f fixture, id string) (*operation.Incident, error) {
				return f.desk.ProposeMajor(as(dora), id, storage.Command{})
			},
		}, func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.AcceptMajor(as(dora), id, storage.Command{})
		}, itsm.ErrInvalidTransition},
		{"agent accepts major", []step{
			func(f fixture, id string) (*operation.Incident, error) {
				return f.desk.ProposeMajor(as(ann), id, storage.Command{})
			},
		}, func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.AcceptMajor(as(bob), id, storage.Command{})
		}, itsm.ErrForbidden},
		{"accept unproposed major", nil, func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.AcceptMajor(as(dora), id, storage.Command{})
		}, itsm.ErrInvalidTransition},
		{"reject major without reason", []step{
			func(f fixture, id string) (*operation.Incident, error) {
				return f.desk.ProposeMajor(as(ann), id, storage.Command{})
			},
		}, func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.RejectMajor(as(dora), id, storage.Command{})
		}, itsm.ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			inc := f.open(t)
			for _, s := range tc.setup {
				_, err := s(f, inc.ID)
				require.NoError(t, err)
			}
			before := f.snapshot(t)
			got, err := tc.do(f, inc.ID)
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, got)
			assert.Equal(t, before, f.snapshot(t), "store unchanged")
		})
	}
}

func TestReassignmentAndReopenCounts(t *testing.T) {
	f := newFixture(t)
	inc := f.open(t)
	ctx := as(ann)
	_, err := f.desk.AssignIncident(ctx, inc.ID, "network", "", storage.Command{})
	require.NoError(t, err)
	got, err := f.desk.AssignIncident(ctx, inc.ID, "network", "ann", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, 0, got.ReassignmentCount, "picking up from the group is not a reassignment")
	got, err = f.desk.AssignIncident(ctx, inc.ID, "network", "bob", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, 1, got.ReassignmentCount)
	got, err = f.desk.AssignIncident(ctx, inc.ID, "servers", "bob", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, 2, got.ReassignmentCount)
	// The incident is now the servers group's: ann (network) no longer
	// reads it, nor writes it; bob (servers) works it from here.
	_, err = f.desk.AssignIncident(ctx, inc.ID, "servers", "bob", storage.Command{})
	require.ErrorIs(t, err, itsm.ErrForbidden)
	ctx = as(bob)
	got, err = f.desk.AssignIncident(ctx, inc.ID, "servers", "bob", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, 2, got.ReassignmentCount, "no change, no count")

	_, err = f.desk.ResolveIncident(ctx, inc.ID, operation.ResolvedPermanently, "done", storage.Command{})
	require.NoError(t, err)
	f.clock.Advance(6 * 24 * time.Hour)
	got, err = f.desk.ReopenIncident(as(carl), inc.ID, storage.Command{Reason: "still broken"})
	require.NoError(t, err)
	assert.Equal(t, operation.StateInProgress, got.State)
	assert.Equal(t, 1, got.ReopenCount)
	assert.True(t, got.ResolvedAt.IsZero())
	assert.Empty(t, got.ResolutionCode)
}

func TestPriorityOverrideAndRecompute(t *testing.T) {
	f := newFixture(t)
	inc := f.open(t)
	ctx := as(ann)
	got, err := f.desk.UpdateIncident(ctx, inc.ID, storage.Command{}, func(i *operation.Incident) error {
		i.Impact, i.Category = 1, "network"
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 2, got.Priority, "impact 1 x urgency 2 is high")

	got, err = f.desk.OverridePriority(ctx, inc.ID, 1, "CEO cannot work", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, 1, got.Priority)
	assert.Equal(t, "CEO cannot work", got.PriorityOverrideReason)
	evs, err := f.desk.Incidents().History(as(reader), inc.ID)
	require.NoError(t, err)
	assert.Equal(t, "CEO cannot work", evs[len(evs)-1].Reason)

	got, err = f.desk.UpdateIncident(ctx, inc.ID, storage.Command{}, func(i *operation.Incident) error { i.Urgency = 3; return nil })
	require.NoError(t, err)
	assert.Equal(t, 1, got.Priority, "an override holds across impact/urgency changes")

	got, err = f.desk.OverridePriority(ctx, inc.ID, 0, "back to the matrix", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, 3, got.Priority)
	assert.Empty(t, got.PriorityOverrideReason)
}

func TestJournal(t *testing.T) {
	f := newFixture(t)
	inc := f.open(t)
	f.clock.Advance(time.Minute)
	got, err := f.desk.AddWorkNote(as(ann), inc.ID, "checked the gateway", storage.Command{})
	require.NoError(t, err)
	assert.Len(t, got.WorkNotes, 1)
	assert.True(t, got.FirstResponseAt.IsZero(), "a work note is not a response to the caller")
	f.clock.Advance(time.Minute)
	got, err = f.desk.AddComment(as(ann), inc.ID, "could you send your logs?", storage.Command{})
	require.NoError(t, err)
	assert.Len(t, got.Comments, 1)
	assert.Equal(t, f.clock.Now(), got.FirstResponseAt)
	assert.Equal(t, operation.Note{At: f.clock.Now(), Author: "ann", Text: "could you send your logs?"}, got.Comments[0])
}

// Each note's event carries that note alone (an Appended change), so a
// thread of n notes costs its events O(n) bytes; the appended parts, in
// order, are the stored thread, and the chain verifies.
func TestJournalEventsCarryOnlyTheNewNote(t *testing.T) {
	f := newFixture(t)
	ctx := as(reader)
	inc := f.open(t)
	const notes = 40
	for i := range notes {
		f.clock.Advance(time.Minute)
		var err error
		if i%2 == 0 {
			_, err = f.desk.AddComment(as(carl), inc.ID, fmt.Sprintf("comment %d, with some words in it", i), storage.Command{})
		} else {
			_, err = f.desk.AddWorkNote(as(ann), inc.ID, fmt.Sprintf("work note %d", i), storage.Command{})
		}
		require.NoError(t, err)
	}
	got, err := f.desk.Incidents().Get(ctx, inc.ID)
	require.NoError(t, err)
	evs, err := f.desk.Incidents().History(ctx, inc.ID)
	require.NoError(t, err)
	threads := map[string][]operation.Note{}
	largest := 0
	for _, ev := range evs[1:] {
		for _, c := range ev.Changes {
			if c.Field != "comments" && c.Field != "work_notes" {
				continue
			}
			require.True(t, c.Appended, "event %d: %s is appended", ev.RecordVersion, c.Field)
			require.Empty(t, c.From)
			var added []operation.Note
			require.NoError(t, json.Unmarshal([]byte(c.To), &added))
			require.Len(t, added, 1, "event %d carries the new note only", ev.RecordVersion)
			threads[c.Field] = append(threads[c.Field], added...)
			largest = max(largest, len(c.To))
		}
	}
	assert.Equal(t, got.Comments, threads["comments"])
	assert.Equal(t, got.WorkNotes, threads["work_notes"])
	assert.Len(t, got.Comments, notes/2)
	assert.Less(t, largest, 200, "no event repeats the thread")
	require.NoError(t, f.desk.Incidents().Verify(ctx, inc.ID))
}

// A caller comments on their own incident (action "comment"), but may not
// add work notes (action "work_note"), edit other fields or comment on
// someone else's incident; each refusal leaves the store as it was.
func TestJournalAuthorization(t *testing.T) {
	cora := itsm.Actor{ID: "cora", Roles: []string{"caller"}}
	// The caller under a host role that may only comment, to show the
	// action is checked on its own and not as an update.
	commenter := itsm.Actor{ID: "carl", Roles: []string{"commenter"}}
	az := operation.DefaultAuthorizer().Grant("commenter", operation.KindIncident+":"+operation.ActionComment, operation.KindIncident+":"+itsm.ActionRead)
	cases := []struct {
		name   string
		do     func(f fixture, id string) (*operation.Incident, error)
		want   error  // nil: allowed
		reason string // part of the refusal's reason
	}{
		{"caller comments on own incident", func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.AddComment(as(carl), id, "it happened again at 10:05", storage.Command{})
		}, nil, ""},
		{"agent adds a work note", func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.AddWorkNote(as(ann), id, "gateway logs clean", storage.Command{})
		}, nil, ""},
		{"host role allowed only to comment", func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.AddComment(as(commenter), id, "seen it too", storage.Command{})
		}, nil, ""},
		{"caller adds a work note", func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.AddWorkNote(as(carl), id, "internal?", storage.Command{})
		}, itsm.ErrForbidden, "incident:work_note"},
		{"caller comments on another's incident", func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.AddComment(as(cora), id, "me too", storage.Command{})
		}, itsm.ErrForbidden, "outside the actor's read scope (caller_id)"},
		{"caller edits the description", func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.UpdateIncident(as(carl), id, storage.Command{}, func(i *operation.Incident) error {
				i.Description = "rewritten"
				return nil
			})
		}, itsm.ErrForbidden, "incident:update"},
		{"comment-only role adds a work note", func(f fixture, id string) (*operation.Incident, error) {
			return f.desk.AddWorkNote(as(commenter), id, "sneaky", storage.Command{})
		}, itsm.ErrForbidden, "incident:work_note"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *operation.Config) { c.Authorizer = az })
			inc := f.open(t)
			before := f.snapshot(t)
			got, err := tc.do(f, inc.ID)
			if tc.want == nil {
				require.NoError(t, err)
				assert.Len(t, append(got.Comments, got.WorkNotes...), 1)
				evs, err := f.desk.Incidents().History(as(reader), inc.ID)
				require.NoError(t, err)
				assert.Equal(t, itsm.EventUpdate, evs[len(evs)-1].Name, "a note is an update event")
				return
			}
			require.ErrorIs(t, err, tc.want)
			var fe *itsm.ForbiddenError
			require.ErrorAs(t, err, &fe)
			assert.Contains(t, fe.Error(), tc.reason)
			assert.Equal(t, before, f.snapshot(t), "store unchanged")
		})
	}
}

func TestMajorIncidentApproval(t *testing.T) {
	f := newFixture(t)
	inc := f.open(t)
	got, err := f.desk.ProposeMajor(as(ann), inc.ID, storage.Command{Reason: "whole site down"})
	require.NoError(t, err)
	assert.Equal(t, operation.MajorProposed, got.MajorState)
	assert.False(t, got.Major)
	_, err = f.desk.ProposeMajor(as(bob), inc.ID, storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalidTransition, "already proposed")
	got, err = f.desk.AcceptMajor(as(dora), inc.ID, storage.Command{})
	require.NoError(t, err)
	assert.True(t, got.Major)
	assert.Equal(t, operation.StateNew, got.State, "approval keeps the state")

	other := f.open(t)
	_, err = f.desk.ProposeMajor(as(ann), other.ID, storage.Command{})
	require.NoError(t, err)
	got, err = f.desk.RejectMajor(as(dora), other.ID, storage.Command{Reason: "one user only"})
	require.NoError(t, err)
	assert.False(t, got.Major)
	assert.Equal(t, operation.MajorRejected, got.MajorState)
}

func TestParentResolvesChildren(t *testing.T) {
	f := newFixture(t)
	parent := f.open(t)
	kids := []*operation.Incident{f.open(t), f.open(t, func(i *operation.Incident) { i.ParentID = parent.ID }), f.open(t)}
	_, err := f.desk.LinkChild(as(ann), parent.ID, kids[0].ID, storage.Command{})
	require.NoError(t, err)
	_, err = f.desk.HoldIncident(as(ann), kids[1].ID, operation.HoldAwaitingProblem, storage.Command{})
	require.NoError(t, err)
	// A closed child is left alone.
	_, err = f.desk.LinkChild(as(ann), parent.ID, kids[2].ID, storage.Command{})
	require.NoError(t, err)
	_, err = f.desk.ResolveIncident(as(ann), kids[2].ID, operation.ResolvedRemotely, "own fix", storage.Command{})
	require.NoError(t, err)

	// Refused links.
	_, err = f.desk.LinkChild(as(ann), parent.ID, parent.ID, storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalid)
	_, err = f.desk.LinkChild(as(ann), kids[0].ID, f.open(t).ID, storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalid, "a child cannot be a parent")
	_, err = f.desk.LinkChild(as(ann), f.open(t).ID, parent.ID, storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalid, "a parent cannot become a child")

	_, err = f.desk.ResolveIncident(as(ann), parent.ID, operation.ResolvedPermanently, "core switch replaced", storage.Command{})
	require.NoError(t, err)
	for i, k := range kids[:2] {
		got, err := f.desk.Incidents().Get(as(reader), k.ID)
		require.NoError(t, err)
		assert.Equal(t, operation.StateResolved, got.State, "child %d", i)
		assert.Equal(t, "core switch replaced", got.ResolutionNotes)
		evs, err := f.desk.Incidents().History(as(reader), k.ID)
		require.NoError(t, err)
		assert.Equal(t, "resolved with parent "+parent.Number, evs[len(evs)-1].Reason)
	}
	got, err := f.desk.Incidents().Get(as(reader), kids[2].ID)
	require.NoError(t, err)
	assert.Equal(t, "own fix", got.ResolutionNotes)
}

// A child that cannot be resolved stops the parent's resolution: all or
// nothing.
func TestParentResolutionIsAllOrNothing(t *testing.T) {
	pol := operation.IncidentPolicy{}
	lc := operation.IncidentLifecycle(pol).Guard(operation.EventResolve, "not_frozen",
		func(_ context.Context, i *operation.Incident, _ itsm.Transition) error {
			if i.Category == "frozen" {
				return errors.New("frozen incidents stay open")
			}
			return nil
		})
	f := newFixture(t, func(c *operation.Config) { c.IncidentLifecycle = lc })
	parent := f.open(t)
	f.open(t, func(i *operation.Incident) { i.ParentID = parent.ID })
	f.open(t, func(i *operation.Incident) { i.ParentID = parent.ID; i.Category = "frozen" })
	before := f.snapshot(t)
	_, err := f.desk.ResolveIncident(as(ann), parent.ID, operation.ResolvedPermanently, "fixed", storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalidTransition)
	assert.Equal(t, before, f.snapshot(t))
}

func TestCloseResolved(t *testing.T) {
	f := newFixture(t, func(c *operation.Config) { c.Incident.AutoCloseAfter = 3 * 24 * time.Hour })
	ctx := as(ann)
	var ids []string
	for i := range 5 {
		inc := f.open(t)
		ids = append(ids, inc.ID)
		if i < 4 {
			_, err := f.desk.ResolveIncident(ctx, inc.ID, operation.ResolvedPermanently, "done", storage.Command{})
			require.NoError(t, err)
		}
		f.clock.Advance(24 * time.Hour)
	}
	// Now t0+5d: incidents resolved at t0, t0+1d, t0+2d are due (>= 3 days).
	n, err := f.desk.CloseResolved(as(system), f.clock.Now())
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	states := map[string]int{}
	for _, id := range ids {
		got, err := f.desk.Incidents().Get(as(reader), id)
		require.NoError(t, err)
		states[got.State]++
	}
	assert.Equal(t, map[string]int{"closed": 3, "resolved": 1, "new": 1}, states)
	n, err = f.desk.CloseResolved(as(system), f.clock.Now())
	require.NoError(t, err)
	assert.Equal(t, 0, n, "idempotent")
	f.clock.Advance(24 * time.Hour)
	_, err = f.desk.CloseResolved(context.Background(), f.clock.Now())
	require.ErrorIs(t, err, itsm.ErrForbidden)
}

// TestCloseResolvedRefusesTheFuture: a run at a time after the clock's now
// (issue 18: year 9999 closed every resolved incident, stamped with the
// real time) or at the zero time is refused and writes nothing; a run at
// an earlier time closes what was due then, at the clock's time.
func TestCloseResolvedRefusesTheFuture(t *testing.T) {
	tests := []struct {
		name string
		now  func(clock time.Time) time.Time
	}{
		{"year 9999", func(time.Time) time.Time { return time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"a day ahead", func(c time.Time) time.Time { return c.Add(24 * time.Hour) }},
		{"a nanosecond ahead", func(c time.Time) time.Time { return c.Add(time.Nanosecond) }},
		{"zero time", func(time.Time) time.Time { return time.Time{} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *operation.Config) { c.Incident.AutoCloseAfter = 3 * 24 * time.Hour })
			inc := f.open(t)
			_, err := f.desk.ResolveIncident(as(ann), inc.ID, operation.ResolvedPermanently, "done", storage.Command{})
			require.NoError(t, err)
			before := f.snapshot(t)
			n, err := f.desk.CloseResolved(as(system), tc.now(f.clock.Now()))
			require.ErrorIs(t, err, itsm.ErrInvalid)
			assert.Zero(t, n)
			assert.Equal(t, before, f.snapshot(t))
		})
	}

	f := newFixture(t, func(c *operation.Config) { c.Incident.AutoCloseAfter = 3 * 24 * time.Hour })
	inc := f.open(t)
	_, err := f.desk.ResolveIncident(as(ann), inc.ID, operation.ResolvedPermanently, "done", storage.Command{})
	require.NoError(t, err)
	f.clock.Advance(5 * 24 * time.Hour)
	n, err := f.desk.CloseResolved(as(system), f.clock.Now().Add(-time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	got, err := f.desk.Incidents().Get(as(reader), inc.ID)
	require.NoError(t, err)
	assert.Equal(t, operation.StateClosed, got.State)
	assert.Equal(t, itsm.NormalizeTime(f.clock.Now()), got.UpdatedAt, "closed at the run time")
}

func TestQueues(t *testing.T) {
	f := newFixture(t)
	ctx := as(ann)
	mk := func(impact, urgency int, group, who string) *operation.Incident {
		f.clock.Advance(time.Minute)
		return f.open(t, func(i *operation.Incident) {
			i.Impact, i.Urgency, i.AssignmentGroup, i.AssignedTo = impact, urgency, group, who
		})
	}
	mine3 := mk(2, 2, "network", "ann")
	mine1 := mk(1, 1, "network", "ann")
	mine1b := mk(1, 1, "network", "ann")
	mk(1, 1, "network", "bob")
	un5 := mk(3, 3, "network", "")
	un2 := mk(1, 2, "network", "")
	mk(1, 1, "servers", "")
	done := mk(1, 1, "network", "ann")
	_, err := f.desk.ResolveIncident(ctx, done.ID, operation.ResolvedPermanently, "x", storage.Command{})
	require.NoError(t, err)

	ids := func(xs []*operation.Incident) []string {
		var out []string
		for _, x := range xs {
			out = append(out, x.Number)
		}
		return out
	}
	page1, next, err := f.desk.MyOpenIncidents(ctx, storage.Paging{Limit: 2})
	require.NoError(t, err)
	assert.Equal(t, []string{mine1.Number, mine1b.Number}, ids(page1))
	require.NotEmpty(t, next)
	page2, next, err := f.desk.MyOpenIncidents(ctx, storage.Paging{Limit: 2, Cursor: next})
	require.NoError(t, err)
	assert.Equal(t, []string{mine3.Number}, ids(page2))
	assert.Empty(t, next)

	un, _, err := f.desk.UnassignedInMyGroups(ctx, storage.Paging{})
	require.NoError(t, err)
	assert.Equal(t, []string{un2.Number, un5.Number}, ids(un))
	un, _, err = f.desk.UnassignedInMyGroups(as(bob), storage.Paging{})
	require.NoError(t, err)
	assert.Len(t, un, 3)
	none, next, err := f.desk.UnassignedInMyGroups(as(carl), storage.Paging{})
	require.NoError(t, err)
	assert.Empty(t, none)
	assert.Empty(t, next)

	_, _, err = f.desk.MyOpenIncidents(ctx, storage.Paging{Limit: -1})
	require.ErrorIs(t, err, itsm.ErrInvalid)
	_, _, err = f.desk.MyOpenIncidents(ctx, storage.Paging{Cursor: "garbage"})
	require.ErrorIs(t, err, itsm.ErrInvalid)
	_, _, err = f.desk.MyOpenIncidents(context.Background(), storage.Paging{})
	require.ErrorIs(t, err, itsm.ErrForbidden)

	// Breaching soon goes through the SLA pillar's interface.
	_, _, err = f.desk.BreachingSoon(ctx, time.Hour, storage.Paging{})
	require.ErrorIs(t, err, itsm.ErrInvalid, "no SLA watcher configured")
	g := newFixture(t, func(c *operation.Config) { c.SLA = slaWatcher{} })
	a := g.open(t)
	b := g.open(t)
	_, err = g.desk.ResolveIncident(ctx, b.ID, operation.ResolvedPermanently, "x", storage.Command{})
	require.NoError(t, err)
	g2, err := operation.New(context.Background(), g.store, operation.Config{Clock: g.clock, SLA: slaWatcher{ids: []string{b.ID, a.ID, itsm.NewID()}}})
	require.NoError(t, err)
	soon, _, err := g2.BreachingSoon(ctx, time.Hour, storage.Paging{})
	require.NoError(t, err)
	assert.Equal(t, []string{a.Number}, ids(soon), "resolved and unknown ids are skipped")
}

func TestIncidentLifecycleDiagram(t *testing.T) {
	m, err := operation.IncidentLifecycle(operation.IncidentPolicy{}).Compile()
	require.NoError(t, err)
	assert.Equal(t, []string{"new", "in_progress", "on_hold", "resolved", "closed", "canceled"}, m.States())
	mer := m.Mermaid()
	assert.Contains(t, mer, "resolved --> in_progress: reopen [within_reopen_window]")
	assert.Contains(t, mer, "on_hold --> in_progress: resume")
	// A host extends it before compiling: a new hold reason and a state.
	lc := operation.IncidentLifecycle(operation.IncidentPolicy{ExtraHoldReasons: []string{"awaiting_parts"}}).
		States("awaiting_review").Event("request_review", "awaiting_review", "resolved").Event("review", "closed", "awaiting_review")
	f := newFixture(t, func(c *operation.Config) {
		c.IncidentLifecycle = lc
		c.Incident.ExtraHoldReasons = []string{"awaiting_parts"}
	})
	inc := f.open(t)
	got, err := f.desk.HoldIncident(as(ann), inc.ID, "awaiting_parts", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, "awaiting_parts", got.HoldReason)
}

// Paging through a queue with small pages returns exactly the queue's
// rows, in order, with no duplicates, whatever the page size.
func TestQueuePagination(t *testing.T) {
	f := newFixture(t)
	var want []string
	type row struct {
		prio int
		at   time.Time
		id   string
		num  string
	}
	var all []row
	for i := range 40 {
		if i%5 == 0 {
			f.clock.Advance(time.Minute) // several incidents share an opened time
		}
		group := []string{"network", "servers", "other"}[i%3]
		inc := f.open(t, func(x *operation.Incident) { x.Impact, x.Urgency, x.AssignmentGroup = 1+i%3, 1+(i/3)%3, group })
		work := as(system) // the setup works every group's incidents
		switch i % 4 {
		case 1:
			_, err := f.desk.StartIncident(work, inc.ID, storage.Command{})
			require.NoError(t, err)
		case 2:
			_, err := f.desk.HoldIncident(work, inc.ID, operation.HoldAwaitingVendor, storage.Command{})
			require.NoError(t, err)
		case 3:
			if i%8 == 3 {
				_, err := f.desk.ResolveIncident(work, inc.ID, operation.ResolvedPermanently, "x", storage.Command{})
				require.NoError(t, err)
				continue
			}
		}
		if group != "other" {
			all = append(all, row{inc.Priority, inc.CreatedAt, inc.ID, inc.Number})
		}
	}
	slices.SortFunc(all, func(a, b row) int {
		if a.prio != b.prio {
			return a.prio - b.prio
		}
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	for _, r := range all {
		want = append(want, r.num)
	}
	for _, size := range []int{1, 3, 7, 50} {
		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 100)
			incs, next, err := f.desk.UnassignedInMyGroups(as(bob), storage.Paging{Limit: size, Cursor: cursor})
			require.NoError(t, err)
			for _, x := range incs {
				got = append(got, x.Number)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		assert.Equal(t, want, got, "page size %d", size)
	}
	_, _, err := f.desk.UnassignedInMyGroups(as(ann), storage.Paging{Cursor: "q1.bad"})
	require.ErrorIs(t, err, itsm.ErrInvalid)
}

// Linking a child while its parent is resolved, or while the parent is
// itself linked under another, never leaves an open child under a resolved
// parent nor a grandchild: the link writes the parent, so the two units
// conflict and the retried one decides on fresh data.
func TestConcurrentLinkAndResolve(t *testing.T) {
	f := newFixture(t)
	ctx := as(ann)
	get := func(id string) *operation.Incident {
		got, err := f.desk.Incidents().Get(as(reader), id)
		require.NoError(t, err)
		return got
	}
	race := func(a, b func() error) (errA, errB error) {
		errs := make(chan error, 2)
		go func() { errs <- a() }()
		go func() { errs <- b() }()
		// Which finished first does not matter: collect both.
		e1, e2 := <-errs, <-errs
		return e1, e2
	}
	for round := range 8 {
		parent, child := f.open(t), f.open(t)
		e1, e2 := race(func() error {
			_, err := f.desk.LinkChild(ctx, parent.ID, child.ID, storage.Command{})
			return err
		}, func() error {
			_, err := f.desk.ResolveIncident(ctx, parent.ID, operation.ResolvedPermanently, "fixed", storage.Command{})
			return err
		})
		for _, err := range []error{e1, e2} {
			if err != nil {
				require.ErrorIs(t, err, itsm.ErrInvalid, "round %d: only the link may be refused", round)
			}
		}
		p, c := get(parent.ID), get(child.ID)
		require.Equal(t, operation.StateResolved, p.State, "round %d", round)
		if c.ParentID == parent.ID {
			assert.Equal(t, operation.StateResolved, c.State, "round %d: a linked child is resolved with its parent", round)
			assert.Equal(t, 1, p.Children)
		} else {
			assert.Equal(t, operation.StateNew, c.State, "round %d", round)
		}

		top, mid, low := f.open(t), f.open(t), f.open(t)
		_, _ = race(func() error {
			_, err := f.desk.LinkChild(ctx, mid.ID, low.ID, storage.Command{})
			return err
		}, func() error {
			_, err := f.desk.LinkChild(ctx, top.ID, mid.ID, storage.Command{})
			return err
		})
		assert.False(t, get(low.ID).ParentID == mid.ID && get(mid.ID).ParentID == top.ID, "round %d: no grandchild", round)
	}
}
