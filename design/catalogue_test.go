package design_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

func newCatalogue(t *testing.T) (*design.Catalogue, *memory.Store) {
	t.Helper()
	store := memory.New()
	c, err := design.NewCatalogue(context.Background(), store, design.CatalogueConfig{Clock: itsm.NewFakeClock(monday)})
	require.NoError(t, err)
	return c, store
}

func laptopItem(serviceID string) *design.CatalogItem {
	ten, one := 10.0, 1.0
	return &design.CatalogItem{Name: "Laptop", Category: "hardware", ServiceID: serviceID,
		Fields: []design.FormField{
			{Name: "model", Label: "Model", Type: design.FieldChoice, Required: true, Choices: []string{"13in", "15in"}},
			{Name: "quantity", Label: "How many", Type: design.FieldNumber, Min: &one, Max: &ten},
			{Name: "cost_centre", Label: "Cost centre", Type: design.FieldText, Pattern: `CC[0-9]{4}`},
			{Name: "deliver_to", Label: "Deliver to", Type: design.FieldEmail},
			{Name: "needed_by", Label: "Needed by", Type: design.FieldDate},
			{Name: "docking", Label: "Docking station", Type: design.FieldBool},
		},
		ApprovalRequired: true, ApproverGroup: "it-managers",
		Tasks: []design.TaskTemplate{{Name: "Ship", AssignmentGroup: "logistics", Order: 2}, {Name: "Image", AssignmentGroup: "desktop", Order: 1}},
		Price: design.Money{Amount: 129900, Currency: "EUR"}, DeliveryTime: 40 * time.Hour}
}

func TestCatalogueOrderFlow(t *testing.T) {
	c, _ := newCatalogue(t)
	ctx := as(agent)
	svc := &design.Service{Name: "End-user computing", Type: design.BusinessService, Owner: "olga", SupportGroup: "desktop", Criticality: 2}
	require.NoError(t, c.Services().Create(ctx, svc, storage.Command{}))
	assert.Empty(t, svc.Number, "services go unnumbered")
	state, err := c.ServiceState(ctx, svc.ID)
	require.NoError(t, err)
	assert.Equal(t, design.ServicePipeline, state)

	off := &design.Offering{ServiceID: svc.ID, Name: "Standard laptops", Audience: []string{"staff"}}
	require.NoError(t, c.AddOffering(ctx, off, storage.Command{}))
	item := laptopItem(svc.ID)
	item.OfferingID = off.ID
	require.NoError(t, c.AddItem(ctx, item, storage.Command{}))

	// Not orderable until the item is published and the service chartered.
	assert.ErrorIs(t, c.Orderable(ctx, item.ID), itsm.ErrInvalid)
	_, err = c.Items().Fire(ctx, item.ID, "publish", storage.Command{}, nil)
	require.NoError(t, err)
	assert.ErrorIs(t, c.Orderable(ctx, item.ID), itsm.ErrInvalid)
	_, err = c.Services().Fire(ctx, svc.ID, "charter", storage.Command{}, nil)
	require.NoError(t, err)
	require.NoError(t, c.Orderable(ctx, item.ID))

	required, group, err := c.ItemApproval(ctx, item.ID)
	require.NoError(t, err)
	assert.True(t, required)
	assert.Equal(t, "it-managers", group)
	group, count, err := c.ItemApprovals(ctx, item.ID)
	require.NoError(t, err)
	assert.Equal(t, "it-managers", group)
	assert.Equal(t, 1, count)
	names, groups, orders, err := c.ItemTasks(ctx, item.ID)
	require.NoError(t, err)
	assert.Equal(t, []string{"Image", "Ship"}, names)
	assert.Equal(t, []string{"desktop", "logistics"}, groups)
	assert.Equal(t, []int{1, 2}, orders)
	sid, oid, err := c.ItemService(ctx, item.ID)
	require.NoError(t, err)
	assert.Equal(t, svc.ID, sid)
	assert.Equal(t, off.ID, oid)

	items, _, err := c.PublishedItems(ctx, "hardware", storage.Paging{Limit: 10})
	require.NoError(t, err)
	require.Len(t, items, 1)
	svcs, _, err := c.ServicesIn(ctx, design.ServiceCatalogue, storage.Paging{Limit: 10})
	require.NoError(t, err)
	require.Len(t, svcs, 1)

	require.NoError(t, c.ValidateOrder(ctx, item.ID, map[string]string{
		"model": "13in", "quantity": "2", "cost_centre": "CC1234", "deliver_to": "ann@example.com",
		"needed_by": "2026-12-24", "docking": "true"}))

	bad := []struct {
		name   string
		values map[string]string
		field  string
	}{
		{"missing required", map[string]string{"quantity": "1"}, "variables.model"},
		{"not a choice", map[string]string{"model": "17in"}, "variables.model"},
		{"too many", map[string]string{"model": "13in", "quantity": "11"}, "variables.quantity"},
		{"not a number", map[string]string{"model": "13in", "quantity": "NaN"}, "variables.quantity"},
		{"pattern", map[string]string{"model": "13in", "cost_centre": "CC12345"}, "variables.cost_centre"},
		{"email", map[string]string{"model": "13in", "deliver_to": "Ann <ann@example.com>"}, "variables.deliver_to"},
		{"date", map[string]string{"model": "13in", "needed_by": "24/12/2026"}, "variables.needed_by"},
		{"bool", map[string]string{"model": "13in", "docking": "maybe"}, "variables.docking"},
		{"unknown question", map[string]string{"model": "13in", "colour": "red"}, "variables.colour"},
	}
	for _, tc := range bad {
		err := c.ValidateOrder(ctx, item.ID, tc.values)
		require.ErrorIs(t, err, itsm.ErrInvalid, tc.name)
		var ve *itsm.ValidationError
		require.True(t, errors.As(err, &ve))
		assert.Contains(t, ve.Fields, tc.field, tc.name)
	}
	_, _, err = c.ItemApproval(ctx, itsm.NewID())
	assert.ErrorIs(t, err, itsm.ErrNotFound)
}

