package natsjs_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/storage/stream"
	"github.com/pillars-itsm/pillars/storage/stream/internal/fixture"
	"github.com/pillars-itsm/pillars/storage/stream/natsjs"
)

// BenchmarkJetStream publishes the same 1000 events to JetStream twice per
// iteration, each into a fresh stream: once through a Publisher (read from
// the store by its consumer, filtered, encoded, published asynchronously,
// acknowledged, checkpoint written) and once as raw nats.go (the same
// messages, built beforehand, published asynchronously and acknowledged).
// It reports the time per event of each and raw/pillars: 1 means the
// delivery costs nothing over publishing by hand; the goal is at least 0.5.
func BenchmarkJetStream(b *testing.B) {
	x := setup(b)
	const events = 1000
	_, err := fixture.Create(x.ctx, x.recs, events)
	require.NoError(b, err)
	evs, err := x.b.ReadEvents(x.ctx, 0, events)
	require.NoError(b, err)
	var raw, ours time.Duration
	streams := []string{}
	defer func() {
		for _, s := range streams {
			_ = x.js.DeleteStream(context.Background(), s)
		}
	}()
	fresh := func() string {
		id := uuid.NewString()[:8]
		_, err := natsjs.CreateStream(x.ctx, x.js, "BENCH_"+id, "pb_"+id, &jetstream.StreamConfig{Storage: jetstream.FileStorage})
		require.NoError(b, err)
		streams = append(streams, "BENCH_"+id)
		return "pb_" + id
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		rawPrefix, ourPrefix := fresh(), fresh()
		msgs := make([]*nats.Msg, len(evs))
		for j, ev := range evs {
			data, err := json.Marshal(stream.Payload{Event: ev})
			require.NoError(b, err)
			msgs[j] = nats.NewMsg(natsjs.Subject(rawPrefix, ev))
			msgs[j].Data = data
			msgs[j].Header.Set(jetstream.MsgIDHeader, ev.ID)
		}
		cfg := x.config("bench_" + uuid.NewString()[:8])
		cfg.Prefix = ourPrefix
		p, err := natsjs.New(x.ctx, x.b, cfg)
		require.NoError(b, err)
		b.StartTimer()

		start := time.Now()
		futures := make([]jetstream.PubAckFuture, len(msgs))
		for j, m := range msgs {
			if futures[j], err = x.js.PublishMsgAsync(m); err != nil {
				b.Fatal(err)
			}
		}
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				b.Fatal(err)
			}
		}
		raw += time.Since(start)

		start = time.Now()
		drain(b, x.ctx, p)
		ours += time.Since(start)
		if i == 0 {
			b.StopTimer()
			require.Equal(b, natsjs.Stats{Published: events}, p.Stats())
			b.StartTimer()
		}
	}
	n := float64(b.N * events)
	b.ReportMetric(float64(raw.Nanoseconds())/n, "raw-ns/event")
	b.ReportMetric(float64(ours.Nanoseconds())/n, "pillars-ns/event")
	b.ReportMetric(float64(raw)/float64(ours), "raw/pillars")
}
