package operation_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
)

// deskFields is the dictionary the custom-field tests give the desk.
const deskFields = `{
 "kinds": {
  "incident": {
   "fields": [
    {"name": "region", "type": "enum", "values": ["emea", "apac", "amer"], "indexed": true, "required": true},
    {"name": "outage_minutes", "type": "integer", "min": "0", "max": "10080", "indexed": true},
    {"name": "refund", "type": "decimal", "scale": 2, "min": "0"},
    {"name": "root_cause_hint", "type": "text", "internal": true},
    {"name": "problem_ref", "type": "reference", "kind": "problem"},
    {"name": "vip", "type": "boolean"}
   ],
   "indexes": [{"name": "incident_region_queue", "fields": ["region", "state", "priority", "created_at"]}]
  },
  "problem": {"fields": [{"name": "vendor_case", "type": "string", "pattern": "VC-[0-9]{4}", "required": true}]},
  "request": {"fields": [{"name": "cost_center", "type": "string", "min_length": 3, "required": true}]}
 },
 "tenants": {"acme": {"incident": {"fields": [{"name": "acme_ticket", "type": "string"}]}}}
}`

func customFixture(t testing.TB) fixture {
	t.Helper()
	dict, err := storage.ParseDictionary([]byte(deskFields))
	require.NoError(t, err)
	return newFixture(t, func(c *operation.Config) { c.Dictionary = dict })
}

// incidentIn is a valid incident with the required custom field set.
func incidentIn(region string) *operation.Incident {
	inc := &operation.Incident{ShortDescription: "VPN drops", CallerID: "carl", Impact: 2, Urgency: 2}
	inc.Custom.SetString("region", region)
	return inc
}

// incidentPath is one way a host's custom values reach a stored incident.
type incidentPath struct {
	name  string
	write func(f fixture, id string, set func(*operation.Incident)) error
}

func incidentPaths() []incidentPath {
	return []incidentPath{
		{"OpenIncident", func(f fixture, _ string, set func(*operation.Incident)) error {
			inc := incidentIn("emea")
			set(inc)
			return f.desk.OpenIncident(as(ann), inc, storage.Command{})
		}},
		{"UpdateIncident", func(f fixture, id string, set func(*operation.Incident)) error {
			_, err := f.desk.UpdateIncident(as(ann), id, storage.Command{}, func(i *operation.Incident) error { set(i); return nil })
			return err
		}},
		{"ImportIncidents", func(f fixture, _ string, set func(*operation.Incident)) error {
			inc := incidentIn("emea")
			set(inc)
			res, err := f.desk.ImportIncidents(as(migrate), []operation.ImportIncident{{Ref: "OLD-1", Incident: *inc,
				OpenedAt: t0.Add(-2 * time.Hour), OpenedBy: "ann",
				History: []operation.ImportRow{{At: t0.Add(-time.Hour), Actor: "ann", State: "in_progress"}}}}, nil)
			if err != nil {
				return err
			}
			if len(res.Errors) > 0 {
				return res.Errors[0]
			}
			return nil
		}},
		{"Records.Create", func(f fixture, _ string, set func(*operation.Incident)) error {
			inc := incidentIn("emea")
			inc.Priority = 3
			set(inc)
			return f.desk.Incidents().Create(as(ann), inc, storage.Command{})
		}},
		{"Records.Change", func(f fixture, id string, set func(*operation.Incident)) error {
			_, err := f.desk.Incidents().Change(as(ann), id, storage.Command{}, func(i *operation.Incident) error { set(i); return nil })
			return err
		}},
		{"Records.Fire", func(f fixture, id string, set func(*operation.Incident)) error {
			_, err := f.desk.Incidents().Fire(as(ann), id, operation.EventStart, storage.Command{}, func(i *operation.Incident) error { set(i); return nil })
			return err
		}},
	}
}

