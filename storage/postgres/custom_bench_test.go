package postgres

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/internal/custombench"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// BenchmarkCustomFieldPage reads pages of 50 requests of one region (an
// indexed custom enum) ordered by cost (an indexed custom decimal), the
// first page and the next through the cursor, for random regions, over
// 1,000,000 requests with PILLARS_SCALE=1 (50,000 otherwise), through the
// store (role, tenant setting and row-level security included), and reports
// p50/p95 latency. It asserts the plan, never the timings: the dictionary's
// composite index region_cost, its first condition the tenant, no sort.
//
//	PILLARS_SCALE=1 go test -run '^$' -bench CustomFieldPage ./storage/postgres
func BenchmarkCustomFieldPage(b *testing.B) {
	testDSN(b)
	n := 50_000
	if os.Getenv("PILLARS_SCALE") == "1" {
		n = 1_000_000
	}
	ctx := context.Background()
	sch, dict, err := custombench.Schema()
	require.NoError(b, err)
	regions := custombench.Regions()
	s := newTestStore(b)
	require.NoError(b, s.Register(ctx, sch))
	start := time.Now()
	r := rand.New(rand.NewPCG(3, 4))
	const batch = 20_000
	docs := make([]storage.Document, 0, batch)
	for i := range n {
		docs = append(docs, custombench.Doc(r, regions, i, time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)))
		if len(docs) == batch || i == n-1 {
			require.NoError(b, s.Import(ctx, docs, nil))
			docs = docs[:0]
		}
	}
	_, err = s.pool.Exec(ctx, "ANALYZE "+s.ns+".request")
	require.NoError(b, err)
	b.Logf("filled %d requests in %s", n, time.Since(start).Round(time.Millisecond))

	page := func(r *rand.Rand) storage.Query {
		region, err := dict.Value("request", "region", regions[r.IntN(len(regions))])
		require.NoError(b, err)
		return storage.Query{Kind: "request", Limit: 50, Filters: []storage.Filter{storage.Eq("region", region)},
			Sort: []storage.Sort{{Field: "cost"}}}
	}
	q := page(rand.New(rand.NewPCG(1, 1)))
	first, err := s.Query(ctx, q)
	require.NoError(b, err)
	require.Len(b, first.Docs, 50)
	require.NotEmpty(b, first.Next)
	index := indexName("request", "tenant index", []string{"region", "cost"})
	for _, c := range []string{"", first.Next} {
		q.Cursor = c
		plan := explainFor(b, s, itsm.DefaultTenant, q)
		b.Logf("plan (cursor %v):\n%s", c != "", plan)
		require.Regexp(b, `Index Scan( Backward)? using `+strings.Trim(quoteIdent(index), `"`), plan, "the custom composite index")
		require.Regexp(b, `Index Cond: \(+tenant = `, plan)
		require.NotContains(b, plan, "Seq Scan")
		require.NotContains(b, plan, "Sort", "the index gives the order")
	}

	for _, which := range []string{"first", "second"} {
		b.Run(which, func(b *testing.B) {
			r := rand.New(rand.NewPCG(5, 6))
			var ds []time.Duration
			for b.Loop() {
				q := page(r)
				if which == "second" {
					b.StopTimer()
					p, err := s.Query(ctx, q)
					require.NoError(b, err)
					q.Cursor = p.Next
					b.StartTimer()
				}
				start := time.Now()
				p, err := s.Query(ctx, q)
				ds = append(ds, time.Since(start))
				require.NoError(b, err)
				require.Len(b, p.Docs, 50, "every region holds more than two pages")
			}
			slices.Sort(ds)
			b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(ds[len(ds)*95/100].Microseconds())/1000, "p95_ms")
		})
	}
}
