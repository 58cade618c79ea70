package operation_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
)

// Every read API of the desk, for every kind of actor: what each may see of
// one incident raised by carl and worked by the network group, with a work
// note on it.
func TestEveryIncidentReadIsAuthorised(t *testing.T) {
	var inc *operation.Incident
	f := newFixture(t, func(c *operation.Config) { c.SLA = slaWatcher{ids: nil} })
	inc = f.open(t, func(x *operation.Incident) { x.AssignmentGroup, x.AssignedTo = "network", "ann" })
	_, err := f.desk.AddWorkNote(as(ann), inc.ID, "caller is a VIP, handle with care", storage.Command{})
	require.NoError(t, err)
	f = fixture{desk: mustDesk(t, f, slaWatcher{ids: []string{inc.ID}}), store: f.store, clock: f.clock}

	cora := itsm.Actor{ID: "cora", Roles: []string{"caller"}}
	dan := itsm.Actor{ID: "dan", Roles: []string{"agent"}, Groups: []string{"database"}}
	root := itsm.Actor{ID: "root", Roles: []string{"admin"}}
	actors := []struct {
		name      string
		ctx       context.Context
		reads     bool
		seesNotes bool
	}{
		{"no actor", context.Background(), false, false},
		{"the caller", as(carl), true, false},
		{"another caller", as(cora), false, false},
		{"an agent of the group", as(ann), true, true},
		{"an agent outside it", as(dan), false, false},
		{"a manager", as(reader), true, true},
		{"an admin", as(root), true, true},
	}
	type read func(ctx context.Context) ([]*operation.Incident, error)
	one := func(get func(context.Context) (*operation.Incident, error)) read {
		return func(ctx context.Context) ([]*operation.Incident, error) {
			i, err := get(ctx)
			if err != nil {
				return nil, err
			}
			return []*operation.Incident{i}, nil
		}
	}
	list := func(page func(context.Context, storage.Paging) ([]*operation.Incident, string, error)) read {
		return func(ctx context.Context) ([]*operation.Incident, error) {
			incs, _, err := page(ctx, storage.Paging{})
			return incs, err
		}
	}
	apis := map[string]read{
		"Incidents().Get": one(func(ctx context.Context) (*operation.Incident, error) { return f.desk.Incidents().Get(ctx, inc.ID) }),
		"Incidents().Query": func(ctx context.Context) ([]*operation.Incident, error) {
			incs, _, err := f.desk.Incidents().Query(ctx, storage.Query{})
			return incs, err
		},
		"Incidents().All": func(ctx context.Context) ([]*operation.Incident, error) {
			return f.desk.Incidents().All(ctx, storage.Query{})
		},
		"MyOpenIncidents":      list(f.desk.MyOpenIncidents),
		"MyRequestedIncidents": list(f.desk.MyRequestedIncidents),
		"UnassignedInMyGroups": list(f.desk.UnassignedInMyGroups),
		"BreachingSoon": list(func(ctx context.Context, p storage.Paging) ([]*operation.Incident, string, error) {
			return f.desk.BreachingSoon(ctx, 1e12, p)
		}),
		"BreachingSoonInMyGroups": list(func(ctx context.Context, p storage.Paging) ([]*operation.Incident, string, error) {
			return f.desk.BreachingSoonInMyGroups(ctx, 1e12, p)
		}),
	}
	for api, read := range apis {
		for _, a := range actors {
			t.Run(api+"/"+a.name, func(t *testing.T) {
				got, err := read(a.ctx)
				if err != nil {
					require.ErrorIs(t, err, itsm.ErrForbidden)
					require.False(t, a.reads && (api == "Incidents().Get"), "a reader of the incident is refused by Get")
					return
				}
				for _, g := range got {
					require.True(t, a.reads, "%s handed %s an incident they may not read", api, a.name)
					if !a.seesNotes {
						assert.Empty(t, g.WorkNotes, "%s handed %s the internal work notes", api, a.name)
					}
				}
				if a.reads && api == "Incidents().Get" {
					require.Len(t, got, 1)
					assert.Equal(t, a.seesNotes, len(got[0].WorkNotes) == 1)
				}
			})
		}
	}
	// History and Verify follow Get; history hides the note's change.
	for _, a := range actors {
		evs, err := f.desk.Incidents().History(a.ctx, inc.ID)
		if !a.reads {
			assert.ErrorIs(t, err, itsm.ErrForbidden, a.name)
			continue
		}
		require.NoError(t, err, a.name)
		notes := 0
		for _, ev := range evs {
			for _, c := range ev.Changes {
				if c.Field == "work_notes" {
					notes++
				}
			}
		}
		assert.Equal(t, a.seesNotes, notes == 1, a.name)
	}
}

