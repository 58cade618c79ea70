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
	plan, err := ki.schema.CheckQueryFor(tenant, q)
	require.NoError(t, err)
	sql, args := buildQuery(ki, plan)
	rows, err := s.query(context.Background(), s.pool, tenant, "EXPLAIN "+sql, args...)
	require.NoError(t, err)
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return strings.Join(lines, "\n")
}

// fillTickets imports n tickets spread over 20 groups and 3 states, in the
// default tenant or, with tenants, ticket i in tenants[i%len(tenants)].
func fillTickets(t testing.TB, s *Store, n int, tenants ...string) {
	t.Helper()
	ctx := context.Background()
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	states := []string{"new", "open", "closed"}
	if len(tenants) == 0 {
		tenants = []string{itsm.DefaultTenant}
	}
	const batch = 20_000
	for start := 0; start < n; start += batch {
		docs := make([][]storage.Document, len(tenants))
		for i := start; i < min(n, start+batch); i++ {
			k, j := i%len(tenants), i/len(tenants) // the j-th ticket of tenant k
			docs[k] = append(docs[k], ticket("ticket", fmt.Sprintf("t%08d", i), 1, fmt.Sprintf("group%02d", j%20), states[(j/20)%3],
				int64(j%5), base.Add(time.Duration(i*7919%n)*time.Second)))
		}
		for k, tenant := range tenants {
			if len(docs[k]) > 0 {
				require.NoError(t, s.Import(itsm.WithTenant(ctx, tenant), docs[k], nil))
			}
		}
	}
	_, err := s.pool.Exec(ctx, "ANALYZE "+s.ns+".ticket")
	require.NoError(t, err)
}

// tenantNames returns n tenant ids.
func tenantNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("tenant%03d", i)
	}
	return out
}

// TestQueriesUseIndexes checks the plans of the query shapes the contract
// allows on a table large enough for the planner to care, holding three
// tenants, as one of them runs them (row-level security included): every
// one reads an index whose condition starts with the tenant, none scans
// the table.
func TestQueriesUseIndexes(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a table; skipped in -short")
	}
	s := newTestStore(t)
	require.NoError(t, s.Register(context.Background(), ticketSchema("ticket")))
	fillTickets(t, s, 60_000, itsm.DefaultTenant, "acme", "globex")
	const tenant = "acme"
	ctx := itsm.WithTenant(context.Background(), tenant)
	str := storage.String
	queue := storage.Query{Kind: "ticket", Filters: []storage.Filter{storage.Eq("grp", str("group07")), storage.Eq("state", str("open"))},
		Sort: []storage.Sort{{Field: "prio"}, {Field: "opened"}}, Limit: 50}
	first, err := s.Query(ctx, queue)
	require.NoError(t, err)
	require.NotEmpty(t, first.Next)
	second := queue
	second.Cursor = first.Next
	mixed := queue
	mixed.Sort = []storage.Sort{{Field: "prio", Desc: true}, {Field: "opened"}}
	mixedFirst, err := s.Query(ctx, mixed)
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
		plan := explainFor(t, s, tenant, q)
		t.Logf("%s:\n%s", what, plan)
		require.Regexp(t, `Index Cond: \(+tenant = 'acme'`, plan, what)
		require.NotContains(t, plan, "Seq Scan", what)
	}
}
