package operation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

var (
	t0      = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	ann     = itsm.Actor{ID: "ann", Name: "Ann Agent", Roles: []string{"agent"}, Groups: []string{"network"}}
	bob     = itsm.Actor{ID: "bob", Name: "Bob Agent", Roles: []string{"agent"}, Groups: []string{"network", "servers"}}
	carl    = itsm.Actor{ID: "carl", Name: "Carl Caller", Roles: []string{"caller"}}
	dora    = itsm.Actor{ID: "dora", Name: "Dora Manager", Roles: []string{"agent", operation.RoleMajorIncidentManager}, Groups: []string{"approvers"}}
	eve     = itsm.Actor{ID: "eve", Name: "Eve Approver", Roles: []string{"agent"}, Groups: []string{"approvers"}}
	system  = itsm.Actor{ID: "system", Roles: []string{itsm.RoleSystem}}
	migrate = itsm.Actor{ID: "migrator", Roles: []string{"importer"}}
	reader  = itsm.Actor{ID: "auditor", Roles: []string{itsm.RoleManager}}
)

func as(a itsm.Actor) context.Context { return itsm.WithActor(context.Background(), a) }

// directory is a Directory from a fixed table.
type directory = itsm.StaticDirectory

var groups = directory{"network": {"ann", "bob"}, "servers": {"bob"}, "approvers": {"dora", "eve"}}

// notifier records notifications.
type notifier struct {
	mu   sync.Mutex
	sent []operation.Notification
}

func (n *notifier) Notify(_ context.Context, x operation.Notification) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, x)
	return nil
}

func (n *notifier) topics() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, x := range n.sent {
		out = append(out, x.Topic+":"+x.Number)
	}
	return out
}

// item is a catalogue item of the fake catalogue.
type item struct {
	service, offering string
	retired           bool
	group             string // approver group
	approvals         int    // 0: none needed
	tasks             []task
	fields            map[string]bool // form field name -> required
}

type task struct {
	name, group string
	order       int
}

// catalog is a Catalog from a map, answering as design's Catalogue does.
type catalog map[string]item

var _ operation.Catalog = catalog{}

func (c catalog) get(id string) (item, error) {
	it, ok := c[id]
	if !ok {
		return it, &itsm.NotFoundError{Kind: "catalog_item", ID: id}
	}
	return it, nil
}

func (c catalog) Orderable(_ context.Context, id string) error {
	it, err := c.get(id)
	if err == nil && it.retired {
		return itsm.Invalidf("catalog_item %s is retired, not published", id)
	}
	return err
}

func (c catalog) ValidateOrder(_ context.Context, id string, values map[string]string) error {
	it, err := c.get(id)
	if err != nil {
		return err
	}
	ve := &itsm.ValidationError{Kind: "catalog_item", ID: id}
	for name := range values {
		if _, ok := it.fields[name]; !ok {
			ve.Add("variables."+name, "the form has no such field")
		}
	}
	for name, required := range it.fields {
		if required && values[name] == "" {
			ve.Add("variables."+name, "is required")
		}
	}
	return ve.Err()
}

func (c catalog) ItemApprovals(_ context.Context, id string) (string, int, error) {
	it, err := c.get(id)
	return it.group, it.approvals, err
}

func (c catalog) ItemService(_ context.Context, id string) (string, string, error) {
	it, err := c.get(id)
	return it.service, it.offering, err
}

// ItemTasks returns the tasks unsorted: the desk sorts them by order.
func (c catalog) ItemTasks(_ context.Context, id string) (names, groups []string, orders []int, err error) {
	it, err := c.get(id)
	for _, t := range it.tasks {
		names, groups, orders = append(names, t.name), append(groups, t.group), append(orders, t.order)
	}
	return names, groups, orders, err
}

// cmdb answers Upstream from a map.
type cmdb map[string][]string

