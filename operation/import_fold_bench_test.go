package operation_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// BenchmarkImportFoldDryRun runs BenchmarkImportVsBulk's import as a dry
// run on the memory store: the fold alone, without the write, for a
// profile of the lifecycle's own share. CPU time is reported too.
func BenchmarkImportFoldDryRun(b *testing.B) {
	f := newFixtureOn(b, memory.New())
	f.clock.Set(t0.Add(10 * 365 * 24 * time.Hour))
	const batch = 1000
	var cpu time.Duration
	events, round := 0, 0
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		round++
		incs := importBatch(batch, t0)
		ctx := itsm.WithTenant(as(migrate), fmt.Sprintf("d%d", round))
		b.StartTimer()
		start := cpuTime()
		rep, err := f.desk.Import(ctx, incs, operation.ImportOptions{States: jiraStates, DryRun: true})
		cpu += cpuTime() - start
		if err != nil || len(rep.Errors) > 0 {
			b.Fatal(err, rep.Err())
		}
		events += rep.Events
	}
	b.ReportMetric(float64(events)/cpu.Seconds(), "cpu-events/s")
}