func TestCustomFieldsBadInputOnEveryIncidentWritePath(t *testing.T) {
	cases := []struct {
		name  string
		field string
		set   func(*operation.Incident)
	}{
		{"unknown field", "custom.colour", func(i *operation.Incident) { i.Custom.SetString("colour", "red") }},
		{"wrong type", "custom.outage_minutes", func(i *operation.Incident) { i.Custom.SetString("outage_minutes", "ten") }},
		{"out of range", "custom.outage_minutes", func(i *operation.Incident) { i.Custom.SetInt("outage_minutes", 10081) }},
		{"negative decimal", "custom.refund", func(i *operation.Incident) { i.Custom.SetString("refund", "-5") }},
		{"too many decimals", "custom.refund", func(i *operation.Incident) { i.Custom.SetString("refund", "5.001") }},
		{"enum value not listed", "custom.region", func(i *operation.Incident) { i.Custom.SetString("region", "mars") }},
		{"required removed", "custom.region", func(i *operation.Incident) { i.Custom.Delete("region") }},
		{"reference to a missing record", "custom.problem_ref", func(i *operation.Incident) { i.Custom.SetString("problem_ref", itsm.NewID()) }},
		{"not a boolean", "custom.vip", func(i *operation.Incident) { i.Custom.SetInt("vip", 1) }},
		{"another tenant's field", "custom.acme_ticket", func(i *operation.Incident) { i.Custom.SetString("acme_ticket", "A-1") }},
	}
	for _, p := range incidentPaths() {
		for _, c := range cases {
			t.Run(p.name+"/"+c.name, func(t *testing.T) {
				f := customFixture(t)
				existing := incidentIn("apac")
				require.NoError(t, f.desk.OpenIncident(as(ann), existing, storage.Command{}))
				before := f.snapshot(t)
				err := p.write(f, existing.ID, c.set)
				require.ErrorIs(t, err, itsm.ErrInvalid)
				var ve *itsm.ValidationError
				require.ErrorAs(t, err, &ve)
				assert.Contains(t, ve.Fields, c.field)
				assert.Equal(t, before, f.snapshot(t), "nothing written")
			})
		}
	}
}

func TestCustomFieldsTravelThroughEveryIncidentCommand(t *testing.T) {
	f := customFixture(t)
	ctx := as(ann)
	prb := &operation.Problem{ShortDescription: "flaky VPN concentrator"}
	prb.Custom.SetString("vendor_case", "VC-0042")
	require.NoError(t, f.desk.OpenProblem(ctx, prb, storage.Command{}))

	inc := incidentIn("emea")
	inc.Custom.SetInt("outage_minutes", 30)
	inc.Custom.SetString("refund", "12.5")
	inc.Custom.SetString("root_cause_hint", "firmware 4.2")
	inc.Custom.SetString("problem_ref", prb.ID)
	require.NoError(t, f.desk.OpenIncident(ctx, inc, storage.Command{}))
	refund, _ := inc.Custom.Str("refund")
	assert.Equal(t, "12.50", refund, "the caller's record holds the canonical value")

	steps := []func() (*operation.Incident, error){
		func() (*operation.Incident, error) {
			return f.desk.AssignIncident(ctx, inc.ID, "network", "ann", storage.Command{})
		},
		func() (*operation.Incident, error) { return f.desk.StartIncident(ctx, inc.ID, storage.Command{}) },
		func() (*operation.Incident, error) {
			return f.desk.AddWorkNote(ctx, inc.ID, "checking", storage.Command{})
		},
		func() (*operation.Incident, error) {
			return f.desk.HoldIncident(ctx, inc.ID, operation.HoldAwaitingVendor, storage.Command{})
		},
		func() (*operation.Incident, error) { return f.desk.ResumeIncident(ctx, inc.ID, storage.Command{}) },
		func() (*operation.Incident, error) {
			return f.desk.OverridePriority(ctx, inc.ID, 1, "CEO", storage.Command{})
		},
		func() (*operation.Incident, error) {
			return f.desk.UpdateIncident(ctx, inc.ID, storage.Command{}, func(i *operation.Incident) error {
				i.Custom.SetInt("outage_minutes", 95)
				i.Custom.SetBool("vip", true)
				return nil
			})
		},
		func() (*operation.Incident, error) {
			return f.desk.ResolveIncident(ctx, inc.ID, operation.ResolvedPermanently, "rebooted", storage.Command{})
		},
		func() (*operation.Incident, error) { return f.desk.CloseIncident(ctx, inc.ID, storage.Command{}) },
	}
	for i, step := range steps {
		got, err := step()
		require.NoError(t, err, "step %d", i)
		region, _ := got.Custom.Str("region")
		assert.Equal(t, "emea", region, "step %d", i)
		hint, _ := got.Custom.Str("root_cause_hint")
		assert.Equal(t, "firmware 4.2", hint, "an agent reads internal values (step %d)", i)
	}
	require.NoError(t, f.desk.Incidents().Verify(ctx, inc.ID))
	evs, err := f.desk.Incidents().History(ctx, inc.ID)
	require.NoError(t, err)
	var edit *itsm.Event
	for i := range evs {
		if evs[i].Name == itsm.EventUpdate && len(evs[i].Changes) == 2 && strings.HasPrefix(evs[i].Changes[0].Field, "custom.") {
			edit = &evs[i]
		}
	}
	require.NotNil(t, edit, "the custom edit is an update event")
	assert.Equal(t, []itsm.FieldChange{{Field: "custom.outage_minutes", From: "30", To: "95"}, {Field: "custom.vip", To: "true"}}, edit.Changes)

	// The caller sees the record and its history without the internal value.
	mine, err := f.desk.Incidents().Get(as(carl), inc.ID)
	require.NoError(t, err)
	assert.False(t, mine.Custom.Has("root_cause_hint"))
	assert.True(t, mine.Custom.Has("region"))
	list, _, err := f.desk.MyRequestedIncidents(as(carl), storage.Paging{})
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.False(t, list[0].Custom.Has("root_cause_hint"))
	hist, err := f.desk.Incidents().History(as(carl), inc.ID)
	require.NoError(t, err)
	for _, ev := range hist {
		for _, ch := range ev.Changes {
			assert.NotEqual(t, "custom.root_cause_hint", ch.Field)
		}
	}
}

