package sqlite

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// seedTickets writes n random tickets with ids t0000.. and returns them.
func seedTickets(t testing.TB, s *Store, n int, seed uint64) []storage.Document {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	grps := []string{"net", "db", "desk", "Net", "é", ""}
	states := []string{"new", "work", "hold", "done"}
	docs := make([]storage.Document, n)
	for i := range docs {
		docs[i] = ticket(fmt.Sprintf("t%04d", i), 1, grps[r.IntN(len(grps))], states[r.IntN(len(states))],
			int64(r.IntN(5)-1), t0.Add(time.Duration(r.IntN(50))*time.Hour))
	}
	r.Shuffle(len(docs), func(i, j int) { docs[i], docs[j] = docs[j], docs[i] })
	require.NoError(t, s.Import(t.Context(), docs, nil))
	return docs
}

// referenceQuery computes what q must return, with the contract's Plan.
func referenceQuery(t testing.TB, q storage.Query, all []storage.Document) []string {
	t.Helper()
	plan, err := ticketSchema.CheckQuery(q)
	require.NoError(t, err)
	var out []storage.Document
	for _, d := range all {
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
	ids := make([]string, len(out))
	for i, d := range out {
		ids[i] = d.ID
	}
	return ids
}

// pageAll follows the cursors of q to the end.
func pageAll(t testing.TB, s *Store, q storage.Query) []string {
	t.Helper()
	ids := []string{}
	for range 10000 {
		page, err := s.Query(t.Context(), q)
		require.NoError(t, err)
		for _, d := range page.Docs {
			ids = append(ids, d.ID)
		}
		if page.Next == "" {
			return ids
		}
		q.Cursor = page.Next
	}
	t.Fatal("pagination does not end")
	return nil
}

func TestQueryMatchesReference(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	require.NoError(t, s.Register(ctx, ticketSchema))
	n, limits := 600, []int{1, 7, 50, 1000}
	if raceEnabled || testing.Short() {
		n, limits = 150, []int{4, 50}
	}
	all := seedTickets(t, s, n, 7)

	str, in := storage.String, storage.In
	asc := func(f string) storage.Sort { return storage.Sort{Field: f} }
	desc := func(f string) storage.Sort { return storage.Sort{Field: f, Desc: true} }
	tests := []struct {
		name    string
		filters []storage.Filter
		sort    []storage.Sort
	}{
		{"all by id", nil, nil},
		{"eq", []storage.Filter{storage.Eq("grp", str("net"))}, nil},
		{"eq case and bytes", []storage.Filter{storage.Eq("grp", str("Net"))}, []storage.Sort{asc("state")}},
		{"in", []storage.Filter{in("state", str("new"), str("hold"))}, []storage.Sort{desc("opened")}},
		{"range int", []storage.Filter{storage.Gte("prio", storage.Int(0)), storage.Lt("prio", storage.Int(3))}, []storage.Sort{asc("prio")}},
		{"range time", []storage.Filter{storage.Gt("opened", storage.Time(t0.Add(10*time.Hour))), storage.Lte("opened", storage.Time(t0.Add(30*time.Hour)))}, []storage.Sort{desc("opened")}},
		{"range string", []storage.Filter{storage.Gt("grp", str("Net")), storage.Lte("grp", str("net"))}, []storage.Sort{asc("grp")}},
		{"queue asc", []storage.Filter{storage.Eq("grp", str("net")), storage.Eq("state", str("new"))}, []storage.Sort{asc("prio"), asc("opened")}},
		{"queue mixed", []storage.Filter{storage.Eq("grp", str("db")), storage.Eq("state", str("work"))}, []storage.Sort{desc("prio"), asc("opened")}},
		{"queue both desc", []storage.Filter{storage.Eq("grp", str("desk"))}, []storage.Sort{desc("state"), desc("prio"), desc("opened")}},
		{"queue asc desc", nil, []storage.Sort{asc("state"), desc("prio"), asc("opened")}},
		{"whole index", nil, []storage.Sort{asc("grp"), desc("state"), asc("prio"), desc("opened")}},
		{"empty result", []storage.Filter{storage.Eq("grp", str("nobody"))}, []storage.Sort{desc("prio"), asc("opened")}},
	}
	for _, tt := range tests {
		for _, limit := range limits {
			t.Run(fmt.Sprintf("%s/limit %d", tt.name, limit), func(t *testing.T) {
				q := storage.Query{Kind: "ticket", Filters: tt.filters, Sort: tt.sort, Limit: limit}
				want := referenceQuery(t, q, all)
				got := pageAll(t, s, q)
				require.Equal(t, want, got)
				if limit == 50 { // Tx.Query goes through the unit's transaction
					require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
						page, err := tx.Query(ctx, q)
						require.NoError(t, err)
						require.Equal(t, want[:min(len(want), 50)], idsOf(page.Docs))
						return nil
					}))
				}
			})
		}
	}

	t.Run("documents decode", func(t *testing.T) {
		page, err := s.Query(ctx, storage.Query{Kind: "ticket", Limit: 1000})
		require.NoError(t, err)
		byID := map[string]storage.Document{}
		for _, d := range all {
			byID[d.ID] = d
		}
		require.Len(t, page.Docs, n)
		for _, d := range page.Docs {
			assert.Equal(t, byID[d.ID], d)
		}
	})
}

