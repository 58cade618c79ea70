package operation_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
)

func (f fixture) submit(t *testing.T, who itsm.Actor, item string) *operation.Request {
	t.Helper()
	r := &operation.Request{CatalogItemID: item, Variables: answers[item]}
	require.NoError(t, f.desk.SubmitRequest(as(who), r, storage.Command{}))
	return r
}

// answers are valid answers to the fixture catalogue's forms.
var answers = map[string]map[string]string{"laptop": {"model": "14-inch"}}

func (f fixture) tasksOf(t *testing.T, r *operation.Request) []*operation.RequestTask {
	t.Helper()
	got, err := f.desk.Requests().Get(as(reader), r.ID)
	require.NoError(t, err)
	var out []*operation.RequestTask
	for _, id := range got.TaskIDs {
		task, err := f.desk.RequestTasks().Get(as(reader), id)
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
	assert.Equal(t, "off-std", r.OfferingID)
	assert.Equal(t, map[string]string{"model": "14-inch"}, r.Variables)
	assert.Len(t, r.Plan, 2)
	assert.Empty(t, r.TaskIDs, "tasks wait for approval")

	got, err := f.desk.ApproveRequest(as(eve), r.ID, "ok", storage.Command{})
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
	got, err = f.desk.Requests().Get(as(reader), r.ID)
	require.NoError(t, err)
	assert.Equal(t, operation.StateInFulfillment, got.State, "one task still open")
	_, err = f.desk.CompleteTask(as(ann), tasks[1].ID, "imaged", storage.Command{})
	require.NoError(t, err)
	got, err = f.desk.Requests().Get(as(reader), r.ID)
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
	assert.Equal(t, "Fulfil Request for catalogue item password", tasks[0].ShortDescription)
	_, err := f.desk.CloseTaskIncomplete(as(ann), tasks[0].ID, "user unreachable", storage.Command{})
	require.NoError(t, err)
	got, err := f.desk.Requests().Get(as(reader), r.ID)
	require.NoError(t, err)
	assert.Equal(t, operation.StateClosedIncomplete, got.State)
}

func TestRequestTwoApprovals(t *testing.T) {
	f := newFixture(t)
	r := f.submit(t, carl, "server")
	got, err := f.desk.ApproveRequest(as(eve), r.ID, "fine", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, operation.StateAwaitingApproval, got.State)
	assert.Len(t, got.Approvals, 1)
	got, err = f.desk.ApproveRequest(as(dora), r.ID, "fine too", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, operation.StateInFulfillment, got.State)
	evs, err := f.desk.Requests().History(as(reader), r.ID)
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
	got, err := f.desk.RejectRequest(as(eve), r.ID, "budget frozen", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, operation.StateClosedRejected, got.State)
	assert.Equal(t, "budget frozen", got.Approvals[0].Comment)

	r2 := f.submit(t, carl, "laptop")
	_, err = f.desk.ApproveRequest(as(eve), r2.ID, "", storage.Command{})
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
				_, err := f.desk.ApproveRequest(as(self), r.ID, "", storage.Command{})
				return err
			}, itsm.ErrForbidden},
		{"approve request made for oneself", func(f fixture) *operation.Request {
			r := &operation.Request{CatalogItemID: "laptop", RequestedFor: "eve", Variables: answers["laptop"]}
			require.NoError(t, f.desk.SubmitRequest(as(carl), r, storage.Command{}))
			return r
		}, func(f fixture, r *operation.Request) error {
			_, err := f.desk.ApproveRequest(as(eve), r.ID, "", storage.Command{})
			return err
		}, itsm.ErrForbidden},
		{"approver outside group", func(f fixture) *operation.Request { return f.submit(t, carl, "laptop") },
			func(f fixture, r *operation.Request) error {
				_, err := f.desk.ApproveRequest(as(ann), r.ID, "", storage.Command{})
				return err
			}, itsm.ErrForbidden},
		{"approve twice", func(f fixture) *operation.Request {
			r := f.submit(t, carl, "server")
			_, err := f.desk.ApproveRequest(as(eve), r.ID, "", storage.Command{})
			require.NoError(t, err)
			return r
		}, func(f fixture, r *operation.Request) error {
			_, err := f.desk.ApproveRequest(as(eve), r.ID, "", storage.Command{})
			return err
		}, itsm.ErrConflict},
		{"approve a request needing none", func(f fixture) *operation.Request { return f.submit(t, carl, "password") },
			func(f fixture, r *operation.Request) error {
				_, err := f.desk.ApproveRequest(as(eve), r.ID, "", storage.Command{})
				return err
			}, itsm.ErrInvalidTransition},
		{"reject without comment", func(f fixture) *operation.Request { return f.submit(t, carl, "laptop") },
			func(f fixture, r *operation.Request) error {
				_, err := f.desk.RejectRequest(as(eve), r.ID, " ", storage.Command{})
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
				got, err := f.desk.Requests().Get(as(reader), r.ID)
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

// The requester's answers are validated by the catalogue: a refusal carries
// the catalogue's per-field detail and writes nothing; accepted answers are
// stored on the request and read back as they were given.
func TestRequestVariables(t *testing.T) {
	f := newFixture(t)
	refused := []struct {
		name   string
		vars   map[string]string
		fields []string // keys of the ValidationError
	}{
		{"required answer missing", nil, []string{"variables.model"}},
		{"required answer empty", map[string]string{"model": ""}, []string{"variables.model"}},
		{"question the form does not ask", map[string]string{"model": "14-inch", "colour": "red"}, []string{"variables.colour"}},
		{"both", map[string]string{"size": "xl"}, []string{"variables.model", "variables.size"}},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			before := f.snapshot(t)
			r := &operation.Request{CatalogItemID: "laptop", Variables: tc.vars}
			err := f.desk.SubmitRequest(as(carl), r, storage.Command{})
			require.ErrorIs(t, err, itsm.ErrInvalid)
			var ve *itsm.ValidationError
			require.ErrorAs(t, err, &ve)
			var keys []string
			for k := range ve.Fields {
				keys = append(keys, k)
			}
			assert.ElementsMatch(t, tc.fields, keys)
			assert.Equal(t, before, f.snapshot(t), "store unchanged")
			assert.Empty(t, r.ID, "no id issued")
		})
	}

	vars := map[string]string{"model": "14-inch <b>", "notes": "needs a docking station, \"USB-C\""}
	r := &operation.Request{CatalogItemID: "laptop", ShortDescription: "Standard laptop", Variables: vars}
	require.NoError(t, f.desk.SubmitRequest(as(carl), r, storage.Command{}))
	vars["model"] = "changed after submission"
	got, err := f.desk.Requests().Get(as(reader), r.ID)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"model": "14-inch <b>", "notes": "needs a docking station, \"USB-C\""}, got.Variables)
	assert.Equal(t, "Standard laptop", got.ShortDescription)

	// Bounds the catalogue does not know about are the request's own.
	big := map[string]string{"model": strings.Repeat("x", operation.MaxVariableValue+1)}
	err = f.desk.SubmitRequest(as(carl), &operation.Request{CatalogItemID: "laptop", Variables: big}, storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalid)
}

