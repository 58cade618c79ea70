package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// explain returns the plan PostgreSQL picks for the SQL the store runs for
// q, with its parameters, scoped to the default tenant as the store scopes
// it (role and row-level security included).
func explain(t testing.TB, s *Store, q storage.Query) string {
	t.Helper()
	return explainFor(t, s, itsm.DefaultTenant, q)
}

func explainFor(t testing.TB, s *Store, tenant string, q storage.Query) string {
	t.Helper()
	ki, err := s.kind(q.Kind)
	require.NoError(t, err)
	plan, err := ki.schema.CheckQuery(q)
	require.NoError(t, err)
	sql, args := buildQuery(ki, tenant, plan)
	rows, err := s.query(context.Background(), s.pool, tenant, "EXPLAIN "+sql, args...)
	require.NoError(t, err)
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return strings.Join(lines, "\n")
}

// fillTickets imports n tickets spread over 20 groups and 3 states.
func fillTickets(t testing.TB, s *Store, n int) {
	t.Helper()
	ctx := context.Background()
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	states := []string{"new", "open", "closed"}
	const batch = 20_000
	for start := 0; start < n; start += batch {
		var docs []storage.Document
		for i := start; i < min(n, start+batch); i++ {
			docs = append(docs, ticket("ticket", fmt.Sprintf("t%08d", i), 1, fmt.Sprintf("group%02d", i%20), states[(i/20)%3],
				int64(i%5), base.Add(time.Duration(i*7919%n)*time.Second)))
		}
		require.NoError(t, s.Import(ctx, docs, nil))
	}
	_, err := s.pool.Exec(ctx, "ANALYZE "+s.ns+".ticket")
	require.NoError(t, err)
}

// TestQueriesUseIndexes checks the plans of the query shapes the contract
// allows on a table large enough for the planner to care: every one reads an
// index, none scans the table.
func TestQueriesUseIndexes(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a table; skipped in -short")
	}
	s := newTestStore(t)
	require.NoError(t, s.Register(context.Background(), ticketSchema("ticket")))
	fillTickets(t, s, 30_000)
	str := storage.String
	queue := storage.Query{Kind: "ticket", Filters: []storage.Filter{storage.Eq("grp", str("group07")), storage.Eq("state", str("open"))},
		Sort: []storage.Sort{{Field: "prio"}, {Field: "opened"}}, Limit: 50}
	first, err := s.Query(context.Background(), queue)
	require.NoError(t, err)
	require.NotEmpty(t, first.Next)
	second := queue
	second.Cursor = first.Next
	mixed := queue
	mixed.Sort = []storage.Sort{{Field: "prio", Desc: true}, {Field: "opened"}}
	mixedFirst, err := s.Query(context.Background(), mixed)
	require.NoError(t, err)
	mixedSecond := mixed
	mixedSecond.Cursor = mixedFirst.Next
	cases := map[string]storage.Query{
		"queue first page":        queue,
		"queue next page":         second,
		"queue mixed directions":  mixed,
		"queue mixed next page":   mixedSecond,
		"single field order":      {Kind: "ticket", Sort: []storage.Sort{{Field: "opened", Desc: true}}, Limit: 50},
		"by id":                   {Kind: "ticket", Limit: 50},
		"in filter":               {Kind: "ticket", Filters: []storage.Filter{storage.In("grp", str("group01"), str("group02"))}, Limit: 50},
		"time range":              {Kind: "ticket", Filters: []storage.Filter{storage.Gte("opened", storage.Time(time.Date(2024, 1, 1, 2, 0, 0, 0, time.UTC)))}, Sort: []storage.Sort{{Field: "opened"}}, Limit: 50},
		"index suffix with range": {Kind: "ticket", Filters: []storage.Filter{storage.Eq("prio", storage.Int(3))}, Sort: []storage.Sort{{Field: "opened"}}, Limit: 50},
	}
	for what, q := range cases {
		plan := explain(t, s, q)
		t.Logf("%s:\n%s", what, plan)
		require.Contains(t, plan, "Index", what)
		require.NotContains(t, plan, "Seq Scan", what)
	}
}
