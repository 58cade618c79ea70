package memory

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// TestOrderedIndexServesQueuesExactly pages through queries that a declared
// index serves (Eq prefix, ascending sort, range bounds, cursor) and checks
// each against a brute-force answer, with writes between pages.
func TestOrderedIndexServesQueuesExactly(t *testing.T) {
	ctx := context.Background()
	s := New()
	sc := storage.Schema{Kind: "clock",
		Fields:  []storage.Field{{Name: "stage", Type: storage.TypeString}, {Name: "due", Type: storage.TypeInt}, {Name: "grp", Type: storage.TypeString}},
		Indexes: []storage.Index{{Name: "by_stage_due", Fields: []string{"stage", "due"}}, {Name: "by_stage_grp_due", Fields: []string{"stage", "grp", "due"}}}}
	require.NoError(t, s.Register(ctx, sc))
	rng := rand.New(rand.NewPCG(1, 2))
	versions := map[string]int64{}
	write := func(id string) {
		d := storage.Document{Kind: "clock", ID: id, Version: versions[id] + 1, Fields: []storage.Value{
			storage.String([]string{"running", "paused", "done"}[rng.IntN(3)]), storage.Int(rng.Int64N(200)), storage.String([]string{"a", "b"}[rng.IntN(2)])}}
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, d, versions[id]) }))
		versions[id]++
	}
	for i := range 2000 {
		write(fmt.Sprintf("c%04d", i))
	}
	queries := []storage.Query{
		{Kind: "clock", Filters: []storage.Filter{storage.Eq("stage", storage.String("running"))}, Sort: []storage.Sort{{Field: "due"}}, Limit: 7},
		{Kind: "clock", Filters: []storage.Filter{storage.Eq("stage", storage.String("running")), storage.Gte("due", storage.Int(50)), storage.Lt("due", storage.Int(120))}, Sort: []storage.Sort{{Field: "due"}}, Limit: 9},
		{Kind: "clock", Filters: []storage.Filter{storage.In("stage", storage.String("paused")), storage.Gt("due", storage.Int(190))}, Sort: []storage.Sort{{Field: "due"}}, Limit: 3},
		{Kind: "clock", Filters: []storage.Filter{storage.Eq("stage", storage.String("done")), storage.Eq("grp", storage.String("b"))}, Sort: []storage.Sort{{Field: "grp"}, {Field: "due"}}, Limit: 11},
	}
	for qi, q := range queries {
		t.Run(fmt.Sprint(qi), func(t *testing.T) {
			var got []string
			var last storage.Document
			for page := 0; ; page++ {
				p, err := s.Query(ctx, q)
				require.NoError(t, err)
				for _, d := range p.Docs {
					got = append(got, d.ID)
					last = d
				}
				if p.Next == "" {
					break
				}
				q.Cursor = p.Next
				if page%5 == 0 {
					write(fmt.Sprintf("n%d-%d", qi, page)) // a new document between pages
				}
			}
			// Brute force over the final state: everything matching, in
			// order. Documents inserted before the cursor may be missing from
			// the pages, so compare the pages with the reference restricted
			// to what they could have seen: the reference must contain the
			// pages in order, and every reference document up to the last
			// one seen that existed from the start must be in the pages.
			q.Cursor = ""
			plan, err := sc.CheckQuery(q)
			require.NoError(t, err)
			assert.True(t, s.tenants[itsm.DefaultTenant].kinds["clock"].orderedScan(plan, func(storage.Document) bool { return false }),
				"a declared index serves this query")
			var all []storage.Document
			s.mu.RLock()
			for _, d := range s.tenants[itsm.DefaultTenant].kinds["clock"].docs {
				if plan.Matches(d) {
					all = append(all, d)
				}
			}
			s.mu.RUnlock()
			slices.SortFunc(all, func(a, b storage.Document) int {
				if plan.Less(a, b) {
					return -1
				}
				return 1
			})
			var want []string
			for _, d := range all {
				if len(got) > 0 && plan.Less(last, d) {
					break
				}
				if d.ID[0] == 'c' || slices.Contains(got, d.ID) {
					want = append(want, d.ID)
				}
			}
			assert.Equal(t, want, got)
			assert.NotEmpty(t, got)
		})
	}
}

func TestOrderedIndexDeclinesWhatItCannotServe(t *testing.T) {
	sc := storage.Schema{Kind: "clock",
		Fields:  []storage.Field{{Name: "stage", Type: storage.TypeString}, {Name: "due", Type: storage.TypeInt}},
		Indexes: []storage.Index{{Name: "by_stage_due", Fields: []string{"stage", "due"}}}}
	s := New()
	require.NoError(t, s.Register(context.Background(), sc))
	for _, q := range []storage.Query{
		{Kind: "clock", Sort: []storage.Sort{{Field: "due"}}}, // prefix not fixed
		{Kind: "clock", Filters: []storage.Filter{storage.Eq("stage", storage.String("x"))}, Sort: []storage.Sort{{Field: "due", Desc: true}}}, // descending
		{Kind: "clock", Filters: []storage.Filter{storage.In("stage", storage.String("x"), storage.String("y"))}, Sort: []storage.Sort{{Field: "due"}}},
		{Kind: "clock", Filters: []storage.Filter{storage.Eq("stage", storage.String("x"))}}, // no sort
	} {
		plan, err := sc.CheckQuery(q)
		require.NoError(t, err)
		assert.False(t, s.empty["clock"].orderedScan(plan, func(storage.Document) bool { return true }))
	}
}