func idsOf(docs []storage.Document) []string {
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	return ids
}

// TestCursorStableUnderInserts: documents inserted before the cursor are not
// seen, after it are, and no document repeats.
func TestCursorStableUnderInserts(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	require.NoError(t, s.Register(ctx, ticketSchema))
	for i := range 20 {
		put(t, s, ticket(fmt.Sprintf("b%02d", i), 1, "g", "new", int64(i%4), t0), 0)
	}
	q := storage.Query{Kind: "ticket", Sort: []storage.Sort{{Field: "prio", Desc: true}}, Limit: 5}
	page, err := s.Query(ctx, q)
	require.NoError(t, err)
	seen := idsOf(page.Docs)
	put(t, s, ticket("a-before", 1, "g", "new", 3, t0), 0) // sorts before the cursor
	put(t, s, ticket("z-after", 1, "g", "new", 0, t0), 0)  // after it
	q.Cursor = page.Next
	rest := pageAll(t, s, q)
	assert.NotContains(t, rest, "a-before")
	assert.Contains(t, rest, "z-after")
	all := append(seen, rest...)
	slices.Sort(all)
	assert.Len(t, slices.Compact(all), 21)
}

func TestQueryRefusals(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	require.NoError(t, s.Register(ctx, ticketSchema))
	for _, q := range []storage.Query{
		{Kind: "nope"},
		{Kind: "ticket", Filters: []storage.Filter{storage.Eq("undeclared", storage.String("x"))}},
		{Kind: "ticket", Filters: []storage.Filter{storage.Eq("prio", storage.String("1"))}},
		{Kind: "ticket", Sort: []storage.Sort{{Field: "prio"}, {Field: "grp"}}},
		{Kind: "ticket", Limit: storage.MaxLimit + 1},
		{Kind: "ticket", Cursor: "garbage"},
	} {
		_, err := s.Query(ctx, q)
		require.ErrorIs(t, err, itsm.ErrInvalid, "%+v", q)
	}
}

// TestSQLInjection: values are parameters and names are validated and
// quoted, so nothing a caller passes runs as SQL.
func TestSQLInjection(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	require.NoError(t, s.Register(ctx, ticketSchema))
	evil := []string{
		`'; DROP TABLE pillars_doc_ticket; --`,
		`" OR 1=1 --`,
		`x' OR '1'='1`,
		`) UNION SELECT name, 1, NULL, name, name, 1, 1 FROM sqlite_schema --`,
		`back\slash ' " ; -- /*`,
	}
	for i, v := range evil {
		put(t, s, ticket(fmt.Sprintf("e%d", i), 1, v, v, 1, t0), 0)
	}
	put(t, s, ticket("plain", 1, "net", "new", 1, t0), 0)
	for i, v := range evil {
		page, err := s.Query(ctx, storage.Query{Kind: "ticket", Filters: []storage.Filter{storage.Eq("grp", storage.String(v))}})
		require.NoError(t, err)
		require.Equal(t, []string{fmt.Sprintf("e%d", i)}, idsOf(page.Docs), "value %q matches itself only", v)
		assert.Equal(t, v, page.Docs[0].Fields[0].Str(), "stored byte for byte")
		d, err := s.Get(ctx, "ticket", v)
		require.ErrorIs(t, err, itsm.ErrNotFound, "id %q", v)
		_ = d
	}
	for _, name := range evil {
		_, err := s.Query(ctx, storage.Query{Kind: "ticket", Filters: []storage.Filter{storage.Eq(name, storage.String("x"))}})
		require.ErrorIs(t, err, itsm.ErrInvalid)
		_, err = s.Query(ctx, storage.Query{Kind: name})
		require.ErrorIs(t, err, itsm.ErrInvalid)
		_, err = s.Query(ctx, storage.Query{Kind: "ticket", Sort: []storage.Sort{{Field: name}}})
		require.ErrorIs(t, err, itsm.ErrInvalid)
		_, err = s.Get(ctx, name, "x")
		require.ErrorIs(t, err, itsm.ErrInvalid)
		err = s.Update(ctx, func(tx storage.Tx) error { _, err := tx.NextSequence(ctx, name); return err })
		require.ErrorIs(t, err, itsm.ErrInvalid)
	}
	page, err := s.Query(ctx, storage.Query{Kind: "ticket", Limit: 1000})
	require.NoError(t, err)
	assert.Len(t, page.Docs, len(evil)+1, "the table is intact")
}