// Fulfilment runs stage by stage in the catalogue's task order: the tasks of
// one order are created together, the next order when every task of the
// earlier one is closed, and the request closes after the last stage.
func TestRequestStages(t *testing.T) {
	f := newFixture(t)
	r := f.submit(t, carl, "onboard")
	require.Len(t, r.Plan, 4)
	assert.Equal(t, []int{10, 10, 20, 30}, []int{r.Plan[0].Order, r.Plan[1].Order, r.Plan[2].Order, r.Plan[3].Order})

	stages := []struct {
		want   []string // short descriptions of the open stage
		orders int
	}{
		{[]string{"Create mailbox", "Order desk"}, 10},
		{[]string{"Enable account"}, 20},
		{[]string{"Brief the manager"}, 30},
	}
	done := 0
	for i, st := range stages {
		tasks := f.tasksOf(t, r)
		require.Len(t, tasks, done+len(st.want), "stage %d", i)
		var open []string
		for _, task := range tasks[done:] {
			assert.Equal(t, operation.TaskOpen, task.State)
			assert.Equal(t, st.orders, task.Order)
			open = append(open, task.ShortDescription)
		}
		assert.Equal(t, st.want, open)
		for j, task := range tasks[done:] {
			_, err := f.desk.CompleteTask(as(ann), task.ID, "done", storage.Command{})
			require.NoError(t, err)
			got, err := f.desk.Requests().Get(as(reader), r.ID)
			require.NoError(t, err)
			if j < len(st.want)-1 {
				assert.Len(t, got.TaskIDs, done+len(st.want), "the stage is not finished: nothing new")
			}
		}
		done += len(st.want)
	}
	got, err := f.desk.Requests().Get(as(reader), r.ID)
	require.NoError(t, err)
	assert.Equal(t, operation.StateClosedComplete, got.State)
	assert.Len(t, got.TaskIDs, 4)
}

