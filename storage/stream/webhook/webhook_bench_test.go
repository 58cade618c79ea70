package webhook_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/stream"
	"github.com/pillars-itsm/pillars/storage/stream/internal/fixture"
	"github.com/pillars-itsm/pillars/storage/stream/webhook"
)

// BenchmarkCommitToDelivery measures, per store, the time from a command's
// commit to its webhook's arrival at a receiver: each iteration creates a
// ticket and waits until the receiver has it, then pauses a random 0-3 ms
// (outside the timer) so commits do not fall in step with the consumer's
// polls. The webhook runs in the background (poll 2 ms). It runs on every
// built-in store (PostgreSQL when PILLARS_POSTGRES_DSN is set, in a fresh
// schema) and reports the median and the 99th percentile in milliseconds
// (goals: p99 at most 50 ms on memory and SQLite, 250 ms on PostgreSQL);
// it asserts no timing. The time a command takes is part of ns/op, not of
// the latency.
func BenchmarkCommitToDelivery(b *testing.B) {
	for _, st := range stores() {
		b.Run(st.name, func(b *testing.B) {
			ctx := context.Background()
			store := st.open(b)
			recs, err := fixture.Open(ctx, store)
			require.NoError(b, err)
			var mu sync.Mutex
			arrived := map[string]time.Time{}
			got := make(chan string, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				now := time.Now()
				id := r.Header.Get(webhook.HeaderIdempotency)
				mu.Lock()
				arrived[id] = now
				mu.Unlock()
				w.WriteHeader(http.StatusOK)
				got <- id
			}))
			defer srv.Close()
			w, err := webhook.New(ctx, store, webhook.Config{
				Subscription: stream.Subscription{Name: "latency", Actor: fixture.Manager()},
				Kinds:        kinds(), Reader: stream.Readers{fixture.Kind: stream.RecordReader(recs)},
				URL: srv.URL, Secret: secret,
				Consumer: stream.ConsumerConfig{Poll: 2 * time.Millisecond},
			})
			require.NoError(b, err)
			require.NoError(b, w.Start(ctx))
			defer func() { _ = w.Stop(context.Background()) }()
			agent := itsm.WithActor(ctx, fixture.Agent())
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				t := &fixture.Ticket{Title: "latency", CallerID: "c", Group: "desk", Priority: 2}
				require.NoError(b, recs.Create(agent, t, storage.Command{}))
				committed := time.Now()
				id := <-got
				mu.Lock()
				lat = append(lat, max(arrived[id].Sub(committed), 0))
				mu.Unlock()
				b.StopTimer()
				time.Sleep(time.Duration(rand.Int64N(int64(3 * time.Millisecond)))) // pacing, not a wait for a result
				b.StartTimer()
			}
			b.StopTimer()
			slices.Sort(lat)
			pct := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
		})
	}
}
