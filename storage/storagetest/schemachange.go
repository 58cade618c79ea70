package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// Reopen gives the suite a way to open the same data again through a new
// Backend value, as a restarted process would: fn returns a backend over
// what b holds (the same file, schema or key prefix). With it, area
// SchemaChange also registers changed schemas after a simulated restart.
// The suite closes both backends; fn must not close b.
func Reopen(fn func(t *testing.T, b storage.Backend) storage.Backend) Option {
	return func(c *config) { c.reopen = fn }
}

// changeDocs writes n documents of a queueSchema kind and returns them.
func (e *env) changeDocs(kind string, n int) []storage.Document {
	e.t.Helper()
	docs := make([]storage.Document, n)
	for i := range docs {
		docs[i] = storage.Document{Kind: kind, ID: fmt.Sprintf("c%03d", i), Version: 1, Data: []byte(fmt.Sprintf(`{"i":%d}`, i)),
			Fields: []storage.Value{storage.String(fmt.Sprintf("g%d", i%2)), storage.String(fmt.Sprintf("s%d", i%3)),
				storage.Int(int64(i % 5)), storage.Time(eventBase.Add(time.Duration(i) * time.Minute))}}
	}
	e.create(docs...)
	return docs
}

// requireMigrated checks that the stored documents read as docs written
// under old read under next: the same data, the fields converted.
func (e *env) requireMigrated(old, next storage.Schema, docs []storage.Document, msg string) {
	e.t.Helper()
	for _, d := range docs {
		want := d
		want.Fields = storage.ConvertFields(old, next, d.Fields)
		requireSameDoc(e.t, want, e.get(d.Kind, d.ID), msg)
	}
}

// requireQueries runs, on the stored docs under s, an unfiltered listing,
// a listing by every field and by every index (full and suffix with an
// equality prefix), paged by 2, against the reference.
func (e *env) requireQueries(s storage.Schema, docs []storage.Document, msg string) {
	e.t.Helper()
	var qs []storage.Query
	qs = append(qs, storage.Query{Kind: s.Kind, Limit: 2})
	for _, f := range s.Fields {
		if !f.CompositeOnly {
			qs = append(qs, storage.Query{Kind: s.Kind, Sort: []storage.Sort{{Field: f.Name}}, Limit: 2},
				storage.Query{Kind: s.Kind, Filters: []storage.Filter{storage.Eq(f.Name, docs[0].Fields[s.FieldIndex(f.Name)])}, Limit: 2})
		}
	}
	for _, ix := range s.Indexes {
		var sort []storage.Sort
		for _, f := range ix.Fields {
			sort = append(sort, storage.Sort{Field: f})
		}
		qs = append(qs, storage.Query{Kind: s.Kind, Sort: sort, Limit: 2})
		if len(ix.Fields) > 1 {
			qs = append(qs, storage.Query{Kind: s.Kind, Filters: []storage.Filter{storage.Eq(ix.Fields[0], docs[0].Fields[s.FieldIndex(ix.Fields[0])])}, Sort: sort[1:], Limit: 2})
		}
	}
	for _, q := range qs {
		if _, err := s.CheckQuery(q); err != nil {
			continue // a query the schema does not serve (CompositeOnly)
		}
		got := e.queryAll(q, len(docs))
		want := reference(e.t, s, q, docs)
		require.Equal(e.t, ids(want), ids(got), "%s: query %+v", msg, q)
	}
}

