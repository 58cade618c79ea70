package storage_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/sqlite"
)

// asset is a record kind with custom values, as a host declares its own.
type asset struct {
	itsm.Record
	Title  string      `json:"title"`
	Owner  string      `json:"owner,omitempty"`
	Custom itsm.Values `json:"custom,omitempty"`
}

// plain is a record kind without custom values.
type plain struct {
	itsm.Record
	Title string `json:"title"`
}

const assetDefs = `{
 "kinds": {"asset": {
   "fields": [
     {"name": "region", "type": "enum", "values": ["emea", "apac", "amer"], "indexed": true, "default": "emea"},
     {"name": "cost", "type": "decimal", "scale": 2, "min": "0", "max": "100000", "indexed": true},
     {"name": "seats", "type": "integer", "min": "1", "max": "500"},
     {"name": "tag", "type": "string", "max_length": 8, "pattern": "[A-Z]{2}-[0-9]+"},
     {"name": "secret", "type": "text", "internal": true},
     {"name": "vip", "type": "boolean", "indexed": true},
     {"name": "due", "type": "date", "min": "2020-01-01", "indexed": true},
     {"name": "seen_at", "type": "time", "indexed": true},
     {"name": "parent", "type": "reference", "kind": "asset"},
     {"name": "manager", "type": "user"},
     {"name": "team", "type": "group"}
   ],
   "indexes": [{"name": "asset_region_queue", "fields": ["region", "state", "cost"]}]
 }},
 "tenants": {"acme": {"asset": {"fields": [{"name": "cost_center", "type": "string", "required": true}]}}}
}`

var (
	assetAgent  = itsm.Actor{ID: "ann", Roles: []string{"agent"}}
	assetViewer = itsm.Actor{ID: "vic", Roles: []string{"viewer"}}
	assetAdmin  = itsm.Actor{ID: "ida", Roles: []string{"importer"}}
)

type assetFixture struct {
	store   *memory.Store
	coll    *storage.Collection[asset, *asset]
	records *storage.Records[asset, *asset]
	dict    *storage.Dictionary
}

func assetLifecycle(t testing.TB) *itsm.Machine[*asset] {
	m, err := itsm.NewLifecycle[*asset]("asset").Initial("active").Final("retired").
		Event("retire", "retired", "active").Compile()
	require.NoError(t, err)
	return m
}

func assetAuthorizer() *itsm.RoleAuthorizer {
	return itsm.NewRoleAuthorizer().
		Grant("agent", "*:*").
		Grant("importer", "*:*").
		Grant("viewer", "*:"+itsm.ActionRead).
		ScopeReads(itsm.ReadAll, "agent", "viewer", "importer")
}

func newAssetFixture(t testing.TB, defs string) assetFixture {
	t.Helper()
	dict, err := storage.ParseDictionary([]byte(defs))
	require.NoError(t, err)
	coll := storage.NewCollection[asset]("asset",
		storage.StringField("owner", func(a *asset) string { return a.Owner }),
	).WithDictionary(dict)
	store := memory.New()
	require.NoError(t, coll.Register(context.Background(), store))
	recs, err := storage.NewRecords(store, coll, assetLifecycle(t), storage.RecordsConfig{Prefix: "AST",
		Clock: itsm.NewFakeClock(t0), Authorizer: assetAuthorizer()})
	require.NoError(t, err)
	return assetFixture{store: store, coll: coll, records: recs, dict: dict}
}

func asIn(a itsm.Actor, tenant string) context.Context {
	ctx := itsm.WithActor(context.Background(), a)
	if tenant != "" {
		ctx = itsm.WithTenant(ctx, tenant)
	}
	return ctx
}

func TestCustomFieldsCreateCanonicalDefaultsAndEvents(t *testing.T) {
	f := newAssetFixture(t, assetDefs)
	ctx := asIn(assetAgent, "")
	a := &asset{Title: "laptop"}
	require.NoError(t, a.Custom.Set("cost", 12.5))
	a.Custom.SetBool("vip", true)
	a.Custom.SetString("due", "2026-12-24")
	a.Custom.SetTime("seen_at", time.Date(2026, 11, 2, 10, 0, 0, 123456789, time.FixedZone("x", 3600)))
	a.Custom.SetString("tag", "AB-12")
	a.Custom.SetString("secret", "root password is on a post-it")
	require.NoError(t, f.records.Create(ctx, a, storage.Command{}))

	got, err := f.records.Get(ctx, a.ID)
	require.NoError(t, err)
	region, _ := got.Custom.Str("region")
	assert.Equal(t, "emea", region, "the default fills a new record")
	cost, _ := got.Custom.Str("cost")
	assert.Equal(t, "12.50", cost, "a decimal is kept at its scale")
	seen, _ := got.Custom.Time("seen_at")
	assert.Equal(t, time.Date(2026, 11, 2, 9, 0, 0, 123456000, time.UTC), seen)
	vip, ok := got.Custom.Bool("vip")
	assert.True(t, vip && ok)

	evs, err := f.records.History(ctx, a.ID)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	assert.Contains(t, evs[0].Changes, itsm.FieldChange{Field: "custom.cost", To: `"12.50"`})
	assert.Contains(t, evs[0].Changes, itsm.FieldChange{Field: "custom.region", To: `"emea"`})

	// A field edit shows as that field's change, and the chain verifies.
	out, err := f.records.Change(ctx, a.ID, storage.Command{}, func(x *asset) error {
		x.Custom.SetString("cost", "99")
		x.Custom.Delete("tag")
		return nil
	})
	require.NoError(t, err)
	c, _ := out.Custom.Str("cost")
	assert.Equal(t, "99.00", c)
	evs, err = f.records.History(ctx, a.ID)
	require.NoError(t, err)
	require.Len(t, evs, 2)
	assert.Equal(t, []itsm.FieldChange{
		{Field: "custom.cost", From: `"12.50"`, To: `"99.00"`},
		{Field: "custom.tag", From: `"AB-12"`},
	}, evs[1].Changes)
	require.NoError(t, f.records.Verify(ctx, a.ID))

	// The same value written differently is no change.
	_, err = f.records.Change(ctx, a.ID, storage.Command{}, func(x *asset) error { return x.Custom.Set("cost", 99) })
	require.NoError(t, err)
	evs, err = f.records.History(ctx, a.ID)
	require.NoError(t, err)
	assert.Len(t, evs, 2)
}

