package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/stream"
	"github.com/pillars-itsm/pillars/storage/stream/webhook"
	"github.com/pillars-itsm/pillars/storage/telemetry"
)

// TestWebhookDeliveryFailure runs a real webhook against a receiver that
// answers 503 (retried) and then 400 (dead-lettered) with the Telemetry
// as its consumer's Observer: the delivery failure counter counts both
// attempts by whether the event was dead-lettered, the retried attempt is
// logged at warn and the dead letter at error, each with the trace and
// span ids of the consumer batch it happened in, and the batch's span
// carries an event per failed attempt.
func TestWebhookDeliveryFailure(t *testing.T) {
	k := newKit(t)
	var logs bytes.Buffer
	tel, err := telemetry.New(telemetry.Config{TracerProvider: k.tp, MeterProvider: k.mp,
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	require.NoError(t, err)
	ctx := context.Background()
	store := tel.Backend(memory.New())
	recs := openTickets(t, store, nil)
	agent := itsm.Actor{ID: "ann", Roles: []string{"agent"}}
	require.NoError(t, recs.Create(itsm.WithActor(ctx, agent), &ticket{Title: "printer"}, storage.Command{}))

	var requests atomic.Int32
	answers := []int{http.StatusServiceUnavailable, http.StatusBadRequest}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(requests.Add(1)) - 1
		w.WriteHeader(answers[min(n, len(answers)-1)])
	}))
	defer srv.Close()
	w, err := webhook.New(ctx, store, webhook.Config{
		Subscription: stream.Subscription{Name: "crm", Actor: itsm.Actor{ID: "crm-bot", Roles: []string{"agent"}}}, // not the author: own events are not echoed
		Kinds:        stream.Kinds{"ticket": stream.FieldsOf(ticket{})},
		Reader:       stream.Readers{"ticket": stream.RecordReader(recs)},
		URL:          srv.URL,
		Secret:       []byte("0123456789abcdef0123456789abcdef"),
		Timeout:      5 * time.Second,
		Wait:         func(context.Context, time.Duration) error { return nil }, // retry at once
		Consumer:     stream.ConsumerConfig{Observer: tel},
	})
	require.NoError(t, err)
	k.spans.Reset()
	n, err := w.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the event is done with: dead-lettered")
	require.Equal(t, int32(2), requests.Load())
	assert.Equal(t, webhook.Stats{Attempts: 2, Retries: 1, DeadLettered: 1}, w.Stats())

	assert.Equal(t, map[string]int64{"dead_lettered=false,receiver=crm": 1, "dead_lettered=true,receiver=crm": 1},
		sums(t, k.metric(t, "pillars.delivery.failures")))

	var batch *tracetest.SpanStub
	for _, s := range k.spans.GetSpans() {
		if strings.HasPrefix(s.Name, "stream.batch") {
			batch = &s
		}
	}
	require.NotNil(t, batch, "the consumer batch's span")
	var failed []string
	for _, e := range batch.Events {
		if e.Name == "delivery failed" {
			failed = append(failed, attr(e.Attributes, "http.status")+"/"+attr(e.Attributes, "pillars.dead_lettered"))
		}
	}
	assert.Equal(t, []string{"503/false", "400/true"}, failed)

	var lines []map[string]any
	for line := range strings.Lines(logs.String()) {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m))
		if m["msg"] == "delivery failed" {
			lines = append(lines, m)
		}
	}
	require.Len(t, lines, 2)
	for i, want := range []struct {
		level  string
		status float64
		dead   bool
	}{{"WARN", 503, false}, {"ERROR", 400, true}} {
		assert.Equal(t, want.level, lines[i]["level"])
		assert.Equal(t, "crm", lines[i]["receiver"])
		assert.Equal(t, want.status, lines[i]["status"])
		assert.Equal(t, want.dead, lines[i]["dead_lettered"])
		assert.Equal(t, float64(i+1), lines[i]["attempt"])
		assert.Equal(t, batch.SpanContext.TraceID().String(), lines[i]["trace_id"])
		assert.Equal(t, batch.SpanContext.SpanID().String(), lines[i]["span_id"])
	}
}
