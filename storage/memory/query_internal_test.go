package memory

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// An unordered query takes the narrower of the best hash set and the
// composite index range its first-field filter fixes, and the same
// documents come back whichever it takes.
func TestEachCandidateTakesTheNarrowerSource(t *testing.T) {
	ctx := t.Context()
	sc := storage.Schema{Kind: "inc", Fields: []storage.Field{
		{Name: "state", Type: storage.TypeString},
		{Name: "parent", Type: storage.TypeString},
		{Name: "caller", Type: storage.TypeString, CompositeOnly: true},
	}, Indexes: []storage.Index{
		{Name: "children", Fields: []string{"parent", "state"}},
		{Name: "by_caller", Fields: []string{"caller", "state"}},
	}}
	s := New()
	require.NoError(t, s.Register(ctx, sc))
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		for i := range 400 {
			parent, caller := "", fmt.Sprintf("c%d", i%4)
			if i < 5 {
				parent = "p1"
			}
			d := storage.Document{Kind: "inc", ID: fmt.Sprintf("i%03d", i), Version: 1,
				Fields: []storage.Value{storage.String("open"), storage.String(parent), storage.String(caller)}}
			if err := tx.Put(ctx, d, 0); err != nil {
				return err
			}
		}
		return nil
	}))
	open := storage.Eq("state", storage.String("open"))
	tests := []struct {
		name    string
		filters []storage.Filter
		source  string
		matches int
	}{
		{"a caller's range beats every open incident", []storage.Filter{storage.Eq("caller", storage.String("c1")), open}, byPrefix, 100},
		{"a rare parent's hash set beats a caller's range", []storage.Filter{storage.Eq("caller", storage.String("c1")), storage.Eq("parent", storage.String("p1"))}, byHash, 1},
		{"a hash set as narrow as the range", []storage.Filter{storage.Eq("parent", storage.String("p1"))}, byHash, 5},
		{"a CompositeOnly field alone has only its index", []storage.Filter{storage.In("caller", storage.String("c2"), storage.String("c3"))}, byPrefix, 200},
		{"no children: the empty hash set is narrower than any range", []storage.Filter{storage.Eq("parent", storage.String("none")), open}, byHash, 0},
		{"no Eq or In", []storage.Filter{storage.Gt("state", storage.String("a"))}, byScan, 400},
	}
	kd := s.tenants[itsm.DefaultTenant].kinds["inc"]
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := sc.CheckQuery(storage.Query{Kind: "inc", Filters: tt.filters})
			require.NoError(t, err)
			n := 0
			got := kd.eachCandidate(p, func(d storage.Document) {
				if p.Matches(d) {
					n++
				}
			})
			assert.Equal(t, tt.source, got)
			assert.Equal(t, tt.matches, n)
		})
	}
}

func TestDistinct(t *testing.T) {
	v := func(ns ...int64) []storage.Value {
		out := make([]storage.Value, len(ns))
		for i, n := range ns {
			out[i] = storage.Int(n)
		}
		return out
	}
	long := make([]int64, 0, 40)
	for i := range 20 {
		long = append(long, int64(i), int64(i))
	}
	wantLong := make([]int64, 20)
	for i := range wantLong {
		wantLong[i] = int64(i)
	}
	tests := []struct {
		name     string
		in, want []storage.Value
	}{
		{"empty", nil, nil},
		{"one", v(1), v(1)},
		{"no repeats", v(3, 1, 2), v(3, 1, 2)},
		{"repeats, first seen order", v(2, 2, 1, 2, 3, 1), v(2, 1, 3)},
		{"long list through a set", v(long...), v(wantLong...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, distinct(tt.in))
		})
	}
}

// A query that sorts by nothing and that no hash set or composite index
// narrows pages through the kind in id order from the cursor (idScan), so
// a sweep of every document costs O(n) in all; the pages hold every
// matching document once, in id order, also when documents are added and
// removed between pages.
func TestUnnarrowedQueryPagesInIDOrder(t *testing.T) {
	ctx := t.Context()
	sc := storage.Schema{Kind: "inc", Fields: []storage.Field{{Name: "state", Type: storage.TypeString}}}
	s := New()
	require.NoError(t, s.Register(ctx, sc))
	put := func(ids ...int) {
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
			for _, i := range ids {
				state := "open"
				if i%3 == 0 {
					state = "closed"
				}
				d := storage.Document{Kind: "inc", ID: fmt.Sprintf("i%04d", i), Version: 1, Fields: []storage.Value{storage.String(state)}}
				if err := tx.Put(ctx, d, 0); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	for i := 0; i < 1000; i += 2 {
		put(i)
	}
	tests := []struct {
		name    string
		filters []storage.Filter
		keep    func(i int) bool
	}{
		{"every document", nil, func(int) bool { return true }},
		{"a range filter only", []storage.Filter{storage.Gt("state", storage.String("d"))}, func(i int) bool { return i%3 != 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := storage.Query{Kind: "inc", Filters: tt.filters, Limit: 37}
			p, err := sc.CheckQuery(q)
			require.NoError(t, err)
			kd := s.tenants[itsm.DefaultTenant].kinds["inc"]
			assert.True(t, kd.idScan(p, func(storage.Document) bool { return false }), "the plan pages in id order")
			var got []string
			added := false
			for {
				page, err := s.Query(ctx, q)
				require.NoError(t, err)
				for _, d := range page.Docs {
					got = append(got, d.ID)
				}
				if !added { // odd ids after the cursor come in, one before it too
					put(1, 501, 503)
					added = true
				}
				if page.Next == "" {
					break
				}
				q.Cursor = page.Next
			}
			var want []string
			for i := range 1000 {
				if (i%2 == 0 || i == 501 || i == 503) && tt.keep(i) {
					want = append(want, fmt.Sprintf("i%04d", i))
				}
			}
			assert.Equal(t, want, got)
			require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { // back as it was
				for _, id := range []string{"i0001", "i0501", "i0503"} {
					if err := tx.Delete(ctx, "inc", id, 1); err != nil {
						return err
					}
				}
				return nil
			}))
		})
	}
	p, err := sc.CheckQuery(storage.Query{Kind: "inc", Filters: []storage.Filter{storage.Eq("state", storage.String("open"))}})
	require.NoError(t, err)
	assert.False(t, s.tenants[itsm.DefaultTenant].kinds["inc"].idScan(p, nil), "a hash set narrows it")
}