func TestCustomFieldsInternalAreHidden(t *testing.T) {
	f := newAssetFixture(t, assetDefs)
	a := &asset{Title: "server"}
	a.Custom.SetString("secret", "s3cr3t")
	require.NoError(t, f.records.Create(asIn(assetAgent, ""), a, storage.Command{}))
	_, err := f.records.Change(asIn(assetAgent, ""), a.ID, storage.Command{}, func(x *asset) error {
		x.Custom.SetString("secret", "rotated")
		return nil
	})
	require.NoError(t, err)

	viewer := asIn(assetViewer, "")
	got, err := f.records.Get(viewer, a.ID)
	require.NoError(t, err)
	assert.False(t, got.Custom.Has("secret"))
	assert.True(t, got.Custom.Has("region"))
	list, _, err := f.records.Query(viewer, storage.Query{})
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.False(t, list[0].Custom.Has("secret"))
	evs, err := f.records.History(viewer, a.ID)
	require.NoError(t, err)
	for _, ev := range evs {
		for _, ch := range ev.Changes {
			assert.NotEqual(t, "custom.secret", ch.Field)
			assert.NotContains(t, ch.To, "s3cr3t")
		}
	}
	got, err = f.records.Get(asIn(assetAgent, ""), a.ID)
	require.NoError(t, err)
	s, _ := got.Custom.Str("secret")
	assert.Equal(t, "rotated", s)
}

func TestCustomFieldsQueryAndSort(t *testing.T) {
	f := newAssetFixture(t, assetDefs)
	ctx := asIn(assetAgent, "")
	for i, c := range []struct{ region, cost string }{{"emea", "5"}, {"apac", "7.25"}, {"emea", "1.5"}, {"emea", "30"}} {
		a := &asset{Title: "a" + string(rune('0'+i))}
		a.Custom.SetString("region", c.region)
		a.Custom.SetString("cost", c.cost)
		a.Custom.SetBool("vip", i%2 == 0)
		require.NoError(t, f.records.Create(ctx, a, storage.Command{}))
	}
	cost := func(v string) storage.Value {
		x, err := f.dict.Value("asset", "cost", v)
		require.NoError(t, err)
		return x
	}
	got, _, err := f.records.Query(ctx, storage.Query{
		Filters: []storage.Filter{storage.Eq("region", storage.String("emea")), storage.Eq("state", storage.String("active"))},
		Sort:    []storage.Sort{{Field: "cost", Desc: true}},
	})
	require.NoError(t, err)
	var costs []string
	for _, a := range got {
		c, _ := a.Custom.Str("cost")
		costs = append(costs, c)
	}
	assert.Equal(t, []string{"30.00", "5.00", "1.50"}, costs, "served by the dictionary's composite index")

	got, _, err = f.records.Query(ctx, storage.Query{Filters: []storage.Filter{storage.Gte("cost", cost("7"))}})
	require.NoError(t, err)
	assert.Len(t, got, 2)
	vip, err := f.dict.Value("asset", "vip", true)
	require.NoError(t, err)
	got, _, err = f.records.Query(ctx, storage.Query{Filters: []storage.Filter{storage.Eq("vip", vip)}})
	require.NoError(t, err)
	assert.Len(t, got, 2)

	_, err = f.dict.Value("asset", "seats", 3)
	assert.ErrorIs(t, err, itsm.ErrInvalid, "seats is not indexed")
	_, err = f.dict.Value("asset", "cost", "1.234")
	assert.ErrorIs(t, err, itsm.ErrInvalid)
}

// writePath is one way a record's custom values reach the store.
type writePath struct {
	name  string
	write func(f assetFixture, ctx context.Context, existing string, set func(*asset)) error
}