// What a write hands back is what the actor may read: a caller's comment
// returns the incident without the work notes.
func TestWritesReturnWhatTheActorMayRead(t *testing.T) {
	f := newFixture(t)
	inc := f.open(t, func(x *operation.Incident) { x.AssignmentGroup = "network" })
	_, err := f.desk.AddWorkNote(as(ann), inc.ID, "caller is a VIP", storage.Command{})
	require.NoError(t, err)
	got, err := f.desk.AddComment(as(carl), inc.ID, "any news?", storage.Command{})
	require.NoError(t, err)
	assert.Empty(t, got.WorkNotes)
	assert.Len(t, got.Comments, 1)
	got, err = f.desk.AddComment(as(ann), inc.ID, "working on it", storage.Command{})
	require.NoError(t, err)
	assert.Len(t, got.WorkNotes, 1, "the agent sees the notes")
	stored, err := f.desk.Incidents().Get(as(reader), inc.ID)
	require.NoError(t, err)
	assert.Len(t, stored.WorkNotes, 1, "the caller's write kept the notes")
}

// A caller with more than a page of incidents among many others' gets full
// pages of their own.
func TestCallerPagesStayFull(t *testing.T) {
	f := newFixture(t)
	for i := range 130 {
		who := []string{"carl", "cora"}[i%2]
		f.open(t, func(x *operation.Incident) { x.CallerID, x.ShortDescription = who, fmt.Sprint("issue ", i) })
	}
	page, next, err := f.desk.Incidents().Query(as(carl), storage.Query{Limit: 50})
	require.NoError(t, err)
	assert.Len(t, page, 50)
	assert.NotEmpty(t, next)
	for _, inc := range page {
		assert.Equal(t, "carl", inc.CallerID)
	}
	mine, _, err := f.desk.MyRequestedIncidents(as(carl), storage.Paging{Limit: 50})
	require.NoError(t, err)
	assert.Len(t, mine, 50)
}

func mustDesk(t *testing.T, f fixture, sla operation.SLAWatcher) *operation.Desk {
	t.Helper()
	d, err := operation.New(context.Background(), f.store, operation.Config{Clock: f.clock, Directory: groups, SLA: sla})
	require.NoError(t, err)
	return d
}

// The generic runner a host gets from Requests cannot approve a request,
// nor create one already approved; fields the desk does not own stay the
// host's to edit.
func TestRequestRecordsCannotForgeApproval(t *testing.T) {
	f := newFixture(t)
	r := f.submit(t, carl, "laptop")
	require.Equal(t, "approvers", r.ApprovalGroup)
	forged := []struct {
		name string
		edit func(*operation.Request) error
	}{
		{"add an approval", func(r *operation.Request) error {
			r.Approvals = append(r.Approvals, operation.Approval{Approver: "ann", Decision: "approved"})
			return nil
		}},
		{"drop the approval group", func(r *operation.Request) error { r.ApprovalGroup, r.RequiredApprovals = "", 0; return nil }},
		{"skip the tasks", func(r *operation.Request) error { r.Plan = nil; return nil }},
	}
	for _, tt := range forged {
		t.Run(tt.name, func(t *testing.T) {
			before := f.snapshot(t)
			_, err := f.desk.Requests().Change(as(ann), r.ID, storage.Command{}, tt.edit)
			require.ErrorIs(t, err, itsm.ErrForbidden)
			assert.Equal(t, before, f.snapshot(t))
		})
	}
	got, err := f.desk.Requests().Change(as(ann), r.ID, storage.Command{}, func(r *operation.Request) error {
		r.Description = "for the new starter"
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, "for the new starter", got.Description)
	pre := &operation.Request{CatalogItemID: "laptop", ShortDescription: "x", RequestedFor: "carl",
		Approvals: []operation.Approval{{Approver: "eve", Decision: "approved"}}}
	require.ErrorIs(t, f.desk.Requests().Create(as(ann), pre, storage.Command{}), itsm.ErrForbidden)
}