// A stage that ends with an incomplete task closes the request incomplete
// and never starts the later stages; a canceled request skips the open
// stage and starts no other.
func TestRequestStageIncompleteAndCancel(t *testing.T) {
	f := newFixture(t)
	r := f.submit(t, carl, "onboard")
	tasks := f.tasksOf(t, r)
	_, err := f.desk.CloseTaskIncomplete(as(ann), tasks[0].ID, "no mailbox licence", storage.Command{})
	require.NoError(t, err)
	got, err := f.desk.Requests().Get(as(reader), r.ID)
	require.NoError(t, err)
	assert.Equal(t, operation.StateInFulfillment, got.State, "the stage's other task is open")
	_, err = f.desk.CompleteTask(as(ann), tasks[1].ID, "ordered", storage.Command{})
	require.NoError(t, err)
	got, err = f.desk.Requests().Get(as(reader), r.ID)
	require.NoError(t, err)
	assert.Equal(t, operation.StateClosedIncomplete, got.State)
	assert.Len(t, got.TaskIDs, 2, "later stages never started")

	r2 := f.submit(t, carl, "onboard")
	for _, task := range f.tasksOf(t, r2) {
		_, err := f.desk.CompleteTask(as(ann), task.ID, "", storage.Command{})
		require.NoError(t, err)
	}
	_, err = f.desk.CancelRequest(as(carl), r2.ID, storage.Command{Reason: "the hire fell through"})
	require.NoError(t, err)
	tasks = f.tasksOf(t, r2)
	require.Len(t, tasks, 3)
	assert.Equal(t, operation.TaskClosedSkipped, tasks[2].State)
}

// badCatalog answers every item with what a broken catalogue might say.
type badCatalog struct {
	catalog
	orderable, tasks error
	group            string
	count            int
	names            []string
	one              bool // one task without a name
}

func (b badCatalog) Orderable(ctx context.Context, id string) error {
	if b.orderable != nil {
		return b.orderable
	}
	return b.catalog.Orderable(ctx, id)
}

func (b badCatalog) ItemApprovals(context.Context, string) (string, int, error) {
	return b.group, b.count, nil
}

func (b badCatalog) ItemTasks(ctx context.Context, id string) ([]string, []string, []int, error) {
	if b.one {
		return []string{""}, []string{"g"}, []int{1}, nil
	}
	if b.tasks != nil || b.names != nil {
		return b.names, nil, nil, b.tasks
	}
	return b.catalog.ItemTasks(ctx, id)
}

// What the catalogue answers wrongly is refused with a clear error and
// nothing written.
func TestRequestCatalogueFailures(t *testing.T) {
	failing := errors.New("catalogue unreachable")
	cases := []struct {
		name string
		cat  badCatalog
		is   error
	}{
		{"store error from Orderable", badCatalog{orderable: failing}, failing},
		{"not found from Orderable", badCatalog{orderable: &itsm.NotFoundError{Kind: "catalog_item", ID: "password"}}, itsm.ErrNotFound},
		{"error from ItemTasks", badCatalog{tasks: failing}, failing},
		{"task slices of different lengths", badCatalog{names: []string{"a", "b"}}, itsm.ErrInvalid},
		{"task without a name", badCatalog{one: true}, itsm.ErrInvalid},
		{"approvals without a group", badCatalog{count: 2}, itsm.ErrInvalid},
		{"negative approvals", badCatalog{group: "x", count: -1}, itsm.ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cat.catalog = catalog{"password": {}}
			f := newFixture(t, func(c *operation.Config) { c.Catalog = tc.cat })
			before := f.snapshot(t)
			err := f.desk.SubmitRequest(as(carl), &operation.Request{CatalogItemID: "password"}, storage.Command{})
			require.ErrorIs(t, err, tc.is)
			assert.Equal(t, before, f.snapshot(t))
		})
	}
	// A caller without the right to create requests learns nothing about
	// the item.
	f := newFixture(t, func(c *operation.Config) { c.Authorizer = itsm.NewRoleAuthorizer().Grant("caller", "incident:create") })
	err := f.desk.SubmitRequest(as(carl), &operation.Request{CatalogItemID: "nope"}, storage.Command{})
	require.ErrorIs(t, err, itsm.ErrForbidden)
}