var assetWritePaths = []writePath{
	{"create", func(f assetFixture, ctx context.Context, _ string, set func(*asset)) error {
		a := &asset{Title: "new"}
		set(a)
		return f.records.Create(ctx, a, storage.Command{})
	}},
	{"change", func(f assetFixture, ctx context.Context, id string, set func(*asset)) error {
		_, err := f.records.Change(ctx, id, storage.Command{}, func(a *asset) error { set(a); return nil })
		return err
	}},
	{"fire", func(f assetFixture, ctx context.Context, id string, set func(*asset)) error {
		_, err := f.records.Fire(ctx, id, "retire", storage.Command{}, func(a *asset) error { set(a); return nil })
		return err
	}},
	{"import", func(f assetFixture, _ context.Context, _ string, set func(*asset)) error {
		a := &asset{Title: "imported"}
		a.Number = "AST0000900"
		set(a)
		return f.records.Create(asIn(assetAdmin, ""), a, storage.Command{At: t0.Add(-time.Hour)})
	}},
	{"collection put", func(f assetFixture, ctx context.Context, _ string, set func(*asset)) error {
		a := &asset{Title: "raw"}
		a.ID = itsm.NewID()
		set(a)
		return f.store.Update(ctx, func(tx storage.Tx) error { return f.coll.Put(ctx, tx, a) })
	}},
}

func TestCustomFieldsBadInputOnEveryWritePath(t *testing.T) {
	long := strings.Repeat("x", 300)
	cases := []struct {
		name  string
		field string
		set   func(*asset)
	}{
		{"unknown field", "custom.colour", func(a *asset) { a.Custom.SetString("colour", "red") }},
		{"wrong type", "custom.seats", func(a *asset) { a.Custom.SetString("seats", "three") }},
		{"out of range", "custom.seats", func(a *asset) { a.Custom.SetInt("seats", 501) }},
		{"below range", "custom.cost", func(a *asset) { a.Custom.SetString("cost", "-1") }},
		{"too many decimals", "custom.cost", func(a *asset) { a.Custom.SetString("cost", "1.001") }},
		{"enum value not listed", "custom.region", func(a *asset) { a.Custom.SetString("region", "mars") }},
		{"pattern", "custom.tag", func(a *asset) { a.Custom.SetString("tag", "ab-12") }},
		{"too long", "custom.tag", func(a *asset) { a.Custom.SetString("tag", "AB-123456") }},
		{"date before min", "custom.due", func(a *asset) { a.Custom.SetString("due", "2019-12-31") }},
		{"not a date", "custom.due", func(a *asset) { a.Custom.SetString("due", "31/12/2024") }},
		{"not a time", "custom.seen_at", func(a *asset) { a.Custom.SetString("seen_at", "yesterday") }},
		{"not a boolean", "custom.vip", func(a *asset) { a.Custom.SetString("vip", "yes") }},
		{"missing reference", "custom.parent", func(a *asset) { a.Custom.SetString("parent", itsm.NewID()) }},
		{"empty user", "custom.manager", func(a *asset) { a.Custom.SetString("manager", "") }},
		{"text too long", "custom.secret", func(a *asset) { a.Custom.SetString("secret", strings.Repeat(long, 20)) }},
		{"NUL", "custom.secret", func(a *asset) { a.Custom.SetString("secret", "a\x00b") }},
		{"not JSON", "custom.seats", func(a *asset) {
			if a.Custom == nil {
				a.Custom = itsm.Values{}
			}
			a.Custom["seats"] = json.RawMessage(`{"x":`)
		}},
	}
	for _, p := range assetWritePaths {
		for _, c := range cases {
			t.Run(p.name+"/"+c.name, func(t *testing.T) {
				f := newAssetFixture(t, assetDefs)
				ctx := asIn(assetAgent, "")
				a := &asset{Title: "existing"}
				require.NoError(t, f.records.Create(ctx, a, storage.Command{}))
				before, err := f.store.ReadEvents(context.Background(), 0, 100)
				require.NoError(t, err)
				doc, err := f.store.Get(context.Background(), "asset", a.ID)
				require.NoError(t, err)

				err = p.write(f, ctx, a.ID, c.set)
				require.ErrorIs(t, err, itsm.ErrInvalid)
				var ve *itsm.ValidationError
				if errors.As(err, &ve) {
					assert.Contains(t, ve.Fields, c.field)
				} else {
					assert.Contains(t, err.Error(), c.field) // Put wraps nothing: the error names the field
				}
				after, err := f.store.ReadEvents(context.Background(), 0, 100)
				require.NoError(t, err)
				assert.Equal(t, before, after, "nothing written")
				now, err := f.store.Get(context.Background(), "asset", a.ID)
				require.NoError(t, err)
				assert.Equal(t, doc, now)
			})
		}
	}
}

func TestCustomFieldsReferenceAndTenants(t *testing.T) {
	f := newAssetFixture(t, assetDefs)
	ctx := asIn(assetAgent, "")
	parent := &asset{Title: "rack"}
	require.NoError(t, f.records.Create(ctx, parent, storage.Command{}))
	child := &asset{Title: "server"}
	child.Custom.SetString("parent", parent.ID)
	require.NoError(t, f.records.Create(ctx, child, storage.Command{}))

	// Tenant acme has a required field of its own; the default tenant does
	// not know it.
	acme := asIn(assetAgent, "acme")
	err := f.records.Create(acme, &asset{Title: "x"}, storage.Command{})
	var ve *itsm.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Contains(t, ve.Fields, "custom.cost_center")
	a := &asset{Title: "x"}
	a.Custom.SetString("cost_center", "CC-1")
	require.NoError(t, f.records.Create(acme, a, storage.Command{}))
	b := &asset{Title: "y"}
	b.Custom.SetString("cost_center", "CC-1")
	err = f.records.Create(ctx, b, storage.Command{})
	require.ErrorAs(t, err, &ve)
	assert.Contains(t, ve.Fields, "custom.cost_center")
	// A required value may not be removed.
	_, err = f.records.Change(acme, a.ID, storage.Command{}, func(x *asset) error { x.Custom.Delete("cost_center"); return nil })
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "is required", ve.Fields["custom.cost_center"])

	assert.Len(t, f.coll.CustomFields(acme), 12)
	assert.Len(t, f.coll.CustomFields(ctx), 11)
}