func TestCustomFieldsQueueAndFilters(t *testing.T) {
	f := customFixture(t)
	for i, region := range []string{"emea", "apac", "emea", "amer", "emea"} {
		inc := incidentIn(region)
		inc.Impact, inc.Urgency = 1+i%3, 1+i%3
		inc.Custom.SetInt("outage_minutes", int64(10*i))
		require.NoError(t, f.desk.OpenIncident(as(ann), inc, storage.Command{}))
	}
	// The dictionary's composite index serves a region queue.
	queue, _, err := f.desk.Incidents().Query(as(reader), storage.Query{
		Filters: []storage.Filter{storage.Eq("region", storage.String("emea")), storage.Eq("state", storage.String(operation.StateNew))},
		Sort:    []storage.Sort{{Field: "priority"}, {Field: "created_at"}}})
	require.NoError(t, err)
	require.Len(t, queue, 3)
	for i := 1; i < len(queue); i++ {
		assert.LessOrEqual(t, queue[i-1].Priority, queue[i].Priority)
	}
	long, _, err := f.desk.Incidents().Query(as(reader), storage.Query{
		Filters: []storage.Filter{storage.Gte("outage_minutes", storage.Int(20))},
		Sort:    []storage.Sort{{Field: "outage_minutes", Desc: true}}})
	require.NoError(t, err)
	require.Len(t, long, 3)
	m, _ := long[0].Custom.Int("outage_minutes")
	assert.Equal(t, int64(40), m)
	_, _, err = f.desk.Incidents().Query(as(reader), storage.Query{Filters: []storage.Filter{storage.Eq("refund", storage.Int(1))}})
	assert.ErrorIs(t, err, itsm.ErrInvalid, "refund is not indexed")
}

func TestCustomFieldsPerTenant(t *testing.T) {
	f := customFixture(t)
	acme := itsm.WithTenant(as(ann), "acme")
	inc := incidentIn("amer")
	inc.Custom.SetString("acme_ticket", "A-77")
	require.NoError(t, f.desk.OpenIncident(acme, inc, storage.Command{}))
	got, err := f.desk.Incidents().Get(acme, inc.ID)
	require.NoError(t, err)
	s, _ := got.Custom.Str("acme_ticket")
	assert.Equal(t, "A-77", s)
	err = f.desk.OpenIncident(as(ann), func() *operation.Incident {
		i := incidentIn("amer")
		i.Custom.SetString("acme_ticket", "A-78")
		return i
	}(), storage.Command{})
	var ve *itsm.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Contains(t, ve.Fields, "custom.acme_ticket")
}