// A request stored before requests kept their plan (no Plan, perhaps tasks
// already open) still completes: approval reads the item's tasks from the
// catalogue, and tasks close it as before.
func TestRequestStoredWithoutPlan(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	strip := func(id string) {
		t.Helper()
		require.NoError(t, f.store.Update(ctx, func(tx storage.Tx) error {
			coll := f.desk.Requests().Collection()
			r, err := coll.Get(ctx, tx, id)
			if err != nil {
				return err
			}
			r.Plan = nil
			doc, err := coll.Encode(r)
			if err != nil {
				return err
			}
			doc.Version = r.Version + 1
			return tx.Put(ctx, doc, r.Version)
		}))
	}
	waiting := f.submit(t, carl, "laptop")
	strip(waiting.ID)
	got, err := f.desk.ApproveRequest(as(eve), waiting.ID, "ok", storage.Command{})
	require.NoError(t, err)
	assert.Len(t, got.Plan, 2, "the plan read from the catalogue at approval")
	require.Len(t, f.tasksOf(t, got), 2)

	open := f.submit(t, carl, "password")
	strip(open.ID)
	tasks := f.tasksOf(t, open)
	require.Len(t, tasks, 1)
	_, err = f.desk.CompleteTask(as(ann), tasks[0].ID, "done", storage.Command{})
	require.NoError(t, err)
	got, err = f.desk.Requests().Get(as(reader), open.ID)
	require.NoError(t, err)
	assert.Equal(t, operation.StateClosedComplete, got.State)
}

// Two agents closing the last two tasks of a stage at the same time: each
// closure writes the request, so one unit conflicts and, retried, sees the
// other's closure; the next stage always starts (and no stage starts twice).
func TestConcurrentTaskClosures(t *testing.T) {
	f := newFixture(t)
	for round := range 6 {
		r := f.submit(t, carl, "onboard")
		tasks := f.tasksOf(t, r)
		require.Len(t, tasks, 2)
		errs := make(chan error, len(tasks))
		for _, task := range tasks {
			go func() {
				_, err := f.desk.CompleteTask(as(ann), task.ID, "done", storage.Command{})
				errs <- err
			}()
		}
		for range tasks {
			require.NoError(t, <-errs, "round %d", round)
		}
		got, err := f.desk.Requests().Get(as(reader), r.ID)
		require.NoError(t, err)
		assert.Len(t, got.TaskIDs, 3, "round %d: the second stage started once", round)
		assert.Equal(t, 2, got.TasksClosed)
		assert.Equal(t, operation.StateInFulfillment, got.State)
	}
}

// Two approvers approving at once a request that needs both: the request
// always moves to fulfilment, whichever approval is written second.
func TestConcurrentApprovals(t *testing.T) {
	f := newFixture(t)
	for round := range 6 {
		r := f.submit(t, carl, "server")
		errs := make(chan error, 2)
		for _, who := range []itsm.Actor{eve, dora} {
			go func() {
				_, err := f.desk.ApproveRequest(as(who), r.ID, "fine", storage.Command{})
				errs <- err
			}()
		}
		require.NoError(t, <-errs, "round %d", round)
		require.NoError(t, <-errs, "round %d", round)
		got, err := f.desk.Requests().Get(as(reader), r.ID)
		require.NoError(t, err)
		assert.Len(t, got.Approvals, 2, "round %d", round)
		assert.Equal(t, operation.StateInFulfillment, got.State, "round %d", round)
		assert.Len(t, got.TaskIDs, 1, "round %d: one stage started once", round)
	}
}