func TestCustomFieldsValuesLeftUnchangedAreNotJudgedAgain(t *testing.T) {
	// A record written under a wider definition keeps its value through
	// other edits once the field is removed.
	wide := newAssetFixture(t, assetDefs)
	ctx := asIn(assetAgent, "")
	a := &asset{Title: "old"}
	a.Custom.SetInt("seats", 3)
	require.NoError(t, wide.records.Create(ctx, a, storage.Command{}))
	narrow := strings.Replace(assetDefs, `{"name": "seats", "type": "integer", "min": "1", "max": "500"},`, "", 1)
	dict, err := storage.ParseDictionary([]byte(narrow))
	require.NoError(t, err)
	coll := storage.NewCollection[asset]("asset",
		storage.StringField("owner", func(a *asset) string { return a.Owner })).WithDictionary(dict)
	recs, err := storage.NewRecords(wide.store, coll, assetLifecycle(t), storage.RecordsConfig{Clock: itsm.NewFakeClock(t0), Authorizer: assetAuthorizer()})
	require.NoError(t, err)
	out, err := recs.Change(ctx, a.ID, storage.Command{}, func(x *asset) error { x.Title = "renamed"; return nil })
	require.NoError(t, err)
	n, _ := out.Custom.Int("seats")
	assert.Equal(t, int64(3), n)
	_, err = recs.Change(ctx, a.ID, storage.Command{}, func(x *asset) error { x.Custom.SetInt("seats", 4); return nil })
	assert.ErrorIs(t, err, itsm.ErrInvalid, "a removed field takes no new value")
}

func TestCustomFieldsDeclarationMistakes(t *testing.T) {
	ctx := context.Background()
	collide := func(name string) *storage.Dictionary {
		d, err := storage.NewDictionary(storage.Definitions{Kinds: map[string]storage.KindFields{
			"asset": {Fields: []storage.CustomField{{Name: name, Type: storage.CustomString}}}}})
		require.NoError(t, err)
		return d
	}
	for _, name := range []string{"title", "state", "number", "owner", "custom", "created_at"} {
		err := storage.NewCollection[asset]("asset",
			storage.StringField("owner", func(a *asset) string { return a.Owner })).WithDictionary(collide(name)).Register(ctx, memory.New())
		require.ErrorIs(t, err, itsm.ErrInvalid, name)
		assert.Contains(t, err.Error(), "custom."+name)
	}
	// A kind without a custom member cannot take custom fields.
	d, err := storage.NewDictionary(storage.Definitions{Kinds: map[string]storage.KindFields{
		"plain": {Fields: []storage.CustomField{{Name: "x", Type: storage.CustomString}}}}})
	require.NoError(t, err)
	err = storage.NewCollection[plain]("plain").WithDictionary(d).Register(ctx, memory.New())
	assert.ErrorIs(t, err, itsm.ErrInvalid)
	// An index on a custom field that is not indexed.
	d, err = storage.NewDictionary(storage.Definitions{Kinds: map[string]storage.KindFields{
		"asset": {Fields: []storage.CustomField{{Name: "x", Type: storage.CustomString}},
			Indexes: []storage.CustomIndex{{Name: "by_x", Fields: []string{"x", "state"}}}}}})
	require.NoError(t, err)
	err = storage.NewCollection[asset]("asset").WithDictionary(d).Register(ctx, memory.New())
	assert.ErrorIs(t, err, itsm.ErrInvalid)
	// A nil dictionary and one for other kinds change nothing.
	c := storage.NewCollection[asset]("asset")
	assert.True(t, c.Schema().Equal(storage.NewCollection[asset]("asset").WithDictionary(nil).WithDictionary(d2(t)).Schema()))
}

func d2(t *testing.T) *storage.Dictionary {
	d, err := storage.NewDictionary(storage.Definitions{Kinds: map[string]storage.KindFields{
		"other": {Fields: []storage.CustomField{{Name: "x", Type: storage.CustomString, Indexed: true}}}}})
	require.NoError(t, err)
	return d
}

