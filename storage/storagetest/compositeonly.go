package storagetest

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// compositeOnlyKind is the query fixture's kind with at, grp and prio
// declared CompositeOnly: they live only in the queue index (grp, prio, at).
func compositeOnlyKind(kind string) storage.Schema {
	s := queryKind(kind)
	for i := range s.Fields {
		switch s.Fields[i].Name {
		case "at", "grp", "prio":
			s.Fields[i].CompositeOnly = true
		}
	}
	return s
}

// testCompositeOnly checks fields declared CompositeOnly: the queries an
// index serves return what the reference says, written and imported
// documents alike, writes that move a document within the index are seen,
// and the queries no index serves are refused with ErrInvalid.
func (h *harness) testCompositeOnly(t *testing.T) {
	str, num, tm := storage.String, storage.Int, storage.Time
	served := map[string]storage.Query{
		"queue page":            {Filters: []storage.Filter{storage.Eq("grp", str("g2")), storage.Eq("prio", num(3))}, Sort: []storage.Sort{{Field: "at"}}, Limit: 7},
		"queue by prio then at": {Filters: []storage.Filter{storage.Eq("grp", str("g1"))}, Sort: []storage.Sort{{Field: "prio"}, {Field: "at"}}, Limit: 9},
		"queue with a bound":    {Filters: []storage.Filter{storage.Eq("grp", str("g3")), storage.Gte("prio", num(2)), storage.Lt("at", tm(timePool[5]))}, Sort: []storage.Sort{{Field: "prio"}, {Field: "at"}}, Limit: 5},
		"first field, no sort":  {Filters: []storage.Filter{storage.Eq("grp", str("g4")), storage.Lte("prio", num(2))}, Limit: 8},
		"first field In":        {Filters: []storage.Filter{storage.In("grp", str("g1"), str("g3"), str("g1")), storage.Eq("prio", num(5))}, Sort: []storage.Sort{{Field: "n", Desc: true}}, Limit: 6},
		"own index beside":      {Filters: []storage.Filter{storage.Eq("s", str("a")), storage.Gt("prio", num(1))}, Sort: []storage.Sort{{Field: "at", Desc: true}}, Limit: 4},
		"own range beside":      {Filters: []storage.Filter{storage.Gte("n", num(0)), storage.Eq("at", tm(timePool[4]))}, Limit: 10},
		"own range, queue sort": {Filters: []storage.Filter{storage.Lt("n", num(3))}, Sort: []storage.Sort{{Field: "at"}}, Limit: 11},
		"own index only":        {Filters: []storage.Filter{storage.Eq("n", num(42))}, Sort: []storage.Sort{{Field: "s"}}, Limit: 10},
	}
	refused := map[string]storage.Query{
		"second field alone":       {Filters: []storage.Filter{storage.Eq("prio", num(3))}},
		"last field range":         {Filters: []storage.Filter{storage.Gt("at", tm(timePool[3]))}},
		"range on the first field": {Filters: []storage.Filter{storage.Gte("grp", str("g2"))}},
		"sort alone":               {Sort: []storage.Sort{{Field: "at"}}},
		"queue without its prefix": {Filters: []storage.Filter{storage.Eq("prio", num(1))}, Sort: []storage.Sort{{Field: "at"}}},
		"undeclared suffix":        {Filters: []storage.Filter{storage.Eq("grp", str("g1"))}, Sort: []storage.Sort{{Field: "prio"}}},
	}
	check := func(e *env, s storage.Schema, docs []storage.Document, msg string) {
		e.t.Helper()
		for what, q := range served {
			q.Kind = s.Kind
			e.checkQuery(s, docs, q, msg+": "+what)
		}
	}

	t.Run("Written", func(t *testing.T) {
		e := h.setup(t)
		s := e.register(compositeOnlyKind(name("conly")))
		docs := queryDocs(s.Kind, h.scale(400, 150), 3)
		e.createMany(docs, 100)
		check(e, s, docs, "created")

		// Move a third of the documents to other groups, priorities and
		// times, and delete a few: the queue index follows.
		r := rand.New(rand.NewPCG(5, 6))
		for i := range docs {
			d := &docs[i]
			if i%3 != 0 {
				continue
			}
			moved := *d
			moved.Version = d.Version + 1
			moved.Fields = append([]storage.Value(nil), d.Fields...)
			moved.Fields[2] = tm(timePool[r.IntN(len(timePool))])
			moved.Fields[3] = str(grpPool[r.IntN(len(grpPool))])
			moved.Fields[4] = num(int64(1 + r.IntN(5)))
			e.update(moved, d.Version)
			*d = moved
		}
		var kept []storage.Document
		for i, d := range docs {
			if i%10 == 1 {
				require.NoError(t, e.b.Update(e.ctx, func(tx storage.Tx) error { return tx.Delete(e.ctx, d.Kind, d.ID, d.Version) }))
				continue
			}
			kept = append(kept, d)
		}
		check(e, s, kept, "after moves and deletes")

		for what, q := range refused {
			q.Kind = s.Kind
			_, err := noPanicQuery(t, what, func() (storage.Page, error) { return e.b.Query(e.ctx, q) })
			require.ErrorIs(t, err, itsm.ErrInvalid, "%s: no index serves it", what)
		}
	})

	t.Run("Imported", func(t *testing.T) {
		e := h.setup(t)
		for how, b := range importers(e.b) {
			s := e.register(compositeOnlyKind(name("conlyimp")))
			docs := queryDocs(s.Kind, h.scale(5000, 300), 4)
			require.NoError(t, storage.Import(e.ctx, b, docs, nil), how)
			check(e, s, docs, fmt.Sprintf("imported %s", how))
		}
	})

	t.Run("Unnamed", func(t *testing.T) {
		e := h.setup(t)
		s := compositeOnlyKind(name("conlybad"))
		s.Indexes = s.Indexes[1:] // no index names at, grp, prio any more
		err := noPanic(t, "Register", func() error { return e.b.Register(e.ctx, s) })
		require.ErrorIs(t, err, itsm.ErrInvalid)
	})
}
