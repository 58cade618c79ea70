package storagetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// walker hides a backend's Counter, so storage.Count takes its fallback.
type walker struct{ storage.Backend }

// counters returns the backend under the names of the ways storage.Count
// counts on it: its own Counter, when it has one, and the fallback.
func counters(b storage.Backend) map[string]storage.Backend {
	out := map[string]storage.Backend{"fallback": walker{b}}
	if _, ok := b.(storage.Counter); ok {
		out["Counter"] = b
	}
	return out
}

// testCount holds storage.Count, through a backend's Counter and through
// the fallback that walks Query, to the number of documents the reference
// query selects: every operator, composite filters, a query matching
// nothing, Sort, Limit and Cursor ignored, the tenant kept (unless the
// backend declares AreaTenancy Unsupported), and bad queries refused as
// Query refuses them.
func (h *harness) testCount(t *testing.T) {
	e := h.open(t)
	s := e.register(queryKind(name("count")))
	docs := queryDocs(s.Kind, h.scale(400, 150), 3)
	e.createMany(docs, 100)
	first, err := e.b.Query(e.ctx, storage.Query{Kind: s.Kind, Limit: 7})
	require.NoError(t, err)
	require.NotEmpty(t, first.Next)

	tests := []struct {
		name string
		q    storage.Query
	}{
		{"every document", storage.Query{}},
		{"eq string", storage.Query{Filters: []storage.Filter{storage.Eq("s", storage.String("a"))}}},
		{"eq empty string", storage.Query{Filters: []storage.Filter{storage.Eq("s", storage.String(""))}}},
		{"in", storage.Query{Filters: []storage.Filter{storage.In("grp", storage.String("g1"), storage.String("g3"), storage.String("g1"))}}},
		{"range", storage.Query{Filters: []storage.Filter{storage.Gt("n", storage.Int(-1)), storage.Lte("n", storage.Int(42))}}},
		{"time before", storage.Query{Filters: []storage.Filter{storage.Lt("at", storage.Time(timePool[4]))}}},
		{"composite prefix", storage.Query{Filters: []storage.Filter{storage.Eq("grp", storage.String("g2")), storage.In("prio", storage.Int(1), storage.Int(2))}}},
		{"nothing matches", storage.Query{Filters: []storage.Filter{storage.Eq("s", storage.String("no such value"))}}},
		{"sort, limit and cursor ignored", storage.Query{Filters: []storage.Filter{storage.Eq("grp", storage.String("g4"))},
			Sort: []storage.Sort{{Field: "prio"}}, Limit: 3}},
		{"the cursor of another page ignored", storage.Query{Cursor: first.Next, Limit: 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.q
			q.Kind = s.Kind
			ref := q
			ref.Cursor, ref.Limit = "", 0
			want := len(reference(t, s, ref, docs))
			for how, b := range counters(e.b) {
				got, err := storage.Count(e.ctx, b, q)
				require.NoError(t, err, how)
				assert.Equal(t, want, got, how)
			}
		})
	}

	t.Run("Tenancy", func(t *testing.T) {
		if h.cfg.unsupported[AreaTenancy] {
			t.Skipf("storagetest: the backend declares area %s Unsupported", AreaTenancy)
		}
		other := itsm.WithTenant(e.ctx, name("tenant"))
		require.NoError(t, e.b.Register(other, s))
		mine := queryDocs(s.Kind, 5, 9)
		for i := range mine {
			mine[i].ID = fmt.Sprintf("t%05d", i)
		}
		require.NoError(t, e.b.Update(other, func(tx storage.Tx) error {
			for _, d := range mine {
				if err := tx.Put(other, d, 0); err != nil {
					return err
				}
			}
			return nil
		}))
		for how, b := range counters(e.b) {
			got, err := storage.Count(other, b, storage.Query{Kind: s.Kind})
			require.NoError(t, err, how)
			assert.Equal(t, len(mine), got, "%s: the other tenant counts its own documents only", how)
			got, err = storage.Count(e.ctx, b, storage.Query{Kind: s.Kind})
			require.NoError(t, err, how)
			assert.Equal(t, len(docs), got, "%s: and this tenant none of them", how)
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		bad := []struct {
			name string
			q    storage.Query
		}{
			{"unregistered kind", storage.Query{Kind: name("nokind")}},
			{"unindexed field", storage.Query{Kind: s.Kind, Filters: []storage.Filter{storage.Eq("nope", storage.String("x"))}}},
			{"wrong value type", storage.Query{Kind: s.Kind, Filters: []storage.Filter{storage.Eq("n", storage.String("x"))}}},
			{"undeclared ordering", storage.Query{Kind: s.Kind, Sort: []storage.Sort{{Field: "s"}, {Field: "grp"}}}},
		}
		for _, tt := range bad {
			_, qerr := e.b.Query(e.ctx, tt.q)
			require.Error(t, qerr, tt.name)
			for how, b := range counters(e.b) {
				var err error
				require.NotPanics(t, func() { _, err = storage.Count(e.ctx, b, tt.q) }, tt.name)
				requireErrorIsOneOf(t, err, []error{itsm.ErrNotFound, itsm.ErrInvalid}, tt.name+" "+how)
			}
		}
		_, err := storage.Count(context.Background(), nil, storage.Query{Kind: s.Kind})
		assert.ErrorIs(t, err, itsm.ErrInvalid)
	})
}
