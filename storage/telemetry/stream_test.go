package telemetry_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/stream"
)

// TestConsumerBatchesAndLag gives a consumer's batches spans (its store
// calls nested), counts the events and reports the lag.
func TestConsumerBatchesAndLag(t *testing.T) {
	k := newKit(t)
	ctx := context.Background()
	store := k.tel.Backend(memory.New())
	recs := openTickets(t, store, nil)
	agent := itsm.WithActor(ctx, itsm.Actor{ID: "ann", Roles: []string{"agent"}})
	for range 5 {
		require.NoError(t, recs.Create(agent, &ticket{Title: "t"}, storage.Command{}))
	}
	fail := true
	c, err := stream.NewConsumer(ctx, store, stream.ConsumerConfig{Name: "audit", Batch: 2, Observer: k.tel,
		Handler: stream.HandlerFunc(func(ctx context.Context, evs []itsm.Event) error {
			if fail {
				return errors.New("downstream down")
			}
			_, err := store.History(ctx, evs[0].Kind, evs[0].RecordID) // a store call inside the batch
			return err
		})})
	require.NoError(t, err)
	reg, err := k.tel.ObserveLag(c)
	require.NoError(t, err)
	defer func() { require.NoError(t, reg.Unregister()) }()

	_, err = c.RunOnce(ctx)
	require.Error(t, err)
	fail = false
	k.spans.Reset()
	n, err := c.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)

	got := tree(k.spans.GetSpans(), func(s tracetest.SpanStub) bool { return s.Name == "stream.batch audit" })
	assert.Contains(t, got, "stream.batch audit\n  store.History [store.rows=1]\n  store.Update\n")

	assert.Equal(t, map[string]int64{"consumer=audit": 2}, sums(t, k.metric(t, "pillars.stream.events")))
	assert.Equal(t, map[string]uint64{"consumer=audit,outcome=error": 1, "consumer=audit,outcome=ok": 1},
		histCounts(t, k.metric(t, "pillars.stream.batch.duration")))
	g, ok := k.metric(t, "pillars.stream.lag").(metricdata.Gauge[int64])
	require.True(t, ok)
	require.Len(t, g.DataPoints, 1)
	assert.Equal(t, int64(3), g.DataPoints[0].Value, "5 events, 2 acknowledged")
}

// TestDeliveryFailures counts failed deliveries, retried and dead.
func TestDeliveryFailures(t *testing.T) {
	k := newKit(t)
	ctx := context.Background()
	for _, dead := range []bool{false, false, true} {
		k.tel.DeliveryFailed(ctx, stream.DeliveryFailure{Receiver: "crm", Attempt: 1, Status: 503, Err: errors.New("503"), DeadLettered: dead})
	}
	assert.Equal(t, map[string]int64{"dead_lettered=false,receiver=crm": 2, "dead_lettered=true,receiver=crm": 1},
		sums(t, k.metric(t, "pillars.delivery.failures")))
}

// TestSLAReached counts warnings and breaches by definition.
func TestSLAReached(t *testing.T) {
	k := newKit(t)
	ctx := context.Background()
	k.tel.SLAReached(ctx, "p1-resolve", 50)
	k.tel.SLAReached(ctx, "p1-resolve", 75)
	k.tel.SLAReached(ctx, "p1-resolve", 0)
	assert.Equal(t, map[string]int64{"definition=p1-resolve": 2}, sums(t, k.metric(t, "pillars.sla.warnings")))
	assert.Equal(t, map[string]int64{"definition=p1-resolve": 1}, sums(t, k.metric(t, "pillars.sla.breaches")))
}