func (h *harness) testSchemaChange(t *testing.T) {
	t.Run("Accepted", func(t *testing.T) {
		cases := map[string]func(*storage.Schema){
			"extra field": func(s *storage.Schema) { s.Fields = append(s.Fields, fInt("extra")) },
			"extra fields first": func(s *storage.Schema) {
				s.Fields = append([]storage.Field{fString("label"), fTime("due")}, s.Fields...)
			},
			"missing field":    func(s *storage.Schema) { s.Fields = s.Fields[:3]; s.Indexes = nil },
			"field order":      func(s *storage.Schema) { s.Fields[0], s.Fields[1] = s.Fields[1], s.Fields[0] },
			"no index":         func(s *storage.Schema) { s.Indexes = nil },
			"index fields":     func(s *storage.Schema) { s.Indexes[0].Fields = []string{"grp", "prio"} },
			"index name":       func(s *storage.Schema) { s.Indexes[0].Name = "other" },
			"renamed field":    func(s *storage.Schema) { s.Fields[1].Name = "status"; s.Indexes = nil },
			"no fields at all": func(s *storage.Schema) { s.Fields = nil; s.Indexes = nil },
			"extra index": func(s *storage.Schema) {
				s.Indexes = append(s.Indexes, storage.Index{Name: "by_prio", Fields: []string{"prio", "opened"}})
			},
			"index field order": func(s *storage.Schema) { s.Indexes[0].Fields = []string{"state", "grp", "prio", "opened"} },
			"composite only": func(s *storage.Schema) {
				s.Fields[1].CompositeOnly, s.Fields[2].CompositeOnly = true, true
			},
			"new field in a new index": func(s *storage.Schema) {
				s.Fields = append(s.Fields, storage.Field{Name: "tier", Type: storage.TypeInt, CompositeOnly: true})
				s.Indexes = append(s.Indexes, storage.Index{Name: "by_tier", Fields: []string{"tier", "opened"}})
			},
		}
		for what, change := range cases {
			t.Run(what, func(t *testing.T) {
				e := h.setup(t)
				old := e.register(queueSchema(name("chg")))
				a := e.in(tenantName("ta"))
				docs, docsA := e.changeDocs(old.Kind, 7), a.changeDocs(old.Kind, 3)
				next := queueSchema(old.Kind)
				change(&next)
				require.NoError(t, next.Validate())
				require.NoError(t, e.b.Register(e.ctx, next), "a migration is accepted")
				require.NoError(t, e.b.Register(e.ctx, next), "registering it again is a no-op")
				e.requireMigrated(old, next, docs, what)
				a.requireMigrated(old, next, docsA, what+" (tenant a)")
				e.requireQueries(next, e.convert(old, next, docs), what)

				// New documents are written under the new schema; the old
				// shape is refused.
				fresh := storage.Document{Kind: old.Kind, ID: "fresh", Version: 1, Fields: storage.ConvertFields(old, next, docs[0].Fields)}
				require.NoError(t, e.putErr(fresh, 0))
				e.requireDoc(fresh)
				if len(next.Fields) != len(old.Fields) {
					stale := docs[1]
					stale.ID = "stale"
					require.ErrorIs(t, e.putErr(stale, 0), itsm.ErrInvalid, "a document of the old shape")
				}
			})
		}
	})

	t.Run("AddField", func(t *testing.T) {
		e := h.setup(t)
		old := e.docSchema("chg")
		var docs []storage.Document
		for i := range 5 {
			docs = append(docs, sdoc(old.Kind, fmt.Sprintf("old%d", i), 1, "old", "s", int64(i), time.Unix(int64(i), 0)))
		}
		e.create(docs...)
		next := old
		next.Fields = append(append([]storage.Field(nil), old.Fields...), fString("label"), fInt("cost"), fTime("due"))
		next.Indexes = []storage.Index{{Name: "by_label_cost", Fields: []string{"label", "cost"}}}
		require.NoError(t, e.b.Register(e.ctx, next))

		zero := []storage.Value{storage.ZeroValue(storage.TypeString), storage.ZeroValue(storage.TypeInt), storage.ZeroValue(storage.TypeTime)}
		require.True(t, zero[2].Time().IsZero(), "the zero time value is time.Time{}")
		for _, d := range docs {
			got := e.get(d.Kind, d.ID)
			require.Equal(t, append(append([]storage.Value(nil), d.Fields...), zero...), got.Fields, "existing documents hold the zero values")
			require.Equal(t, d.Data, got.Data)
		}
		// New documents use the field; old ones are found by its zero value.
		var fresh []storage.Document
		for i := range 6 {
			d := storage.Document{Kind: old.Kind, ID: fmt.Sprintf("new%d", i), Version: 1, Data: []byte("new"),
				Fields: []storage.Value{storage.String("s"), storage.Int(int64(10 + i)), storage.Time(time.Unix(int64(10+i), 0)),
					storage.String(fmt.Sprintf("l%d", i%2)), storage.Int(int64(100 - i)), storage.Time(time.Unix(int64(1000+i), 0))}}
			fresh = append(fresh, d)
		}
		e.create(fresh...)
		byLabel := func(v string) []string {
			return ids(e.queryAll(storage.Query{Kind: old.Kind, Filters: []storage.Filter{storage.Eq("label", storage.String(v))}, Limit: 2}, 20))
		}
		require.ElementsMatch(t, ids(docs), byLabel(""), "old documents hold the empty label")
		require.ElementsMatch(t, []string{"new0", "new2", "new4"}, byLabel("l0"))
		all := append(e.convert(old, next, docs), fresh...)
		e.requireQueries(next, all, "after adding fields")
		q := storage.Query{Kind: old.Kind, Filters: []storage.Filter{storage.Gt("cost", storage.Int(0))}, Sort: []storage.Sort{{Field: "cost", Desc: true}}, Limit: 2}
		require.Equal(t, ids(reference(t, next, q, all)), ids(e.queryAll(q, 20)), "range and sort on a new field, paged")
		q = storage.Query{Kind: old.Kind, Sort: []storage.Sort{{Field: "due"}}, Limit: 3}
		require.Equal(t, ids(reference(t, next, q, all)), ids(e.queryAll(q, 20)), "zero times sort first")

		// Rewriting an old document gives it a value.
		up := e.get(old.Kind, "old3")
		up.Version, up.Fields[3] = 2, storage.String("l0")
		e.update(up, 1)
		require.ElementsMatch(t, []string{"new0", "new2", "new4", "old3"}, byLabel("l0"))
	})

	t.Run("RemoveField", func(t *testing.T) {
		e := h.setup(t)
		old := e.register(queueSchema(name("chg")))
		docs := e.changeDocs(old.Kind, 6)
		next := storage.Schema{Kind: old.Kind, Fields: []storage.Field{fString("grp"), fTime("opened")},
			Indexes: []storage.Index{{Name: "by_grp", Fields: []string{"grp", "opened"}}}}
		require.NoError(t, e.b.Register(e.ctx, next))
		e.requireMigrated(old, next, docs, "after removing fields")
		_, err := e.b.Query(e.ctx, storage.Query{Kind: old.Kind, Filters: []storage.Filter{storage.Eq("prio", storage.Int(1))}})
		require.ErrorIs(t, err, itsm.ErrInvalid, "a query on a removed field")
		_, err = e.b.Query(e.ctx, storage.Query{Kind: old.Kind, Sort: []storage.Sort{{Field: "grp"}, {Field: "state"}}})
		require.ErrorIs(t, err, itsm.ErrInvalid, "an ordering of a removed index")
		e.requireQueries(next, e.convert(old, next, docs), "after removing fields")
		d := storage.Document{Kind: old.Kind, ID: "two", Version: 1, Fields: []storage.Value{storage.String("g9"), storage.Time(eventBase)}}
		require.NoError(t, e.putErr(d, 0))
		e.requireDoc(d)
	})

	t.Run("TypeChangeConflicts", func(t *testing.T) {
		e := h.setup(t)
		old := e.register(queueSchema(name("chg")))
		docs := e.changeDocs(old.Kind, 3)
		next := queueSchema(old.Kind)
		next.Fields = append(next.Fields, fString("extra")) // an addition in the same call changes nothing either
		next.Fields[2].Type = storage.TypeString
		err := e.b.Register(e.ctx, next)
		require.ErrorIs(t, err, itsm.ErrConflict)
		var sce *storage.SchemaChangeError
		require.ErrorAs(t, err, &sce)
		require.Equal(t, storage.SchemaChangeError{Kind: old.Kind, Field: "prio", From: storage.TypeInt, To: storage.TypeString}, *sce)
		for _, d := range docs {
			e.requireDoc(d)
		}
		e.requireQueries(old, docs, "after a refused type change")
		require.NoError(t, e.b.Register(e.ctx, old), "the registered schema is unchanged")
	})

	t.Run("Restart", func(t *testing.T) {
		if h.cfg.reopen == nil {
			t.Skip("storagetest: no Reopen option: the backend cannot be opened again over the same data")
		}
		e := h.setup(t)
		old := e.register(queueSchema(name("chg")))
		docs := e.changeDocs(old.Kind, 5)
		b2 := h.cfg.reopen(t, e.b)
		require.NotNil(t, b2, "Reopen returned nil")
		t.Cleanup(func() { _ = b2.Close() })
		r := &env{t: t, ctx: e.ctx, b: b2}
		next := queueSchema(old.Kind)
		next.Fields = append(next.Fields, fInt("extra"))
		next.Indexes = append(next.Indexes, storage.Index{Name: "by_extra", Fields: []string{"extra", "opened"}})
		bad := queueSchema(old.Kind)
		bad.Fields[0].Type = storage.TypeInt
		require.ErrorIs(t, r.b.Register(r.ctx, bad), itsm.ErrConflict, "a type change after a restart")
		require.NoError(t, r.b.Register(r.ctx, next), "an added field after a restart")
		r.requireMigrated(old, next, docs, "after a restart")
		r.requireQueries(next, r.convert(old, next, docs), "after a restart")
	})
}

// convert returns docs with their fields converted from old to next.
func (e *env) convert(old, next storage.Schema, docs []storage.Document) []storage.Document {
	out := make([]storage.Document, len(docs))
	for i, d := range docs {
		out[i] = d
		out[i].Fields = storage.ConvertFields(old, next, d.Fields)
	}
	return out
}
