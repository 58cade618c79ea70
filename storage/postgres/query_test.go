package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// queryAll pages through q and returns every document.
func queryAll(t *testing.T, query func(context.Context, storage.Query) (storage.Page, error), q storage.Query) []storage.Document {
	t.Helper()
	var all []storage.Document
	for range 10_000 {
		page, err := query(context.Background(), q)
		require.NoError(t, err)
		all = append(all, page.Docs...)
		if page.Next == "" {
			return all
		}
		q.Cursor = page.Next
	}
	t.Fatal("pagination does not end")
	return nil
}

// reference computes what q selects from docs with the contract's Plan.
func reference(t *testing.T, sc storage.Schema, q storage.Query, docs []storage.Document) []storage.Document {
	t.Helper()
	plan, err := sc.CheckQuery(q)
	require.NoError(t, err)
	var out []storage.Document
	for _, d := range docs {
		if plan.Matches(d) {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b storage.Document) int {
		switch {
		case plan.Less(a, b):
			return -1
		case plan.Less(b, a):
			return 1
		}
		return 0
	})
	return out
}

func docIDs(docs []storage.Document) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.ID
	}
	return out
}

// TestQueryMatchesReference runs filters, orderings and page sizes over
// documents full of ties, strings that sort differently under a linguistic
// collation, and extreme values, and compares every answer with the
// contract's reference semantics.
func TestQueryMatchesReference(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	sc := ticketSchema("ticket")
	require.NoError(t, s.Register(ctx, sc))
	r := rand.New(rand.NewPCG(1, 2))
	groups := []string{"a", "B", "b", "ä", "Z", "a b", "a-b", "", "ab", "zz", "日本", "~"}
	states := []string{"new", "open", "closed"}
	prios := []int64{-1 << 62, -1, 0, 1, 2, 3, 1 << 62}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var docs []storage.Document
	for i := range 600 {
		docs = append(docs, ticket("ticket", fmt.Sprintf("id%04d", r.IntN(100000)*10+i%10), 1,
			groups[r.IntN(len(groups))], states[r.IntN(len(states))], prios[r.IntN(len(prios))],
			base.Add(time.Duration(r.IntN(20))*time.Hour)))
	}
	slices.SortFunc(docs, func(a, b storage.Document) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	docs = slices.CompactFunc(docs, func(a, b storage.Document) bool { return a.ID == b.ID })
	for chunk := range slices.Chunk(docs, 100) {
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
			for _, d := range chunk {
				if err := tx.Put(ctx, d, 0); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	str, num, tm := storage.String, storage.Int, storage.Time
	cases := []struct {
		name string
		q    storage.Query
	}{
		{"all by id", storage.Query{}},
		{"eq string", storage.Query{Filters: []storage.Filter{storage.Eq("grp", str("a"))}}},
		{"eq empty string", storage.Query{Filters: []storage.Filter{storage.Eq("grp", str(""))}}},
		{"in strings", storage.Query{Filters: []storage.Filter{storage.In("grp", str("B"), str("b"), str("ä"), str("nope"))}}},
		{"in ints", storage.Query{Filters: []storage.Filter{storage.In("prio", num(-1), num(1<<62), num(2))}}},
		{"string range", storage.Query{Filters: []storage.Filter{storage.Gt("grp", str("B")), storage.Lte("grp", str("ab"))}}},
		{"time range", storage.Query{Filters: []storage.Filter{storage.Gte("opened", tm(base.Add(3*time.Hour))), storage.Lt("opened", tm(base.Add(9*time.Hour)))}}},
		{"sort string asc", storage.Query{Sort: []storage.Sort{{Field: "grp"}}}},
		{"sort string desc", storage.Query{Sort: []storage.Sort{{Field: "grp", Desc: true}}}},
		{"sort int desc filtered", storage.Query{Filters: []storage.Filter{storage.Eq("state", str("open"))}, Sort: []storage.Sort{{Field: "prio", Desc: true}}}},
		{"queue asc", storage.Query{Filters: []storage.Filter{storage.Eq("grp", str("a")), storage.Eq("state", str("new"))},
			Sort: []storage.Sort{{Field: "prio"}, {Field: "opened"}}}},
		{"queue mixed", storage.Query{Filters: []storage.Filter{storage.Eq("grp", str("b")), storage.In("state", str("new"), str("open"))},
			Sort: []storage.Sort{{Field: "prio", Desc: true}, {Field: "opened"}}}},
		{"queue both desc", storage.Query{Sort: []storage.Sort{{Field: "prio", Desc: true}, {Field: "opened", Desc: true}}}},
		{"full index order", storage.Query{Sort: []storage.Sort{{Field: "grp"}, {Field: "state", Desc: true}, {Field: "prio"}, {Field: "opened", Desc: true}}}},
		{"suffix of index", storage.Query{Filters: []storage.Filter{storage.Gte("prio", num(0))}, Sort: []storage.Sort{{Field: "state"}, {Field: "prio"}, {Field: "opened"}}}},
		{"nothing", storage.Query{Filters: []storage.Filter{storage.Eq("grp", str("none"))}}},
	}
	for _, c := range cases {
		for _, limit := range []int{1, 7, 50, 1000} {
			t.Run(fmt.Sprintf("%s/limit%d", c.name, limit), func(t *testing.T) {
				q := c.q
				q.Kind, q.Limit = "ticket", limit
				want := reference(t, sc, q, docs)
				got := queryAll(t, s.Query, q)
				require.Equal(t, docIDs(want), docIDs(got))
				for i := range want {
					require.Equal(t, want[i], got[i])
				}
				// The same query inside a unit of work.
				require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
					require.Equal(t, docIDs(want), docIDs(queryAll(t, tx.Query, q)))
					return nil
				}))
			})
		}
	}
}