// Problems and requests check their custom fields as incidents do.
func TestCustomFieldsOnProblemsAndRequests(t *testing.T) {
	cases := []struct {
		name  string
		field string
		write func(f fixture) error
	}{
		{"problem without its required field", "custom.vendor_case", func(f fixture) error {
			return f.desk.OpenProblem(as(ann), &operation.Problem{ShortDescription: "p"}, storage.Command{})
		}},
		{"problem with a bad pattern", "custom.vendor_case", func(f fixture) error {
			p := &operation.Problem{ShortDescription: "p"}
			p.Custom.SetString("vendor_case", "case 1")
			return f.desk.OpenProblem(as(ann), p, storage.Command{})
		}},
		{"problem edit", "custom.vendor_case", func(f fixture) error {
			p := &operation.Problem{ShortDescription: "p"}
			p.Custom.SetString("vendor_case", "VC-0001")
			if err := f.desk.OpenProblem(as(ann), p, storage.Command{}); err != nil {
				return err
			}
			_, err := f.desk.UpdateProblem(as(ann), p.ID, storage.Command{}, func(x *operation.Problem) error {
				x.Custom.SetString("vendor_case", "VC-1")
				return nil
			})
			return err
		}},
		{"request too short", "custom.cost_center", func(f fixture) error {
			r := &operation.Request{CatalogItemID: "password"}
			r.Custom.SetString("cost_center", "ab")
			return f.desk.SubmitRequest(as(carl), r, storage.Command{})
		}},
		{"request unknown field", "custom.budget", func(f fixture) error {
			r := &operation.Request{CatalogItemID: "password"}
			r.Custom.SetString("cost_center", "CC-10")
			r.Custom.SetInt("budget", 10)
			return f.desk.SubmitRequest(as(carl), r, storage.Command{})
		}},
		{"task takes no custom fields", "custom.x", func(f fixture) error {
			r := &operation.Request{CatalogItemID: "onboard"}
			r.Custom.SetString("cost_center", "CC-10")
			if err := f.desk.SubmitRequest(as(carl), r, storage.Command{}); err != nil {
				return err
			}
			got, err := f.desk.Requests().Get(as(reader), r.ID)
			if err != nil {
				return err
			}
			_, err = f.desk.RequestTasks().Change(as(ann), got.TaskIDs[0], storage.Command{}, func(x *operation.RequestTask) error {
				x.Custom.SetString("x", "y")
				return nil
			})
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := customFixture(t)
			err := c.write(f)
			require.ErrorIs(t, err, itsm.ErrInvalid)
			var ve *itsm.ValidationError
			require.True(t, errors.As(err, &ve), "%v", err)
			assert.Contains(t, ve.Fields, c.field)
		})
	}
	f := customFixture(t)
	r := &operation.Request{CatalogItemID: "password"}
	r.Custom.SetString("cost_center", "CC-10")
	require.NoError(t, f.desk.SubmitRequest(as(carl), r, storage.Command{}))
	got, err := f.desk.Requests().Get(as(reader), r.ID)
	require.NoError(t, err)
	cc, _ := got.Custom.Str("cost_center")
	assert.Equal(t, "CC-10", cc)
}

func TestNewRefusesACollidingCustomField(t *testing.T) {
	for _, name := range []string{"priority", "short_description", "assignment_group", "custom"} {
		dict, err := storage.NewDictionary(storage.Definitions{Kinds: map[string]storage.KindFields{
			operation.KindIncident: {Fields: []storage.CustomField{{Name: name, Type: storage.CustomString, Indexed: true}}}}})
		require.NoError(t, err)
		_, err = operation.New(context.Background(), newStore(t), operation.Config{Dictionary: dict})
		var ve *itsm.ValidationError
		require.ErrorAs(t, err, &ve, name)
		assert.Contains(t, ve.Fields, "custom."+name)
	}
}

func TestCustomFieldsOnSQLite(t *testing.T) {
	prev := newStore
	newStore = openSQLite
	defer func() { newStore = prev }()
	t.Run("commands", TestCustomFieldsTravelThroughEveryIncidentCommand)
	t.Run("queues", TestCustomFieldsQueueAndFilters)
	t.Run("tenants", TestCustomFieldsPerTenant)
	if !testing.Short() {
		t.Run("bad input", TestCustomFieldsBadInputOnEveryIncidentWritePath)
	}
}
