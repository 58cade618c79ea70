package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// schemaV1 is a kind as first released; schemaV2 adds fields of every type
// and an index on one of them.
func schemaV1() storage.Schema { return numberedSchema("case") }

func schemaV2() storage.Schema {
	sc := numberedSchema("case")
	sc.Fields = append(sc.Fields,
		storage.Field{Name: "prio", Type: storage.TypeInt},
		storage.Field{Name: "due", Type: storage.TypeTime},
		storage.Field{Name: "owner", Type: storage.TypeString})
	sc.Indexes = []storage.Index{{Name: "queue", Fields: []string{"state", "prio"}}}
	return sc
}

func docV2(id, number string, prio int64, due time.Time, owner string) storage.Document {
	d := numberedDoc("case", id, number)
	d.Fields = append(d.Fields, storage.Int(prio), storage.Time(due), storage.String(owner))
	return d
}

func indexCount(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	require.NoError(t, s.pool.QueryRow(context.Background(), "SELECT count(*) "+ownIndexes, s.schema, "case").Scan(&n))
	return n
}

// TestSchemaChanges registers new schemas of a kind from several Store
// values sharing one PostgreSQL schema, as instances of a host being
// upgraded one by one do: added fields become columns holding the zero
// value for existing documents, stores still on the old schema go on
// writing, removed fields lose their index, and a type change is refused.
func TestSchemaChanges(t *testing.T) {
	bg := context.Background()
	old := newTestStore(t)
	require.NoError(t, old.Register(bg, schemaV1()))
	acme := itsm.WithTenant(bg, "acme")
	put := func(s *Store, ctx context.Context, d storage.Document) {
		t.Helper()
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, d, 0) }))
	}
	put(old, bg, numberedDoc("case", "x1", "INC0000001"))
	put(old, acme, numberedDoc("case", "y1", "INC0000001"))
	require.Equal(t, 2+1, indexCount(t, old), "two fields, the unique number")

	// Several upgraded instances register the new schema at once.
	upgraded := make([]*Store, 4)
	var wg sync.WaitGroup
	errs := make([]error, len(upgraded))
	for i := range upgraded {
		s, err := New(bg, old.pool, WithSchema(old.schema))
		require.NoError(t, err)
		upgraded[i] = s
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = s.Register(bg, schemaV2()) }()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	s := upgraded[0]
	require.Equal(t, 5+1+1, indexCount(t, s), "five fields, the queue, the unique number")

	// Existing documents hold the zero values, in every tenant; queries on
	// the new fields work at once.
	zero := []storage.Value{storage.ZeroValue(storage.TypeInt), storage.ZeroValue(storage.TypeTime), storage.ZeroValue(storage.TypeString)}
	for ctx, id := range map[context.Context]string{bg: "x1", acme: "y1"} {
		d, err := s.Get(ctx, "case", id)
		require.NoError(t, err)
		require.Equal(t, zero, d.Fields[2:], id)
	}
	page, err := s.Query(bg, storage.Query{Kind: "case", Filters: []storage.Filter{storage.Eq("state", storage.String("new")), storage.Eq("prio", storage.Int(0))},
		Sort: []storage.Sort{{Field: "prio"}}})
	require.NoError(t, err)
	require.Len(t, page.Docs, 1)

	// The store on the old schema goes on writing (the new columns take
	// their defaults) and reads with the fields it registered.
	put(old, bg, numberedDoc("case", "x2", "INC0000002"))
	d, err := s.Get(bg, "case", "x2")
	require.NoError(t, err)
	require.Equal(t, zero, d.Fields[2:])
	due := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	put(s, bg, docV2("x3", "INC0000003", 5, due, "alice"))
	d, err = old.Get(bg, "case", "x3")
	require.NoError(t, err)
	require.Len(t, d.Fields, 2)
	page, err = s.Query(bg, storage.Query{Kind: "case", Filters: []storage.Filter{storage.Gte("due", storage.Time(due))}})
	require.NoError(t, err)
	require.Len(t, page.Docs, 1)
	require.Equal(t, "alice", page.Docs[0].Fields[4].Str())

	// A store value registering the new schema reads with it from then on.
	require.NoError(t, old.Register(bg, schemaV2()))
	d, err = old.Get(bg, "case", "x3")
	require.NoError(t, err)
	require.Equal(t, []storage.Value{storage.Int(5), storage.Time(due), storage.String("alice")}, d.Fields[2:])

	// Removing a field drops its index; its column stays, with a default,
	// so instances still writing it, and those not, both work.
	v3 := schemaV2()
	v3.Fields = v3.Fields[:4]
	removed, err := New(bg, old.pool, WithSchema(old.schema))
	require.NoError(t, err)
	require.NoError(t, removed.Register(bg, v3))
	require.Equal(t, 4+1+1, indexCount(t, s), "the owner's index is gone")
	d3 := docV2("x4", "INC0000004", 1, due, "")
	d3.Fields = d3.Fields[:4]
	put(removed, bg, d3)
	put(s, bg, docV2("x5", "INC0000005", 1, due, "bob"))
	d, err = removed.Get(bg, "case", "x5")
	require.NoError(t, err)
	require.Len(t, d.Fields, 4)
	_, err = removed.Query(bg, storage.Query{Kind: "case", Filters: []storage.Filter{storage.Eq("owner", storage.String("bob"))}})
	require.ErrorIs(t, err, itsm.ErrInvalid, "the removed field is not queryable on the store that removed it")

	// Changing a type is refused, on a fresh instance and on a store that
	// registered the kind, and changes nothing.
	v4 := v3
	v4.Fields = append([]storage.Field(nil), v3.Fields...)
	v4.Fields[2].Type = storage.TypeString
	for _, st := range []*Store{removed, func() *Store {
		st, err := New(bg, old.pool, WithSchema(old.schema))
		require.NoError(t, err)
		return st
	}()} {
		err := st.Register(bg, v4)
		var sc *storage.SchemaChangeError
		require.ErrorAs(t, err, &sc)
		require.Equal(t, storage.SchemaChangeError{Kind: "case", Field: "prio", From: storage.TypeInt, To: storage.TypeString}, *sc)
		require.ErrorIs(t, err, itsm.ErrConflict)
	}
	d, err = removed.Get(bg, "case", "x3")
	require.NoError(t, err)
	require.Equal(t, storage.Int(5), d.Fields[2], "the store keeps the schema it had")
	require.Equal(t, 4+1+1, indexCount(t, s))

	// A field removed earlier may come back with another type: its old
	// column is replaced, and documents hold the zero value.
	v5 := v3
	v5.Fields = append(append([]storage.Field(nil), v3.Fields...), storage.Field{Name: "owner", Type: storage.TypeInt})
	require.NoError(t, removed.Register(bg, v5))
	d, err = removed.Get(bg, "case", "x5")
	require.NoError(t, err)
	require.Equal(t, storage.Int(0), d.Fields[4])
}