// TestPaginationStableUnderInserts inserts documents before and after the
// cursor between pages: pages neither repeat nor skip the documents that
// were there from the start.
func TestPaginationStableUnderInserts(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	sc := ticketSchema("ticket")
	require.NoError(t, s.Register(ctx, sc))
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var docs []storage.Document
	for i := range 100 {
		docs = append(docs, ticket("ticket", fmt.Sprintf("d%03d", i), 1, "g", "new", int64(i%5), base.Add(time.Duration(i)*time.Minute)))
	}
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		for _, d := range docs {
			if err := tx.Put(ctx, d, 0); err != nil {
				return err
			}
		}
		return nil
	}))
	q := storage.Query{Kind: "ticket", Filters: []storage.Filter{storage.Eq("grp", storage.String("g")), storage.Eq("state", storage.String("new"))},
		Sort: []storage.Sort{{Field: "prio", Desc: true}, {Field: "opened"}}, Limit: 9}
	want := docIDs(reference(t, sc, q, docs))
	var got []string
	for i := 0; ; i++ {
		page, err := s.Query(ctx, q)
		require.NoError(t, err)
		got = append(got, docIDs(page.Docs)...)
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
			return tx.Put(ctx, ticket("ticket", fmt.Sprintf("x%03d", i), 1, "g", "other", int64(i%5), base), 0)
		}))
	}
	require.Equal(t, want, got)
}

func TestQueryRefusals(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	require.NoError(t, s.Register(ctx, ticketSchema("ticket")))
	cases := map[string]storage.Query{
		"unregistered kind": {Kind: "nope"},
		"undeclared field":  {Kind: "ticket", Filters: []storage.Filter{storage.Eq("title", storage.String("x"))}},
		"injected field":    {Kind: "ticket", Filters: []storage.Filter{storage.Eq(`grp" = grp OR 1=1 --`, storage.String("x"))}},
		"wrong type":        {Kind: "ticket", Filters: []storage.Filter{storage.Eq("prio", storage.String("1 OR 1=1"))}},
		"undeclared order":  {Kind: "ticket", Sort: []storage.Sort{{Field: "opened"}, {Field: "grp"}}},
		"bad cursor":        {Kind: "ticket", Cursor: "'; DROP TABLE ticket; --"},
		"limit too large":   {Kind: "ticket", Limit: storage.MaxLimit + 1},
	}
	for what, q := range cases {
		_, err := s.Query(ctx, q)
		require.ErrorIs(t, err, itsm.ErrInvalid, what)
	}
}
