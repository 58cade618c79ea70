package operation_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
)

func (f fixture) submit(t *testing.T, who itsm.Actor, item string) *operation.Request {
	t.Helper()
	r := &operation.Request{CatalogItemID: item}
	require.NoError(t, f.desk.SubmitRequest(as(who), r, storage.Command{}))
	return r
}

func (f fixture) tasksOf(t *testing.T, r *operation.Request) []*operation.RequestTask {
	t.Helper()
	got, err := f.desk.Requests().Get(context.Background(), r.ID)
	require.NoError(t, err)
	var out []*operation.RequestTask
	for _, id := range got.TaskIDs {
		task, err := f.desk.RequestTasks().Get(context.Background(), id)
		require.NoError(t, err)
		out = append(out, task)
	}
	return out
}

func TestRequestWithApprovalAndTasks(t *testing.T) {
	f := newFixture(t)
	r := f.submit(t, carl, "laptop")
	assert.Equal(t, "REQ0000001", r.Number)
	assert.Equal(t, operation.StateAwaitingApproval, r.State)
	assert.Equal(t, "carl", r.RequestedBy)
	assert.Equal(t, "carl", r.RequestedFor)
	assert.Equal(t, "svc-eus", r.ServiceID)
	assert.Empty(t, r.TaskIDs, "tasks wait for approval")

	got, err := f.desk.ApproveRequest(as(eve), r.ID, "ok")
	require.NoError(t, err)
	assert.Equal(t, operation.StateInFulfillment, got.State)
	tasks := f.tasksOf(t, r)
	require.Len(t, tasks, 2)
	assert.Equal(t, "SCTASK0000001", tasks[0].Number)
	assert.Equal(t, "procurement", tasks[0].AssignmentGroup)
	assert.Equal(t, operation.TaskOpen, tasks[1].State)

	_, err = f.desk.StartTask(as(ann), tasks[0].ID, storage.Command{})
	require.NoError(t, err)
	_, err = f.desk.CompleteTask(as(ann), tasks[0].ID, "ordered", storage.Command{})
	require.NoError(t, err)
	got, err = f.desk.Requests().Get(context.Background(), r.ID)
	require.NoError(t, err)
	assert.Equal(t, operation.StateInFulfillment, got.State, "one task still open")
	_, err = f.desk.CompleteTask(as(ann), tasks[1].ID, "imaged", storage.Command{})
	require.NoError(t, err)
	got, err = f.desk.Requests().Get(context.Background(), r.ID)
	require.NoError(t, err)
	assert.Equal(t, operation.StateClosedComplete, got.State)
	assert.Equal(t, f.clock.Now(), got.ClosedAt)
}

func TestRequestWithoutApproval(t *testing.T) {
	f := newFixture(t)
	r := f.submit(t, carl, "password")
	assert.Equal(t, operation.StateInFulfillment, r.State)
	tasks := f.tasksOf(t, r)
	require.Len(t, tasks, 1)
	assert.Equal(t, "Fulfil Password reset", tasks[0].ShortDescription)
	_, err := f.desk.CloseTaskIncomplete(as(ann), tasks[0].ID, "user unreachable", storage.Command{})
	require.NoError(t, err)
	got, err := f.desk.Requests().Get(context.Background(), r.ID)
	require.NoError(t, err)
	assert.Equal(t, operation.StateClosedIncomplete, got.State)
}

func TestRequestTwoApprovals(t *testing.T) {
	f := newFixture(t)
	r := f.submit(t, carl, "server")
	got, err := f.desk.ApproveRequest(as(eve), r.ID, "fine")
	require.NoError(t, err)
	assert.Equal(t, operation.StateAwaitingApproval, got.State)
	assert.Len(t, got.Approvals, 1)
	got, err = f.desk.ApproveRequest(as(dora), r.ID, "fine too")
	require.NoError(t, err)
	assert.Equal(t, operation.StateInFulfillment, got.State)
	evs, err := f.desk.Requests().History(context.Background(), r.ID)
	require.NoError(t, err)
	var names []string
	for _, e := range evs {
		names = append(names, e.Name)
	}
	assert.Equal(t, []string{"create", "request_approval", "update", "approve"}, names)
}

func TestRequestRejectAndCancel(t *testing.T) {
	f := newFixture(t)
	r := f.submit(t, carl, "laptop")
	got, err := f.desk.RejectRequest(as(eve), r.ID, "budget frozen")
	require.NoError(t, err)
	assert.Equal(t, operation.StateClosedRejected, got.State)
	assert.Equal(t, "budget frozen", got.Approvals[0].Comment)

	r2 := f.submit(t, carl, "laptop")
	_, err = f.desk.ApproveRequest(as(eve), r2.ID, "")
	require.NoError(t, err)
	tasks := f.tasksOf(t, r2)
	_, err = f.desk.CompleteTask(as(ann), tasks[0].ID, "", storage.Command{})
	require.NoError(t, err)
	got, err = f.desk.CancelRequest(as(carl), r2.ID, storage.Command{Reason: "no longer needed"})
	require.NoError(t, err)
	assert.Equal(t, operation.StateClosedCanceled, got.State)
	tasks = f.tasksOf(t, r2)
	assert.Equal(t, operation.TaskClosedComplete, tasks[0].State)
	assert.Equal(t, operation.TaskClosedSkipped, tasks[1].State)
}

