package improvement_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/improvement"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// numbered generates the history of n incidents starting at start, with Seq
// numbers from after+1.
func numbered(seed uint64, n int, start time.Time, after int64) []itsm.Event {
	evs := newHistory(seed, false).generate(n, start)
	for i := range evs {
		evs[i].Seq = after + int64(i) + 1
	}
	return evs
}

// baselineMTTR is the hand-written loop the engine is measured against: one
// pass over the same events computing a single, unsliced MTTR (creation and
// resolution times per incident in a map).
func baselineMTTR(evs []itsm.Event) (n, sumMs int64) {
	opened := map[string]int64{}
	for i := range evs {
		e := &evs[i]
		if e.Kind != "incident" {
			continue
		}
		switch {
		case e.Name == itsm.EventCreate:
			opened[e.RecordID] = e.At.UnixMilli()
		case e.To == "resolved":
			n++
			sumMs += e.At.UnixMilli() - opened[e.RecordID]
		case e.To == "closed" || e.To == "canceled":
			delete(opened, e.RecordID)
		}
	}
	return n, sumMs
}

// perEvent reports wall and CPU time per event; CPU time (every thread of
// the process, the collector's included) is steadier on a shared machine.
func perEvent(b *testing.B, cpu0 time.Duration, events int) {
	n := float64(b.N * events)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/event")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/n, "cpu-ns/event")
}

// BenchmarkRecompute applies the log of 10,000 incidents (about 90,000
// events with their SLA clocks, changes and requests) to a fresh engine.
func BenchmarkRecompute(b *testing.B) {
	evs := numbered(1, 10000, day0, 0)
	b.Run("engine", func(b *testing.B) {
		b.ReportAllocs()
		cpu0 := cpuTime()
		for i := 0; i < b.N; i++ {
			e, err := improvement.NewDetached(improvement.Config{Calendar: halfCalendar{}})
			require.NoError(b, err)
			if e.Apply(evs) != len(evs) {
				b.Fatal("not every event applied")
			}
		}
		perEvent(b, cpu0, len(evs))
	})
	b.Run("baseline_loop", func(b *testing.B) {
		b.ReportAllocs()
		cpu0 := cpuTime()
		for i := 0; i < b.N; i++ {
			if n, _ := baselineMTTR(evs); n == 0 {
				b.Fatal("nothing resolved")
			}
		}
		perEvent(b, cpu0, len(evs))
	})
}

// BenchmarkSync1000 measures the incremental update: 1,000 new events read
// from the store and applied by an engine already holding 20,000
// incidents, against reading the same 1,000 events from the store alone.
func BenchmarkSync1000(b *testing.B) {
	ctx := context.Background()
	setup := func(b *testing.B) (*memory.Store, []itsm.Event) {
		store := memory.New()
		base := numbered(2, 20000, day0, 0)
		appendEvents(b, store, base, 50000)
		more := numbered(3, 20000, day0.AddDate(0, 3, 0), 0)
		return store, more
	}
	b.Run("engine", func(b *testing.B) {
		store, more := setup(b)
		e, err := improvement.New(ctx, store, improvement.Config{Calendar: halfCalendar{}, CheckpointEvery: 1 << 30})
		require.NoError(b, err)
		_, err = e.Sync(ctx)
		require.NoError(b, err)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			if len(more) < 1000 {
				more = numbered(uint64(4+i), 20000, day0.AddDate(0, 6+i, 0), 0)
			}
			appendEvents(b, store, more[:1000], 1000)
			more = more[1000:]
			b.StartTimer()
			n, err := e.Sync(ctx)
			if err != nil || n != 1000 {
				b.Fatalf("applied %d, %v", n, err)
			}
		}
	})
	b.Run("raw_read", func(b *testing.B) {
		store, more := setup(b)
		after := int64(0)
		for {
			evs, err := store.ReadEvents(ctx, after, 100000)
			require.NoError(b, err)
			if len(evs) == 0 {
				break
			}
			after = evs[len(evs)-1].Seq
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			if len(more) < 1000 {
				more = numbered(uint64(4+i), 20000, day0.AddDate(0, 6+i, 0), 0)
			}
			appendEvents(b, store, more[:1000], 1000)
			more = more[1000:]
			b.StartTimer()
			evs, err := store.ReadEvents(ctx, after, 5000)
			if err != nil || len(evs) != 1000 {
				b.Fatalf("read %d, %v", len(evs), err)
			}
			after = evs[len(evs)-1].Seq
		}
	})
}

// BenchmarkCheckpoint saves the state of an engine holding 20,000
// incidents, against the raw store writing a document of the same size.
func BenchmarkCheckpoint(b *testing.B) {
	ctx := context.Background()
	store := memory.New()
	appendEvents(b, store, numbered(5, 20000, day0, 0), 50000)
	e, err := improvement.New(ctx, store, improvement.Config{CheckpointEvery: 1 << 30})
	require.NoError(b, err)
	_, err = e.Sync(ctx)
	require.NoError(b, err)
	require.NoError(b, e.Checkpoint(ctx))
	var size int
	page, err := store.Query(ctx, storage.Query{Kind: improvement.CheckpointKind})
	require.NoError(b, err)
	for _, d := range page.Docs {
		size += len(d.Data)
	}
	b.Run("engine", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			require.NoError(b, e.Checkpoint(ctx))
		}
		b.ReportMetric(float64(size), "stored-bytes")
	})
	b.Run("raw_put", func(b *testing.B) {
		data := []byte(`"` + strings.Repeat("x", min(size, storage.MaxDocumentSize-2)) + `"`)
		id := itsm.NewID() // a fresh document for every run of the function
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			require.NoError(b, store.Update(ctx, func(tx storage.Tx) error {
				return tx.Put(ctx, storage.Document{Kind: improvement.CheckpointKind, ID: id, Version: int64(i + 1), Data: data}, int64(i))
			}))
		}
	})
}

// BenchmarkCompute answers MTTR by service and group per week, and the
// backlog per day, over 20,000 incidents, against the hand-written loop
// computing one unsliced MTTR from the events themselves.
func BenchmarkCompute(b *testing.B) {
	e, err := improvement.NewDetached(improvement.Config{})
	require.NoError(b, err)
	evs := numbered(6, 20000, day0, 0)
	e.Apply(evs)
	b.Run("baseline_loop", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			baselineMTTR(evs)
		}
	})
	for _, q := range []improvement.Query{
		{KPI: improvement.MTTR, By: []improvement.Dimension{improvement.ByService, improvement.ByGroup}, Period: improvement.PeriodWeek},
		{KPI: improvement.Backlog, Period: improvement.PeriodDay},
	} {
		b.Run(string(q.KPI), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := e.Compute(q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