func TestDictionaryRefusesBadDefinitions(t *testing.T) {
	field := func(mod func(*storage.CustomField)) storage.Definitions {
		f := storage.CustomField{Name: "x", Type: storage.CustomString}
		mod(&f)
		return storage.Definitions{Kinds: map[string]storage.KindFields{"incident": {Fields: []storage.CustomField{f}}}}
	}
	cases := []struct {
		name string
		defs storage.Definitions
	}{
		{"bad kind", storage.Definitions{Kinds: map[string]storage.KindFields{"Incident": {}}}},
		{"bad name", field(func(f *storage.CustomField) { f.Name = "Region" })},
		{"id", field(func(f *storage.CustomField) { f.Name = "id" })},
		{"unknown type", field(func(f *storage.CustomField) { f.Type = "colour" })},
		{"enum without values", field(func(f *storage.CustomField) { f.Type = storage.CustomEnum })},
		{"enum repeated value", field(func(f *storage.CustomField) { f.Type, f.Values = storage.CustomEnum, []string{"a", "a"} })},
		{"values on a string", field(func(f *storage.CustomField) { f.Values = []string{"a"} })},
		{"reference without kind", field(func(f *storage.CustomField) { f.Type = storage.CustomReference })},
		{"kind on a string", field(func(f *storage.CustomField) { f.Kind = "ci" })},
		{"scale too large", field(func(f *storage.CustomField) { f.Type, f.Scale = storage.CustomDecimal, 10 })},
		{"scale on integer", field(func(f *storage.CustomField) { f.Type, f.Scale = storage.CustomInteger, 2 })},
		{"min above max", field(func(f *storage.CustomField) { f.Type, f.Min, f.Max = storage.CustomInteger, "5", "1" })},
		{"min not a number", field(func(f *storage.CustomField) { f.Type, f.Min = storage.CustomInteger, "one" })},
		{"min on a string", field(func(f *storage.CustomField) { f.Min = "1" })},
		{"bad pattern", field(func(f *storage.CustomField) { f.Pattern = "(" })},
		{"pattern on integer", field(func(f *storage.CustomField) { f.Type, f.Pattern = storage.CustomInteger, "1" })},
		{"length on boolean", field(func(f *storage.CustomField) { f.Type, f.MaxLength = storage.CustomBoolean, 3 })},
		{"negative length", field(func(f *storage.CustomField) { f.MinLength = -1 })},
		{"string too long", field(func(f *storage.CustomField) { f.MaxLength = storage.MaxStringValue + 1 })},
		{"indexed text too long", field(func(f *storage.CustomField) { f.Type, f.Indexed, f.MaxLength = storage.CustomText, true, 5000 })},
		{"default of the wrong type", field(func(f *storage.CustomField) { f.Type, f.Default = storage.CustomInteger, json.RawMessage(`"x"`) })},
		{"default outside enum", field(func(f *storage.CustomField) {
			f.Type, f.Values, f.Default = storage.CustomEnum, []string{"a"}, json.RawMessage(`"b"`)
		})},
		{"label too long", field(func(f *storage.CustomField) { f.Label = strings.Repeat("l", 201) })},
		{"field twice", storage.Definitions{Kinds: map[string]storage.KindFields{"incident": {Fields: []storage.CustomField{
			{Name: "x", Type: storage.CustomString}, {Name: "x", Type: storage.CustomText}}}}}},
		{"tenant redeclares a shared field", storage.Definitions{
			Kinds:   map[string]storage.KindFields{"incident": {Fields: []storage.CustomField{{Name: "x", Type: storage.CustomString}}}},
			Tenants: map[string]map[string]storage.KindFields{"acme": {"incident": {Fields: []storage.CustomField{{Name: "x", Type: storage.CustomString}}}}}}},
		{"bad tenant", storage.Definitions{Tenants: map[string]map[string]storage.KindFields{"Acme Corp": {}}}},
		{"indexed name with two types", storage.Definitions{Tenants: map[string]map[string]storage.KindFields{
			"a": {"incident": {Fields: []storage.CustomField{{Name: "x", Type: storage.CustomString, Indexed: true}}}},
			"b": {"incident": {Fields: []storage.CustomField{{Name: "x", Type: storage.CustomInteger}}}}}}},
		{"index without fields", storage.Definitions{Kinds: map[string]storage.KindFields{"incident": {Indexes: []storage.CustomIndex{{Name: "ix"}}}}}},
		{"index twice, different fields", storage.Definitions{Kinds: map[string]storage.KindFields{"incident": {Indexes: []storage.CustomIndex{
			{Name: "ix", Fields: []string{"a"}}, {Name: "ix", Fields: []string{"b"}}}}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := storage.NewDictionary(c.defs)
			assert.ErrorIs(t, err, itsm.ErrInvalid)
		})
	}
	many := make([]storage.CustomField, storage.MaxCustomFields+1)
	for i := range many {
		many[i] = storage.CustomField{Name: "f" + strings.Repeat("x", i%50) + string(rune('a'+i%26)) + string(rune('a'+i/26)), Type: storage.CustomString}
	}
	_, err := storage.NewDictionary(storage.Definitions{Kinds: map[string]storage.KindFields{"incident": {Fields: many}}})
	assert.ErrorIs(t, err, itsm.ErrInvalid)
}

func TestParseDictionary(t *testing.T) {
	for name, doc := range map[string]string{
		"not JSON":        `{"kinds":`,
		"unknown member":  `{"kinds": {"incident": {"fields": [{"name": "x", "type": "string", "colour": "red"}]}}}`,
		"trailing data":   `{} {}`,
		"wrong shape":     `{"kinds": []}`,
		"empty":           ``,
		"too large":       `{"kinds": {}, "x": "` + strings.Repeat("a", storage.MaxDictionarySize) + `"}`,
		"bad definitions": `{"kinds": {"incident": {"fields": [{"name": "x", "type": "colour"}]}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := storage.ParseDictionary([]byte(doc))
			assert.ErrorIs(t, err, itsm.ErrInvalid)
		})
	}
	d, err := storage.ParseDictionary([]byte(assetDefs))
	require.NoError(t, err)
	data, err := json.Marshal(d)
	require.NoError(t, err)
	again, err := storage.ParseDictionary(data)
	require.NoError(t, err)
	assert.Equal(t, d.Definitions(), again.Definitions())
	assert.Equal(t, []string{"asset"}, d.Kinds())
	assert.Len(t, d.Fields("acme", "asset"), 12)
	assert.Len(t, d.Indexed("asset"), 5)
	var nilDict *storage.Dictionary
	assert.Empty(t, nilDict.Kinds())
	assert.Empty(t, nilDict.Fields("acme", "asset"))
}

func FuzzParseDictionary(f *testing.F) {
	f.Add([]byte(assetDefs))
	f.Add([]byte(`{"kinds": {"incident": {"fields": [{"name": "c", "type": "decimal", "scale": 2, "min": "-1.5", "default": 3}]}}}`))
	f.Add([]byte(`{"tenants": {"t": {"k": {"fields": [{"name": "p", "type": "string", "pattern": "a+"}]}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := storage.ParseDictionary(data)
		if err != nil {
			require.ErrorIs(t, err, itsm.ErrInvalid)
			return
		}
		// What parsed round-trips through its document.
		out, err := json.Marshal(d)
		require.NoError(t, err)
		again, err := storage.ParseDictionary(out)
		require.NoError(t, err)
		for _, k := range d.Kinds() {
			assert.Equal(t, d.Indexed(k), again.Indexed(k))
		}
	})
}

func TestDecimalValues(t *testing.T) {
	d, err := storage.NewDictionary(storage.Definitions{Kinds: map[string]storage.KindFields{"k": {Fields: []storage.CustomField{
		{Name: "d", Type: storage.CustomDecimal, Scale: 2, Indexed: true},
		{Name: "z", Type: storage.CustomDecimal, Indexed: true}}}}})
	require.NoError(t, err)
	for _, c := range []struct {
		field string
		in    any
		want  int64
		ok    bool
	}{
		{"d", "12.5", 1250, true}, {"d", 12.5, 1250, true}, {"d", "-0.01", -1, true}, {"d", "7", 700, true},
		{"d", "1.234", 0, false}, {"d", "1.", 0, false}, {"d", ".5", 0, false}, {"d", "1e3", 0, false},
		{"d", "92233720368547758.08", 0, false}, {"d", "--1", 0, false}, {"d", true, 0, false},
		{"z", "42", 42, true}, {"z", "4.2", 0, false},
	} {
		v, err := d.Value("k", c.field, c.in)
		if !c.ok {
			assert.ErrorIs(t, err, itsm.ErrInvalid, "%v", c.in)
			continue
		}
		require.NoError(t, err, "%v", c.in)
		assert.Equal(t, storage.Int(c.want), v, "%v", c.in)
	}
}

func TestReindexWithNothingStale(t *testing.T) {
	f := newAssetFixture(t, assetDefs)
	require.NoError(t, f.records.Create(asIn(assetAgent, ""), &asset{Title: "x"}, storage.Command{}))
	n, err := f.records.Reindex(asIn(assetAdmin, ""))
	require.NoError(t, err)
	assert.Zero(t, n)
	_, err = f.records.Reindex(asIn(assetViewer, ""))
	assert.ErrorIs(t, err, itsm.ErrForbidden)
	_, err = f.records.Reindex(nil) //nolint:staticcheck // a nil context is bad input
	assert.ErrorIs(t, err, itsm.ErrInvalid)
}

// reindexStep registers the asset kind on store with the given definition
// document and returns its records.
func reindexStep(t *testing.T, store storage.Backend, defs string) (*storage.Records[asset, *asset], *storage.Dictionary) {
	t.Helper()
	dict, err := storage.ParseDictionary([]byte(defs))
	require.NoError(t, err)
	coll := storage.NewCollection[asset]("asset",
		storage.StringField("owner", func(a *asset) string { return a.Owner })).WithDictionary(dict)
	require.NoError(t, coll.Register(context.Background(), store))
	recs, err := storage.NewRecords(store, coll, assetLifecycle(t), storage.RecordsConfig{Prefix: "AST",
		Clock: itsm.NewFakeClock(t0), Authorizer: assetAuthorizer()})
	require.NoError(t, err)
	return recs, dict
}

// testAddIndexedField adds an index to a field records already hold, and
// reindexes: the new field is filled in per tenant, the chain verifies,
// updated_at stays, a second run finds nothing.
func testAddIndexedField(t *testing.T, store storage.Backend) {
	const before = `{"kinds": {"asset": {"fields": [{"name": "site", "type": "string"}, {"name": "rank", "type": "integer"}]}}}`
	const after = `{"kinds": {"asset": {"fields": [{"name": "site", "type": "string", "indexed": true}, {"name": "rank", "type": "integer", "indexed": true}],
	  "indexes": [{"name": "asset_site_rank", "fields": ["site", "state", "rank"]}]}}}`
	old, _ := reindexStep(t, store, before)
	var ids []string
	for _, tenant := range []string{"", "acme"} {
		for i, site := range []string{"lyon", "oslo", "lyon"} {
			a := &asset{Title: "a"}
			a.Custom.SetString("site", site)
			a.Custom.SetInt("rank", int64(3-i))
			require.NoError(t, old.Create(asIn(assetAgent, tenant), a, storage.Command{}))
			ids = append(ids, a.ID)
		}
	}
	recs, _ := reindexStep(t, store, after)
	lyon := storage.Query{Filters: []storage.Filter{storage.Eq("site", storage.String("lyon")), storage.Eq("state", storage.String("active"))},
		Sort: []storage.Sort{{Field: "rank"}}}
	got, _, err := recs.Query(asIn(assetAgent, ""), lyon)
	require.NoError(t, err)
	assert.Empty(t, got, "old records hold the zero value until reindexed")

	n, err := recs.Reindex(asIn(assetAdmin, ""))
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	got, _, err = recs.Query(asIn(assetAgent, ""), lyon)
	require.NoError(t, err)
	require.Len(t, got, 2)
	r0, _ := got[0].Custom.Int("rank")
	r1, _ := got[1].Custom.Int("rank")
	assert.Equal(t, []int64{1, 3}, []int64{r0, r1})
	assert.Equal(t, t0, got[0].UpdatedAt)
	require.NoError(t, recs.Verify(asIn(assetAgent, ""), got[0].ID))
	evs, err := recs.History(asIn(assetAgent, ""), got[0].ID)
	require.NoError(t, err)
	require.Len(t, evs, 2)
	assert.Equal(t, storage.EventReindex, evs[1].Name)
	assert.Empty(t, evs[1].Changes)

	got, _, err = recs.Query(asIn(assetAgent, "acme"), lyon)
	require.NoError(t, err)
	assert.Empty(t, got, "another tenant is reindexed by its own run")
	n, err = recs.Reindex(asIn(assetAdmin, "acme"))
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	got, _, err = recs.Query(asIn(assetAgent, "acme"), lyon)
	require.NoError(t, err)
	assert.Len(t, got, 2)

	n, err = recs.Reindex(asIn(assetAdmin, ""))
	require.NoError(t, err)
	assert.Zero(t, n, "a second run finds nothing stale")

	// Removing the fields again is accepted; the values stay in the data.
	back, _ := reindexStep(t, store, before)
	a, err := back.Get(asIn(assetAgent, ""), ids[0])
	require.NoError(t, err)
	s, _ := a.Custom.Str("site")
	assert.Equal(t, "lyon", s)
	// Changing an indexed field's type is refused by the store.
	reindexStep(t, store, after)
	dict, err := storage.ParseDictionary([]byte(strings.Replace(after, `"name": "rank", "type": "integer"`, `"name": "rank", "type": "string"`, 1)))
	require.NoError(t, err)
	err = storage.NewCollection[asset]("asset", storage.StringField("owner", func(a *asset) string { return a.Owner })).
		WithDictionary(dict).Register(context.Background(), store)
	var sce *storage.SchemaChangeError
	require.ErrorAs(t, err, &sce)
	assert.ErrorIs(t, err, itsm.ErrConflict)
	assert.Equal(t, "rank", sce.Field)
}

func TestReindexAfterAddingAnIndexedField(t *testing.T) {
	testAddIndexedField(t, memory.New())
}

func TestReindexAfterAddingAnIndexedFieldSQLite(t *testing.T) {
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "custom.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	// Until the SQLite store migrates a kind's schema (the contract's
	// schema changes), there is nothing to reindex on it.
	ctx := context.Background()
	s1 := storage.Schema{Kind: "probe", Fields: []storage.Field{{Name: "a", Type: storage.TypeString}}}
	s2 := storage.Schema{Kind: "probe", Fields: []storage.Field{{Name: "a", Type: storage.TypeString}, {Name: "b", Type: storage.TypeInt}}}
	require.NoError(t, store.Register(ctx, s1))
	if err := store.Register(ctx, s2); errors.Is(err, itsm.ErrConflict) {
		t.Skip("this SQLite store does not migrate schemas yet:", err)
	}
	testAddIndexedField(t, store)
}

// The collection's codec writes and reads custom values exactly as
// encoding/json does, whatever a host put in them.
func TestCustomValuesCodeAsEncodingJSON(t *testing.T) {
	coll := storage.NewCollection[asset]("asset")
	for name, vals := range map[string]itsm.Values{
		"none":        nil,
		"empty":       {},
		"canonical":   {"b": json.RawMessage(`"x y"`), "a": json.RawMessage(`12`), "c": json.RawMessage(`true`)},
		"html":        {"a": json.RawMessage(`"<b>&"`)},
		"separator":   {"a": json.RawMessage("\"\u2028\"")},
		"spaces":      {"a": json.RawMessage(`{ "x" : [1, 2] }`)},
		"nested":      {"a": json.RawMessage(`{"x":[1,{"y":"z\""}]}`)},
		"escaped key": {"a\"b": json.RawMessage(`1`)},
		"unicode key": {"é": json.RawMessage(`1`)},
		"nil value":   {"a": nil},
		"invalid":     {"a": json.RawMessage(`{`)},
		"many": func() itsm.Values {
			v := itsm.Values{}
			for i := range 40 {
				v.SetInt(string(rune('a'+i%26))+strings.Repeat("x", i/26), int64(i))
			}
			return v
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			a := &asset{Title: "t", Custom: vals}
			a.ID = itsm.NewID()
			doc, err := coll.Encode(a)
			want, werr := json.Marshal(a)
			if werr != nil {
				require.ErrorIs(t, err, itsm.ErrInvalid)
				return
			}
			require.NoError(t, err)
			require.Equal(t, string(want), string(doc.Data))
			got, err := coll.Decode(doc)
			require.NoError(t, err)
			var std asset
			require.NoError(t, json.Unmarshal(doc.Data, &std))
			std.ID, std.Version = doc.ID, doc.Version
			assert.Equal(t, &std, got)
			if len(got.Custom) > 1 {
				// Appending to one value does not write over another.
				for k := range got.Custom {
					before := got.Custom.Clone()
					got.Custom[k] = append(got.Custom[k], '!')
					for k2 := range got.Custom {
						if k2 != k {
							assert.Equal(t, before[k2], got.Custom[k2])
						}
					}
					break
				}
			}
		})
	}
}

// FuzzCustomValuesCodec: whatever a stored document holds in its custom
// member, the collection decodes it as encoding/json does, and encodes the
// result as json.Marshal does.
func FuzzCustomValuesCodec(f *testing.F) {
	for _, s := range []string{`{"a":"x","b":12}`, `{}`, `null`, `{"a":{"b":[1,2]}}`, `{"a\u0022":1}`, `{"a":"<&>"}`,
		`{ "a" : 1 }`, `{"a":1,"a":2}`, `[1]`, `{"a":}`, `{"é":"\u2028"}`} {
		f.Add(s)
	}
	coll := storage.NewCollection[asset]("asset")
	f.Fuzz(func(t *testing.T, custom string) {
		data := []byte(`{"id":"x","title":"t","custom":` + custom + `}`)
		doc := storage.Document{Kind: "asset", ID: "x", Version: 1, Data: data}
		got, err := coll.Decode(doc)
		var want asset
		werr := json.Unmarshal(data, &want)
		if werr != nil {
			require.Error(t, err)
			return
		}
		require.NoError(t, err)
		want.ID, want.Version = "x", 1
		require.Equal(t, &want, got)
		enc, err := coll.Encode(got)
		marshalled, merr := json.Marshal(got)
		if merr != nil {
			require.Error(t, err)
			return
		}
		require.NoError(t, err)
		require.Equal(t, string(marshalled), string(enc.Data))
	})
}

func TestCustomValuesWithNULAreRefused(t *testing.T) {
	f := newAssetFixture(t, assetDefs)
	for _, raw := range []string{"\"a\x00\"", `"a\u0000"`} {
		a := &asset{Title: "x", Custom: itsm.Values{"secret": json.RawMessage(raw)}}
		err := f.records.Create(asIn(assetAgent, ""), a, storage.Command{})
		var ve *itsm.ValidationError
		require.ErrorAs(t, err, &ve, raw)
		assert.Contains(t, ve.Fields, "custom.secret")
	}
}

func TestWithActionCoversCustomFields(t *testing.T) {
	dict, err := storage.ParseDictionary([]byte(assetDefs))
	require.NoError(t, err)
	coll := storage.NewCollection[asset]("asset", storage.StringField("owner", func(a *asset) string { return a.Owner })).
		WithDictionary(dict).WithAction("classify", storage.CustomMember)
	store := memory.New()
	require.NoError(t, coll.Register(context.Background(), store))
	az := itsm.NewRoleAuthorizer().
		Grant("agent", "*:"+itsm.ActionCreate, "*:"+itsm.ActionRead, "*:"+itsm.ActionUpdate).
		Grant("classifier", "*:"+itsm.ActionRead, "*:classify").
		ScopeReads(itsm.ReadAll, "agent", "classifier")
	recs, err := storage.NewRecords(store, coll, assetLifecycle(t), storage.RecordsConfig{Clock: itsm.NewFakeClock(t0), Authorizer: az})
	require.NoError(t, err)
	a := &asset{Title: "x"}
	require.NoError(t, recs.Create(asIn(itsm.Actor{ID: "ann", Roles: []string{"agent"}}, ""), a, storage.Command{}))
	setRegion := func(x *asset) error { x.Custom.SetString("region", "apac"); return nil }
	_, err = recs.Change(asIn(itsm.Actor{ID: "ann", Roles: []string{"agent"}}, ""), a.ID, storage.Command{}, setRegion)
	assert.ErrorIs(t, err, itsm.ErrForbidden, "a custom edit is authorised as classify")
	_, err = recs.Change(asIn(itsm.Actor{ID: "cleo", Roles: []string{"classifier"}}, ""), a.ID, storage.Command{}, setRegion)
	require.NoError(t, err)
	_, err = recs.Change(asIn(itsm.Actor{ID: "cleo", Roles: []string{"classifier"}}, ""), a.ID, storage.Command{},
		func(x *asset) error { x.Title = "y"; return nil })
	assert.ErrorIs(t, err, itsm.ErrForbidden, "the title is an update")
}
