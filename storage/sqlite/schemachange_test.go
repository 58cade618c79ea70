package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// withField returns sch with f appended.
func withField(sch storage.Schema, f storage.Field) storage.Schema {
	c := cloneSchema(sch)
	c.Fields = append(c.Fields, f)
	return c
}

// withoutField returns sch without the named field (and the indexes naming
// it).
func withoutField(sch storage.Schema, name string) storage.Schema {
	c := cloneSchema(sch)
	c.Fields = c.Fields[:0]
	for _, f := range sch.Fields {
		if f.Name != name {
			c.Fields = append(c.Fields, f)
		}
	}
	c.Indexes = nil
	for _, ix := range sch.Indexes {
		keep := true
		for _, f := range ix.Fields {
			keep = keep && f != name
		}
		if keep {
			c.Indexes = append(c.Indexes, ix)
		}
	}
	return c
}

func hasIndex(t *testing.T, s *Store, name string) bool {
	t.Helper()
	var n int
	require.NoError(t, s.r.QueryRowContext(context.Background(), `SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ?`, name).Scan(&n))
	return n == 1
}

// TestRegisterSchemaChanges: registering a kind again with added, removed
// or re-added fields migrates its table on the same Store value and on a
// reopened file; a type change is refused naming the field.
func TestRegisterSchemaChanges(t *testing.T) {
	ctx := context.Background()
	acme := itsm.WithTenant(ctx, "acme")
	path := filepath.Join(t.TempDir(), "change.db")
	s := openAt(t, path)
	require.NoError(t, s.Register(ctx, ticketSchema))
	put(t, s, ticket("a", 1, "net", "new", 2, t0), 0)
	require.NoError(t, putIn(acme, s, ticket("b", 1, "net", "new", 2, t0), 0))

	v2 := withField(withField(withField(ticketSchema,
		storage.Field{Name: "cf_site", Type: storage.TypeString}),
		storage.Field{Name: "cf_cost", Type: storage.TypeInt}),
		storage.Field{Name: "cf_due", Type: storage.TypeTime})
	v2.Indexes = append(v2.Indexes, storage.Index{Name: "by_site", Fields: []string{"cf_site", "cf_due"}})

	t.Run("added fields hold the zero value", func(t *testing.T) {
		require.NoError(t, s.Register(ctx, v2), "adding fields on the same Store value")
		require.NoError(t, s.Register(ctx, v2), "and again: a no-op")
		for id, c := range map[string]context.Context{"a": ctx, "b": acme} {
			d, err := s.Get(c, "ticket", id)
			require.NoError(t, err)
			require.Len(t, d.Fields, 7, "aligned with the schema registered last")
			assert.Equal(t, []storage.Value{storage.String(""), storage.Int(0), storage.ZeroValue(storage.TypeTime)}, d.Fields[4:])
		}
		assert.Equal(t, []string{"_tenant", "cf_site", "cf_due", "_id"}, indexColsOf(t, s, compositeIndexName("ticket", "by_site")))
		assert.Equal(t, []string{"_tenant", "cf_cost", "_id"}, indexColsOf(t, s, fieldIndexName("ticket", "cf_cost")))

		d := storage.Document{Kind: "ticket", ID: "c", Version: 1, Fields: []storage.Value{storage.String("db"), storage.String("new"),
			storage.Int(1), storage.Time(t0), storage.String("paris"), storage.Int(1250), storage.Time(t0)}}
		put(t, s, d, 0)
		page, err := s.Query(ctx, storage.Query{Kind: "ticket", Filters: []storage.Filter{storage.Eq("cf_site", storage.String("paris"))},
			Sort: []storage.Sort{{Field: "cf_due"}}})
		require.NoError(t, err)
		assert.Equal(t, []string{"c"}, idsOf(page.Docs))
		page, err = s.Query(ctx, storage.Query{Kind: "ticket", Filters: []storage.Filter{storage.Eq("cf_site", storage.String(""))}})
		require.NoError(t, err)
		assert.Equal(t, []string{"a"}, idsOf(page.Docs), "old documents match the zero value")
	})

	t.Run("a type change is refused", func(t *testing.T) {
		for _, change := range []struct {
			field string
			to    storage.FieldType
		}{{"cf_cost", storage.TypeString}, {"cf_cost", storage.TypeTime}, {"cf_site", storage.TypeInt}, {"prio", storage.TypeTime}} {
			bad := cloneSchema(v2)
			bad.Fields[bad.FieldIndex(change.field)].Type = change.to
			err := s.Register(ctx, bad)
			require.ErrorIs(t, err, itsm.ErrConflict, "%s to %s", change.field, change.to)
			var sce *storage.SchemaChangeError
			require.ErrorAs(t, err, &sce)
			assert.Equal(t, storage.SchemaChangeError{Kind: "ticket", Field: change.field, From: v2.Fields[v2.FieldIndex(change.field)].Type, To: change.to}, *sce)
		}
		d, err := s.Get(ctx, "ticket", "c")
		require.NoError(t, err)
		assert.Len(t, d.Fields, 7, "nothing changed")
	})

	v3 := withoutField(v2, "cf_site")
	t.Run("a removed field loses its index, not its data", func(t *testing.T) {
		require.NoError(t, s.Register(ctx, v3))
		assert.False(t, hasIndex(t, s, fieldIndexName("ticket", "cf_site")))
		assert.False(t, hasIndex(t, s, compositeIndexName("ticket", "by_site")))
		d, err := s.Get(ctx, "ticket", "c")
		require.NoError(t, err)
		require.Len(t, d.Fields, 6)
		assert.Equal(t, storage.Int(1250), d.Fields[v3.FieldIndex("cf_cost")])
		_, err = s.Query(ctx, storage.Query{Kind: "ticket", Filters: []storage.Filter{storage.Eq("cf_site", storage.String("paris"))}})
		require.ErrorIs(t, err, itsm.ErrInvalid, "no longer declared")
		d.Version = 2
		d.Data = []byte(`{"rewritten":true}`)
		put(t, s, d, 1)
	})

	t.Run("a field declared again starts from the zero value", func(t *testing.T) {
		require.NoError(t, s.Register(ctx, withField(v3, storage.Field{Name: "cf_site", Type: storage.TypeString})))
		d, err := s.Get(ctx, "ticket", "c")
		require.NoError(t, err)
		assert.Equal(t, storage.String(""), d.Fields[len(d.Fields)-1], "not the value indexed before it was removed")
		require.NoError(t, s.Register(ctx, v3))
		require.NoError(t, s.Register(ctx, withField(v3, storage.Field{Name: "cf_site", Type: storage.TypeInt})), "a removed field may come back with another type")
		d, err = s.Get(ctx, "ticket", "c")
		require.NoError(t, err)
		assert.Equal(t, storage.Int(0), d.Fields[len(d.Fields)-1])
		d.Version, d.Fields[len(d.Fields)-1] = 3, storage.Int(7)
		put(t, s, d, 2)
		page, err := s.Query(ctx, storage.Query{Kind: "ticket", Filters: []storage.Filter{storage.Gte("cf_site", storage.Int(5))}})
		require.NoError(t, err)
		assert.Equal(t, []string{"c"}, idsOf(page.Docs))
	})
	require.NoError(t, s.Close())

	t.Run("a reopened file", func(t *testing.T) {
		s := openAt(t, path)
		d, err := s.Get(ctx, "ticket", "c")
		require.NoError(t, err)
		assert.Len(t, d.Fields, 7, "the schema stored last")
		bad := withField(v3, storage.Field{Name: "cf_site", Type: storage.TypeString})
		_, ok := errorsAs[*storage.SchemaChangeError](s.Register(ctx, bad))
		require.True(t, ok, "the stored schema declares it an int")
		v4 := withField(withField(v3, storage.Field{Name: "cf_site", Type: storage.TypeInt}), storage.Field{Name: "cf_new", Type: storage.TypeString})
		require.NoError(t, s.Register(ctx, v4))
		d, err = s.Get(acme, "ticket", "b")
		require.NoError(t, err)
		assert.Equal(t, storage.String(""), d.Fields[len(d.Fields)-1])
	})
}
