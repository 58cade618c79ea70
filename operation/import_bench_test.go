package operation_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// BenchmarkImportVsBulk imports incidents with six history rows each
// (seven events) through Desk.Import, and writes the very documents and
// events that import produced with storage.Import, on each store: the
// lifecycle's share of an import is the ratio of the two rates
// ("ratio", at least 0.5 by the target). Each round writes to a tenant
// of its own, so numbers never collide and the store grows as a real
// migration's does. Both rates are reported as wall time and as the
// process's CPU time ("cpu-" metrics).
func BenchmarkImportVsBulk(b *testing.B) {
	stores := []struct {
		name string
		open func(testing.TB) storage.Backend
	}{
		{"memory", func(testing.TB) storage.Backend { return memory.New() }},
		{"sqlite", func(tb testing.TB) storage.Backend { return benchSQLite(tb) }},
		{"postgres", func(tb testing.TB) storage.Backend {
			st, _ := benchPostgres(tb.(*testing.B))
			return st
		}},
	}
	const batch = 1000
	for _, s := range stores {
		b.Run(s.name, func(b *testing.B) {
			f := fixtureOn(b, s.open(b))
			f.clock.Set(t0.Add(10 * 365 * 24 * time.Hour))
			scratch := newFixtureOn(b, memory.New())
			scratch.clock.Set(f.clock.Now())
			var fold, bulk, foldCPU, bulkCPU time.Duration
			events, round := 0, 0
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				round++
				incs := importBatch(batch, t0)
				sctx := itsm.WithTenant(as(migrate), fmt.Sprintf("b%d", round))
				if _, err := scratch.desk.Import(sctx, incs, operation.ImportOptions{States: jiraStates}); err != nil {
					b.Fatal(err)
				}
				docs, evs := tenantRows(b, scratch.store, sctx)
				b.StartTimer()
				start, cpu := time.Now(), cpuTime()
				rep, err := f.desk.Import(itsm.WithTenant(as(migrate), fmt.Sprintf("l%d", round)), incs, operation.ImportOptions{States: jiraStates})
				fold, foldCPU = fold+time.Since(start), foldCPU+cpuTime()-cpu
				if err != nil || len(rep.Errors) > 0 || rep.Events != len(evs) {
					b.Fatal(err, rep.Err(), rep.Events, len(evs))
				}
				start, cpu = time.Now(), cpuTime()
				if err := storage.Import(itsm.WithTenant(context.Background(), fmt.Sprintf("b%d", round)), f.store, docs, evs); err != nil {
					b.Fatal(err)
				}
				bulk, bulkCPU = bulk+time.Since(start), bulkCPU+cpuTime()-cpu
				events += len(evs)
			}
			b.ReportMetric(float64(events)/fold.Seconds(), "events/s")
			b.ReportMetric(float64(events)/bulk.Seconds(), "bulk-events/s")
			b.ReportMetric(bulk.Seconds()/fold.Seconds(), "ratio")
			// CPU time says more than wall time on a loaded machine (and
			// less where commits wait for the disk or the network).
			b.ReportMetric(float64(events)/foldCPU.Seconds(), "cpu-events/s")
			b.ReportMetric(float64(events)/bulkCPU.Seconds(), "cpu-bulk-events/s")
		})
	}
}

// tenantRows reads the incidents and events of ctx's tenant.
func tenantRows(tb testing.TB, st storage.Backend, ctx context.Context) ([]storage.Document, []itsm.Event) {
	tb.Helper()
	var docs []storage.Document
	q := storage.Query{Kind: operation.KindIncident, Limit: storage.MaxLimit}
	for {
		page, err := st.Query(ctx, q)
		if err != nil {
			tb.Fatal(err)
		}
		docs = append(docs, page.Docs...)
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	evs, err := st.ReadEvents(ctx, 0, 1_000_000)
	if err != nil {
		tb.Fatal(err)
	}
	return docs, evs
}
