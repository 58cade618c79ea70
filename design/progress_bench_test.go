package design_test

import (
	"fmt"
	"testing"

	"github.com/pillars-itsm/pillars/design"
)

var sinkPcts map[string]float64

// BenchmarkSLAPercentages reads the SLA percentages of 50 incidents among
// 5,000 with running clocks on each store: with SLAPercentages (one
// task_id IN query), and, as the same-run baseline, with 50 ClocksOf calls
// (one query per incident, decoding each clock whole: the portal's former
// adapter, whose arithmetic on round-the-clock time is cheaper than the
// office calendar SLAPercentages evaluates).
func BenchmarkSLAPercentages(b *testing.B) {
	for name, open := range stores(b) {
		df := buildDueN(b, open(), 5_000)
		ids := make([]string, 50)
		for i := range ids {
			ids[i] = fmt.Sprintf("inc-%07d", i*df.n/len(ids))
		}
		ctx, now := as(agent), df.dueNow // ClocksOf reads through Records, which needs a reader
		b.Run(name+"/SLAPercentages", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got, err := df.f.engine.SLAPercentages(ctx, "incident", ids, now)
				if err != nil || len(got) != len(ids) {
					b.Fatal(err, len(got))
				}
				sinkPcts = got
			}
		})
		b.Run(name+"/ClocksOf_x50", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got := make(map[string]float64, len(ids))
				for _, id := range ids {
					clocks, err := df.f.engine.ClocksOf(ctx, id)
					if err != nil {
						b.Fatal(err)
					}
					for _, c := range clocks {
						if c.TaskKind != "incident" || c.State != design.StageInProgress {
							continue
						}
						pct := float64(c.ElapsedBefore+max(now.Sub(c.RunningSince), 0)) / float64(c.Target) * 100
						if cur, ok := got[id]; !ok || pct > cur {
							got[id] = pct
						}
					}
				}
				if len(got) != len(ids) {
					b.Fatal(len(got))
				}
				sinkPcts = got
			}
		})
	}
}
