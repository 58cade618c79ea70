package stream_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/stream"
)

// fill appends n events to b in units of 1,000.
func fill(tb testing.TB, b storage.Backend, n int) {
	tb.Helper()
	ctx := context.Background()
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for n > 0 {
		k := min(n, 1000)
		evs := make([]itsm.Event, k)
		for i := range evs {
			evs[i] = itsm.Event{ID: itsm.NewID(), Kind: "thing", RecordID: itsm.NewID(), RecordVersion: 1,
				Name: itsm.EventCreate, To: "open", Actor: "bench", At: at, RecordedAt: at,
				Changes: []itsm.FieldChange{{Field: "n", To: "1"}}}
		}
		require.NoError(tb, b.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, evs...) }))
		n -= k
	}
}

func block(ctx context.Context, _ time.Duration) error {
	<-ctx.Done()
	return ctx.Err()
}

// BenchmarkConsumer reads a log of 100,000 events on the memory store to
// its end, in batches of 500, with a handler that only counts: the
// consumer with its checkpoint and lease in the store (one unit of work
// per batch), the same with a TxHandler, a Local in-place consumer, and
// the baseline, a hand-written loop over ReadEvents that keeps its
// position in a variable. events/s is the figure to compare.
func BenchmarkConsumer(b *testing.B) {
	const events, batch = 100_000, 500
	ctx := context.Background()
	store := memory.New()
	fill(b, store, events)
	var seen int
	count := func(_ context.Context, evs []itsm.Event) error { seen += len(evs); return nil }
	fresh := 0 // a new consumer name per run: each reads the whole log
	run := func(b *testing.B, cfg func(i int) stream.ConsumerConfig) {
		b.ReportAllocs()
		for range b.N {
			seen = 0
			fresh++
			c, err := stream.NewConsumer(ctx, store, cfg(fresh))
			if err != nil {
				b.Fatal(err)
			}
			for {
				n, err := c.RunOnce(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if n == 0 {
					break
				}
			}
			if seen != events {
				b.Fatalf("handled %d events, want %d", seen, events)
			}
		}
		b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "events/s")
	}
	b.Run("baseline=ReadEvents", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			seen = 0
			var after int64
			for {
				evs, err := store.ReadEvents(ctx, after, batch)
				if err != nil {
					b.Fatal(err)
				}
				if len(evs) == 0 {
					break
				}
				if err := count(ctx, evs); err != nil {
					b.Fatal(err)
				}
				after = evs[len(evs)-1].Seq
			}
			if seen != events {
				b.Fatalf("handled %d events, want %d", seen, events)
			}
		}
		b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("consumer=Handler", func(b *testing.B) {
		run(b, func(i int) stream.ConsumerConfig {
			return stream.ConsumerConfig{Name: fmt.Sprint("handler-", i), Batch: batch, Handler: stream.HandlerFunc(count), Wait: block}
		})
	})
	b.Run("consumer=TxHandler", func(b *testing.B) {
		run(b, func(i int) stream.ConsumerConfig {
			return stream.ConsumerConfig{Name: fmt.Sprint("tx-", i), Batch: batch, Wait: block,
				TxHandler: stream.TxHandlerFunc(func(ctx context.Context, _ storage.Tx, evs []itsm.Event) error { return count(ctx, evs) })}
		})
	})
	b.Run("consumer=Local_InPlace", func(b *testing.B) {
		run(b, func(i int) stream.ConsumerConfig {
			return stream.ConsumerConfig{Name: "local", Batch: batch, Local: true, InPlace: true, Handler: stream.HandlerFunc(count)}
		})
	})
}