func TestCatalogueRefusalsWriteNothing(t *testing.T) {
	c, store := newCatalogue(t)
	ctx := as(agent)
	svc := &design.Service{Name: "Email", Type: design.BusinessService, Owner: "olga", SupportGroup: "messaging", Criticality: 1}
	require.NoError(t, c.Services().Create(ctx, svc, storage.Command{}))
	retired := &design.Service{Name: "Fax", Type: design.TechnicalService, Owner: "olga", SupportGroup: "telecom", Criticality: 4}
	require.NoError(t, c.Services().Create(ctx, retired, storage.Command{}))
	_, err := c.Services().Fire(ctx, retired.ID, "retire", storage.Command{}, nil)
	require.NoError(t, err)
	before, err := store.ReadEvents(context.Background(), 0, 1000)
	require.NoError(t, err)

	badItem := func(fn func(*design.CatalogItem)) *design.CatalogItem {
		it := laptopItem(svc.ID)
		fn(it)
		return it
	}
	tests := []struct {
		name string
		run  func() error
	}{
		{"service without type", func() error {
			return c.Services().Create(ctx, &design.Service{Name: "x", Owner: "o", SupportGroup: "g", Criticality: 1}, storage.Command{})
		}},
		{"service criticality", func() error {
			return c.Services().Create(ctx, &design.Service{Name: "x", Type: design.BusinessService, Owner: "o", SupportGroup: "g", Criticality: 7}, storage.Command{})
		}},
		{"offering of unknown service", func() error {
			return c.AddOffering(ctx, &design.Offering{ServiceID: itsm.NewID(), Name: "x"}, storage.Command{})
		}},
		{"offering of retired service", func() error {
			return c.AddOffering(ctx, &design.Offering{ServiceID: retired.ID, Name: "x"}, storage.Command{})
		}},
		{"offering bad currency", func() error {
			return c.AddOffering(ctx, &design.Offering{ServiceID: svc.ID, Name: "x", Price: design.Money{Amount: 5, Currency: "euro"}}, storage.Command{})
		}},
		{"approval without approver", func() error {
			return c.AddItem(ctx, badItem(func(i *design.CatalogItem) { i.ApproverGroup = "" }), storage.Command{})
		}},
		{"duplicate field", func() error {
			return c.AddItem(ctx, badItem(func(i *design.CatalogItem) { i.Fields[1].Name = "model" }), storage.Command{})
		}},
		{"bad pattern", func() error {
			return c.AddItem(ctx, badItem(func(i *design.CatalogItem) { i.Fields[2].Pattern = "(" }), storage.Command{})
		}},
		{"choice without choices", func() error {
			return c.AddItem(ctx, badItem(func(i *design.CatalogItem) { i.Fields[0].Choices = nil }), storage.Command{})
		}},
		{"unknown field type", func() error {
			return c.AddItem(ctx, badItem(func(i *design.CatalogItem) { i.Fields[0].Type = "colour" }), storage.Command{})
		}},
		{"task without group", func() error {
			return c.AddItem(ctx, badItem(func(i *design.CatalogItem) { i.Tasks[0].AssignmentGroup = "" }), storage.Command{})
		}},
		{"offering of another service", func() error {
			return c.AddItem(ctx, badItem(func(i *design.CatalogItem) { i.OfferingID = itsm.NewID() }), storage.Command{})
		}},
		{"nil item", func() error { return c.AddItem(ctx, nil, storage.Command{}) }},
	}
	for _, tc := range tests {
		assert.ErrorIs(t, tc.run(), itsm.ErrInvalid, tc.name)
	}
	_, err = c.Services().Fire(ctx, retired.ID, "charter", storage.Command{}, nil)
	assert.ErrorIs(t, err, itsm.ErrInvalidTransition)
	after, err := store.ReadEvents(context.Background(), 0, 1000)
	require.NoError(t, err)
	assert.Equal(t, before, after)
}