func TestRequestRefusals(t *testing.T) {
	self := itsm.Actor{ID: "eve", Roles: []string{"agent"}, Groups: []string{"approvers"}}
	cases := []struct {
		name  string
		setup func(f fixture) *operation.Request
		do    func(f fixture, r *operation.Request) error
		want  error
	}{
		{"approve own request", func(f fixture) *operation.Request { return f.submit(t, self, "laptop") },
			func(f fixture, r *operation.Request) error {
				_, err := f.desk.ApproveRequest(as(self), r.ID, "")
				return err
			}, itsm.ErrForbidden},
		{"approve request made for oneself", func(f fixture) *operation.Request {
			r := &operation.Request{CatalogItemID: "laptop", RequestedFor: "eve"}
			require.NoError(t, f.desk.SubmitRequest(as(carl), r, storage.Command{}))
			return r
		}, func(f fixture, r *operation.Request) error {
			_, err := f.desk.ApproveRequest(as(eve), r.ID, "")
			return err
		}, itsm.ErrForbidden},
		{"approver outside group", func(f fixture) *operation.Request { return f.submit(t, carl, "laptop") },
			func(f fixture, r *operation.Request) error {
				_, err := f.desk.ApproveRequest(as(ann), r.ID, "")
				return err
			}, itsm.ErrForbidden},
		{"approve twice", func(f fixture) *operation.Request {
			r := f.submit(t, carl, "server")
			_, err := f.desk.ApproveRequest(as(eve), r.ID, "")
			require.NoError(t, err)
			return r
		}, func(f fixture, r *operation.Request) error {
			_, err := f.desk.ApproveRequest(as(eve), r.ID, "")
			return err
		}, itsm.ErrConflict},
		{"approve a request needing none", func(f fixture) *operation.Request { return f.submit(t, carl, "password") },
			func(f fixture, r *operation.Request) error {
				_, err := f.desk.ApproveRequest(as(eve), r.ID, "")
				return err
			}, itsm.ErrInvalidTransition},
		{"reject without comment", func(f fixture) *operation.Request { return f.submit(t, carl, "laptop") },
			func(f fixture, r *operation.Request) error {
				_, err := f.desk.RejectRequest(as(eve), r.ID, " ")
				return err
			}, itsm.ErrInvalid},
		{"unknown catalogue item", nil, func(f fixture, _ *operation.Request) error {
			return f.desk.SubmitRequest(as(carl), &operation.Request{CatalogItemID: "yacht"}, storage.Command{})
		}, itsm.ErrNotFound},
		{"inactive catalogue item", nil, func(f fixture, _ *operation.Request) error {
			return f.desk.SubmitRequest(as(carl), &operation.Request{CatalogItemID: "old"}, storage.Command{})
		}, itsm.ErrInvalid},
		{"missing catalogue item", nil, func(f fixture, _ *operation.Request) error {
			return f.desk.SubmitRequest(as(carl), &operation.Request{}, storage.Command{})
		}, itsm.ErrInvalid},
		{"cancel without reason", func(f fixture) *operation.Request { return f.submit(t, carl, "laptop") },
			func(f fixture, r *operation.Request) error {
				_, err := f.desk.CancelRequest(as(carl), r.ID, storage.Command{})
				return err
			}, itsm.ErrInvalid},
		{"close task incomplete without notes", func(f fixture) *operation.Request { return f.submit(t, carl, "password") },
			func(f fixture, r *operation.Request) error {
				got, err := f.desk.Requests().Get(context.Background(), r.ID)
				require.NoError(t, err)
				_, err = f.desk.CloseTaskIncomplete(as(ann), got.TaskIDs[0], "", storage.Command{})
				return err
			}, itsm.ErrInvalidTransition},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			var r *operation.Request
			if tc.setup != nil {
				r = tc.setup(f)
			}
			before := f.snapshot(t)
			require.ErrorIs(t, tc.do(f, r), tc.want)
			assert.Equal(t, before, f.snapshot(t), "store unchanged")
		})
	}
	g := newFixture(t, func(c *operation.Config) { c.Catalog = nil })
	require.ErrorIs(t, g.desk.SubmitRequest(as(carl), &operation.Request{CatalogItemID: "x"}, storage.Command{}), itsm.ErrInvalid)
}