func (c cmdb) Upstream(_ context.Context, ci string) ([]string, error) { return c[ci], nil }

// slaWatcher returns fixed ids.
type slaWatcher struct{ ids []string }

func (s slaWatcher) BreachingBefore(_ context.Context, kind string, _ time.Time, p storage.Paging) ([]string, string, error) {
	limit, cursor := p.Limit, p.Cursor
	if kind != operation.KindIncident || cursor != "" {
		return nil, "", nil
	}
	return s.ids[:min(limit, len(s.ids))], "", nil
}

// newStore makes the store every fixture runs on: memory by default,
// SQLite inside TestOnSQLite.
var newStore = func(t testing.TB) storage.Backend { return memory.New() }

type fixture struct {
	store storage.Backend
	desk  *operation.Desk
	clock *itsm.FakeClock
	note  *notifier
}

func newFixture(t testing.TB, tweak ...func(*operation.Config)) fixture {
	t.Helper()
	return newFixtureOn(t, newStore(t), tweak...)
}

// newFixtureOn is newFixture on the store given.
func newFixtureOn(t testing.TB, store storage.Backend, tweak ...func(*operation.Config)) fixture {
	t.Helper()
	clock := itsm.NewFakeClock(t0)
	n := &notifier{}
	cfg := operation.Config{Clock: clock, Directory: groups, Notifier: n,
		Catalog: catalog{
			"laptop": {service: "svc-eus", offering: "off-std", group: "approvers", approvals: 1,
				tasks:  []task{{"Order laptop", "procurement", 1}, {"Image laptop", "desktop", 1}},
				fields: map[string]bool{"model": true, "notes": false}},
			"password": {},
			"server":   {group: "approvers", approvals: 2},
			"onboard": {tasks: []task{{"Enable account", "identity", 20}, {"Create mailbox", "messaging", 10},
				{"Order desk", "facilities", 10}, {"Brief the manager", "", 30}}},
			"old": {retired: true},
		},
		CMDB: cmdb{"web1": {"sw1", "dc1"}, "web2": {"sw1", "dc1"}, "db1": {"sw2", "dc1"}},
	}
	for _, f := range tweak {
		f(&cfg)
	}
	desk, err := operation.New(context.Background(), store, cfg)
	require.NoError(t, err)
	return fixture{store: store, desk: desk, clock: clock, note: n}
}

// snapshot is everything the store holds for the pillar's kinds.
type snapshot struct {
	docs   map[string][]storage.Document
	events []itsm.Event
}