// explain returns SQLite's query plan for q, one line per step.
func explain(t testing.TB, s *Store, q storage.Query) string {
	t.Helper()
	k, err := s.lookup(t.Context(), q.Kind)
	require.NoError(t, err)
	plan, err := k.schema.CheckQuery(q)
	require.NoError(t, err)
	text, args := buildQuery(k, itsm.DefaultTenant, plan)
	rows, err := s.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+text, args...)
	require.NoError(t, err)
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
		lines = append(lines, detail)
	}
	require.NoError(t, rows.Err())
	return strings.Join(lines, "\n")
}

// TestQueryPlanUsesIndex: queries seek an index; none scans the table.
func TestQueryPlanUsesIndex(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	require.NoError(t, s.Register(ctx, ticketSchema))
	all := seedTickets(t, s, 300, 3)
	_, err := s.w.ExecContext(ctx, "ANALYZE")
	require.NoError(t, err)

	first := storage.Query{Kind: "ticket", Limit: 50,
		Filters: []storage.Filter{storage.Eq("grp", storage.String("net")), storage.Eq("state", storage.String("new"))},
		Sort:    []storage.Sort{{Field: "prio"}, {Field: "opened"}}}
	page, err := s.Query(ctx, storage.Query{Kind: first.Kind, Filters: first.Filters, Sort: first.Sort, Limit: 2})
	require.NoError(t, err)
	require.NotEmpty(t, page.Next)
	second := first
	second.Limit = 2
	second.Cursor = page.Next
	mixed := first
	mixed.Sort = []storage.Sort{{Field: "prio", Desc: true}, {Field: "opened"}}
	_ = all
	tests := []struct {
		name  string
		q     storage.Query
		index string
	}{
		{"queue first page", first, "pillars_doc_ticket__i_queue"},
		{"queue next page", second, "pillars_doc_ticket__i_queue"},
		{"queue mixed directions", mixed, "pillars_doc_ticket__i_queue"},
		{"single field", storage.Query{Kind: "ticket", Sort: []storage.Sort{{Field: "opened", Desc: true}}}, "pillars_doc_ticket__f_opened"},
		{"by id", storage.Query{Kind: "ticket"}, "sqlite_autoindex_pillars_doc_ticket_1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := explain(t, s, tt.q)
			t.Logf("%s", plan)
			assert.Contains(t, plan, "INDEX "+tt.index)
			assert.NotRegexp(t, `SCAN pillars_doc_ticket$|SCAN pillars_doc_ticket\n`, plan, "no full table scan")
		})
	}
}

// TestReadStatementCacheEviction: more query shapes than the cache holds,
// run concurrently, never close a statement under a running query.
func TestReadStatementCacheEviction(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	require.NoError(t, s.Register(ctx, ticketSchema))
	seedTickets(t, s, 50, 9)
	s.maxReads = 8 // evict often
	shapes := 60
	if raceEnabled {
		shapes = 20
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for n := 1; n <= shapes; n++ {
				vals := make([]storage.Value, 0, n)
				for i := range n {
					vals = append(vals, storage.Int(int64((i+w)%5-1)))
				}
				_, err := s.Query(ctx, storage.Query{Kind: "ticket", Filters: []storage.Filter{storage.In("prio", vals...)}})
				if !assert.NoError(t, err) {
					return
				}
			}
		})
	}
	wg.Wait()
}
