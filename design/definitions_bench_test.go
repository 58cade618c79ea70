package design_test

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// BenchmarkRecompute changes a definition with 100,000 running clocks on
// memory and recomputes them all (SaveDefinition with RecomputeClocks):
// each op replays 100,000 record histories under the new version and
// writes each clock; clocks/s is the figure the issue bounds (≥ 50,000),
// clocks/cpu-s the same per CPU second used (the wall figure on a shared
// machine measures its load).
func BenchmarkRecompute(b *testing.B) {
	n := 100_000
	if s := os.Getenv("PILLARS_RECOMPUTE_CLOCKS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	f := newRecordFixture(b, memory.New())
	ctx := as(agent)
	if _, _, err := f.engine.SaveDefinition(ctx, resolutionSLA(), design.KeepVersion, storage.Command{}); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if err := f.incidents.Create(ctx, &incident{ShortDescription: "x", Priority: 1 + i%3}, storage.Command{}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := f.engine.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	runtime.GC() // the fixture's garbage is not the recompute's to collect
	b.ReportAllocs()
	i := 0
	cpu0 := cpuTime()
	for b.Loop() {
		d := resolutionSLA()
		d.Targets[1] = time.Duration(5+i%2) * time.Hour // every op a new version
		i++
		_, got, err := f.engine.SaveDefinition(ctx, d, design.RecomputeClocks, storage.Command{Reason: "new target"})
		if err != nil || got != n {
			b.Fatalf("%d clocks recomputed, %v", got, err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "clocks/s")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		// On a machine shared with other work the wall figure measures the
		// load; clocks per CPU second is what the recompute itself costs.
		b.ReportMetric(float64(n)*float64(b.N)/cpu.Seconds(), "clocks/cpu-s")
	}
}