func (f fixture) snapshot(t testing.TB) snapshot {
	t.Helper()
	ctx := context.Background()
	s := snapshot{docs: map[string][]storage.Document{}}
	for _, k := range []string{operation.KindIncident, operation.KindProblem, operation.KindKnownError, operation.KindRequest,
		operation.KindRequestTask, operation.KindAlert, operation.KindMonitoringEvent, operation.KindAlertKey} {
		q := storage.Query{Kind: k, Limit: storage.MaxLimit}
		for {
			page, err := f.store.Query(ctx, q)
			require.NoError(t, err)
			s.docs[k] = append(s.docs[k], page.Docs...)
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
	}
	evs, err := f.store.ReadEvents(ctx, 0, 100000)
	require.NoError(t, err)
	s.events = evs
	return s
}

// open raises a simple incident as carl and returns it.
func (f fixture) open(t testing.TB, tweak ...func(*operation.Incident)) *operation.Incident {
	t.Helper()
	inc := &operation.Incident{ShortDescription: "VPN drops", CallerID: "carl", Impact: 2, Urgency: 2}
	for _, fn := range tweak {
		fn(inc)
	}
	require.NoError(t, f.desk.OpenIncident(as(ann), inc, storage.Command{}))
	return inc
}

func TestNewRefusesBadConfig(t *testing.T) {
	ctx := context.Background()
	bad := []operation.Config{
		{Incident: operation.IncidentPolicy{ReopenWindow: -1}},
		{Incident: operation.IncidentPolicy{HoldReasons: []string{"Bad Reason"}}},
		{Incident: operation.IncidentPolicy{ResolutionCodes: []string{"with space"}}},
		{AlertRule: operation.AlertRule{MinSeverity: 9}},
		{AlertRule: operation.AlertRule{Impact: 4, Urgency: 1}},
		{AlertRule: operation.AlertRule{ClearCode: "nope"}},
		{Escalation: []operation.EscalationRule{{Name: "P1", After: time.Hour}}},
		{Escalation: []operation.EscalationRule{{Name: "p1", After: time.Hour}, {Name: "p1", After: 2 * time.Hour}}},
		{Escalation: []operation.EscalationRule{{Name: "p1", After: 0}}},
		{Escalation: []operation.EscalationRule{{Name: "p1", After: time.Hour, Priorities: []int{7}}}},
		{IncidentLifecycle: operation.IncidentLifecycle(operation.IncidentPolicy{}).Event("oops", "nowhere", "new")},
	}
	for i, cfg := range bad {
		_, err := operation.New(ctx, memory.New(), cfg)
		require.ErrorIs(t, err, itsm.ErrInvalid, "config %d", i)
	}
	_, err := operation.New(ctx, nil, operation.Config{})
	require.ErrorIs(t, err, itsm.ErrInvalid)
}

// fill sets every settable field of v to a value derived from seed: non-empty
// strings (some needing escapes), non-zero numbers, true, a time, one-element
// slices and maps.
func fill(v reflect.Value, seed int) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(t0.Add(time.Duration(seed) * time.Microsecond)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), seed*31+i)
			}
		}
	case reflect.String:
		v.SetString(fmt.Sprintf("v%d <é> \"q\"\n", seed))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(seed%100 + 1))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		if v.Type() == reflect.TypeFor[json.RawMessage]() { // a custom value: JSON
			v.SetBytes(fmt.Appendf(nil, `"v%d"`, seed))
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), seed+1)
	case reflect.Map:
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, seed+1)
		fill(e, seed+2)
		v.Set(reflect.MakeMap(v.Type()))
		v.SetMapIndex(k, e)
	}
}

// roundTrip encodes a fully filled record of the collection's kind and
// checks that Encode writes what json.Marshal writes and that Decode gives
// what encoding/json gives for the same bytes, and the record itself.
func roundTrip[T any, P interface {
	*T
	itsm.Entity
}](t *testing.T, coll *storage.Collection[T, P]) {
	t.Run(coll.Kind(), func(t *testing.T) {
		rec := P(new(T))
		fill(reflect.ValueOf(rec).Elem(), 7)
		doc, err := coll.Encode(rec)
		require.NoError(t, err)
		marshalled, err := json.Marshal(rec)
		require.NoError(t, err)
		require.Equal(t, string(marshalled), string(doc.Data), "Encode writes json.Marshal's bytes")
		got, err := coll.Decode(doc)
		require.NoError(t, err)
		want := P(new(T))
		require.NoError(t, json.Unmarshal(doc.Data, want))
		require.Equal(t, want, got)
		require.Equal(t, rec, got)
	})
}

// TestCollectionsCodeAsEncodingJSON holds the collections' fast encoder and
// decoder to encoding/json on every record kind of the pillar, each field
// set.
func TestCollectionsCodeAsEncodingJSON(t *testing.T) {
	d, err := operation.New(context.Background(), memory.New(), operation.Config{})
	require.NoError(t, err)
	roundTrip(t, d.Incidents().Collection())
	roundTrip(t, d.Problems().Collection())
	roundTrip(t, d.KnownErrors().Collection())
	roundTrip(t, d.Requests().Collection())
	roundTrip(t, d.RequestTasks().Collection())
	roundTrip(t, d.Alerts().Collection())
}
