package operation_test

import (
	"context"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/internal/badinput"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
)

// The design pillar's catalogue is the desk's Catalog as it is.
var _ operation.Catalog = (*design.Catalogue)(nil)

// catalogueDesk is a desk ordering from a real design catalogue on the same
// store, with one published item: a form of three questions, approval by
// the approvers group, and three tasks in two stages.
func catalogueDesk(t testing.TB) (fixture, *design.Catalogue, string) {
	t.Helper()
	ctx := context.Background()
	store := newStore(t)
	cat, err := design.NewCatalogue(ctx, store, design.CatalogueConfig{})
	require.NoError(t, err)
	admin := as(itsm.Actor{ID: "olga", Roles: []string{"admin"}})
	svc := &design.Service{Name: "End-user computing", Type: design.BusinessService, Owner: "olga", SupportGroup: "desktop", Criticality: 2}
	require.NoError(t, cat.Services().Create(admin, svc, storage.Command{}))
	_, err = cat.Services().Fire(admin, svc.ID, "charter", storage.Command{}, nil)
	require.NoError(t, err)
	one, three := 1.0, 3.0
	item := &design.CatalogItem{Name: "Laptop", ServiceID: svc.ID, ApprovalRequired: true, ApproverGroup: "approvers",
		Fields: []design.FormField{
			{Name: "model", Label: "Model", Type: design.FieldChoice, Required: true, Choices: []string{"standard", "developer"}},
			{Name: "quantity", Label: "Quantity", Type: design.FieldNumber, Required: true, Min: &one, Max: &three},
			{Name: "ticket", Label: "Cost centre", Type: design.FieldText, Pattern: `CC-[0-9]{4}`},
		},
		Tasks: []design.TaskTemplate{{Name: "Deliver", AssignmentGroup: "desktop", Order: 2},
			{Name: "Order", AssignmentGroup: "procurement", Order: 1}, {Name: "Image", AssignmentGroup: "desktop", Order: 1}}}
	require.NoError(t, cat.AddItem(admin, item, storage.Command{}))
	_, err = cat.Items().Fire(admin, item.ID, "publish", storage.Command{}, nil)
	require.NoError(t, err)
	clock := itsm.NewFakeClock(t0)
	n := &notifier{}
	desk, err := operation.New(ctx, store, operation.Config{Clock: clock, Directory: groups, Notifier: n, Catalog: cat})
	require.NoError(t, err)
	return fixture{store: store, desk: desk, clock: clock, note: n}, cat, item.ID
}

// Ordering from the design pillar's catalogue: its form refuses bad answers
// per field (nothing written), accepted answers become the request's
// variables, and after approval the tasks run in the item's stages.
func TestRequestFromDesignCatalogue(t *testing.T) {
	f, cat, item := catalogueDesk(t)
	refused := []struct {
		name  string
		vars  map[string]string
		field string
		says  string
	}{
		{"nothing answered", nil, "variables.model", "is required"},
		{"not a choice", map[string]string{"model": "gaming", "quantity": "1"}, "variables.model", "is not one of"},
		{"above the maximum", map[string]string{"model": "standard", "quantity": "4"}, "variables.quantity", "is above 3"},
		{"pattern", map[string]string{"model": "standard", "quantity": "1", "ticket": "CC-12"}, "variables.ticket", "does not match"},
		{"unknown question", map[string]string{"model": "standard", "quantity": "1", "colour": "red"}, "variables.colour", "no such field"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			before := f.snapshot(t)
			err := f.desk.SubmitRequest(as(carl), &operation.Request{CatalogItemID: item, Variables: tc.vars}, storage.Command{})
			require.ErrorIs(t, err, itsm.ErrInvalid)
			var ve *itsm.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, design.CatalogItemKind, ve.Kind, "the catalogue's own error")
			assert.Contains(t, ve.Fields[tc.field], tc.says)
			assert.Equal(t, before, f.snapshot(t))
		})
	}

	vars := map[string]string{"model": "developer", "quantity": "2", "ticket": "CC-1234"}
	r := &operation.Request{CatalogItemID: item, ShortDescription: "Laptop", Variables: vars}
	require.NoError(t, f.desk.SubmitRequest(as(carl), r, storage.Command{}))
	assert.Equal(t, operation.StateAwaitingApproval, r.State)
	assert.Equal(t, "approvers", r.ApprovalGroup)
	assert.Equal(t, 1, r.RequiredApprovals)
	got, err := f.desk.ApproveRequest(as(eve), r.ID, "ok", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, vars, got.Variables)
	tasks := f.tasksOf(t, got)
	require.Len(t, tasks, 2, "stage 1: order and image")
	assert.Equal(t, []string{"Order", "Image"}, []string{tasks[0].ShortDescription, tasks[1].ShortDescription})
	for _, task := range tasks {
		_, err := f.desk.CompleteTask(as(ann), task.ID, "done", storage.Command{})
		require.NoError(t, err)
	}
	tasks = f.tasksOf(t, got)
	require.Len(t, tasks, 3)
	assert.Equal(t, "Deliver", tasks[2].ShortDescription)
	assert.Equal(t, 2, tasks[2].Order)

	// A retired item is not orderable: refused on catalog_item_id.
	_, err = cat.Items().Fire(as(itsm.Actor{ID: "olga", Roles: []string{"admin"}}), item, "retire", storage.Command{}, nil)
	require.NoError(t, err)
	err = f.desk.SubmitRequest(as(carl), &operation.Request{CatalogItemID: item, Variables: vars}, storage.Command{})
	var ve *itsm.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Contains(t, ve.Fields["catalog_item_id"], "not published")
	err = f.desk.SubmitRequest(as(carl), &operation.Request{CatalogItemID: itsm.NewID()}, storage.Command{})
	require.ErrorIs(t, err, itsm.ErrNotFound)
}

// FuzzSubmitRequest orders the design catalogue's item with arbitrary
// answers: SubmitRequest never panics, a refusal matches a kernel sentinel
// and writes nothing, and accepted answers read back as given.
func FuzzSubmitRequest(f *testing.F) {
	f.Add("model", "standard", "quantity", "1", "ticket", "CC-0001", "Laptop")
	f.Add("model", "", "quantity", "NaN", "", "", "")
	f.Add("Model", "x", "quantity", "1e400", "ticket", "CC-1234\x00", "\xff")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3, short string) {
		fx, _, item := catalogueDesk(t)
		vars := map[string]string{k1: v1, k2: v2, k3: v3}
		before := fx.snapshot(t)
		r := &operation.Request{CatalogItemID: item, ShortDescription: short, Variables: vars}
		err := fx.desk.SubmitRequest(as(carl), r, storage.Command{})
		if err != nil {
			if !badinput.MatchesSentinel(err) {
				t.Fatalf("error matches no sentinel: %v", err)
			}
			if after := fx.snapshot(t); len(after.events) != len(before.events) {
				t.Fatalf("a refused request wrote %d events", len(after.events)-len(before.events))
			}
			return
		}
		got, err := fx.desk.Requests().Get(as(reader), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range vars {
			if v != "" && got.Variables[k] != v {
				t.Fatalf("variable %q: stored %q, given %q", k, got.Variables[k], v)
			}
		}
		if !utf8.ValidString(got.ShortDescription) && utf8.ValidString(short) {
			t.Fatalf("short description mangled: %q", got.ShortDescription)
		}
	})
}
