package design_test

import (
	"context"
	"testing"
	"time"

	"github.com/pillars-itsm/pillars/storage"
)

// syncFixture holds 200 incidents of four events each, not yet synced.
func syncFixture(b *testing.B) fixture {
	b.Helper()
	f := newFixture(b)
	ctx := as(agent)
	for i := range 200 {
		inc := &incident{ShortDescription: "load", Priority: 1 + i%3}
		if err := f.incidents.Create(ctx, inc, storage.Command{}); err != nil {
			b.Fatal(err)
		}
		f.clock.Advance(time.Minute)
		for _, ev := range []string{"hold", "resume", "resolve"} {
			if _, err := f.incidents.Fire(ctx, inc.ID, ev, storage.Command{}, func(x *incident) error {
				x.HoldReason = map[string]string{"hold": "awaiting_caller"}[ev]
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			f.clock.Advance(time.Minute)
		}
	}
	return f
}

// BenchmarkSync measures the engine consuming 800 incident events (200
// incidents, one definition), against the reads it cannot avoid: the log
// and each record's history, with no clock written.
func BenchmarkSync(b *testing.B) {
	b.Run("engine", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			f := syncFixture(b)
			b.StartTimer()
			n, err := f.engine.Sync(context.Background())
			if err != nil || n != 800 {
				b.Fatalf("%d events, %v", n, err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*800), "ns/event")
	})
	b.Run("raw-reads", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			f := syncFixture(b)
			b.StartTimer()
			evs, err := f.store.ReadEvents(context.Background(), 0, 1000)
			if err != nil || len(evs) != 800 {
				b.Fatalf("%d events, %v", len(evs), err)
			}
			for _, ev := range evs {
				if _, err := f.store.History(context.Background(), ev.Kind, ev.RecordID); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*800), "ns/event")
	})
}