// The operation pillar reads the catalogue through its Catalog interface;
// *design.Catalogue must satisfy it as it is.
var _ operation.Catalog = (*design.Catalogue)(nil)

// An empty category lists every published item, by category and name, a
// page at a time; a category narrows the list; drafts never show.
func TestPublishedItemsAllCategories(t *testing.T) {
	c, _ := newCatalogue(t)
	ctx := as(agent)
	svc := &design.Service{Name: "Workplace", Type: design.BusinessService, Owner: "olga", SupportGroup: "desktop", Criticality: 3}
	require.NoError(t, c.Services().Create(ctx, svc, storage.Command{}))
	for _, it := range []struct {
		name, category string
		publish        bool
	}{{"Mouse", "hardware", true}, {"Laptop", "hardware", true}, {"Office", "software", true},
		{"Desk", "furniture", true}, {"Chair", "furniture", false}, {"Editor", "software", true}} {
		item := laptopItem(svc.ID)
		item.Name, item.Category = it.name, it.category
		require.NoError(t, c.AddItem(ctx, item, storage.Command{}))
		if it.publish {
			_, err := c.Items().Fire(ctx, item.ID, "publish", storage.Command{}, nil)
			require.NoError(t, err)
		}
	}
	names := func(category string, limit int) []string {
		var out []string
		cursor := ""
		for {
			items, next, err := c.PublishedItems(ctx, category, storage.Paging{Limit: limit, Cursor: cursor})
			require.NoError(t, err)
			require.LessOrEqual(t, len(items), limit)
			for _, it := range items {
				out = append(out, it.Category+"/"+it.Name)
			}
			if next == "" {
				return out
			}
			cursor = next
		}
	}
	all := []string{"furniture/Desk", "hardware/Laptop", "hardware/Mouse", "software/Editor", "software/Office"}
	for _, tc := range []struct {
		category string
		limit    int
		want     []string
	}{
		{"", 2, all}, {"", 100, all}, {"hardware", 1, []string{"hardware/Laptop", "hardware/Mouse"}},
		{"furniture", 10, []string{"furniture/Desk"}}, {"toys", 10, nil},
	} {
		assert.Equal(t, tc.want, names(tc.category, tc.limit), "category %q limit %d", tc.category, tc.limit)
	}
	_, _, err := c.PublishedItems(ctx, "", storage.Paging{Limit: 10, Cursor: "not-a-cursor"})
	assert.ErrorIs(t, err, itsm.ErrInvalid)
	_, _, err = c.PublishedItems(ctx, "", storage.Paging{Limit: -1})
	assert.ErrorIs(t, err, itsm.ErrInvalid)
}
