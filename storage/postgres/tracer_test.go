package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/postgres"
)

// TestOpenWithTelemetry: a store that opens its own pool traces its
// statements under the caller's span and measures them.
func TestOpenWithTelemetry(t *testing.T) {
	dsn := os.Getenv("PILLARS_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("PILLARS_POSTGRES_DSN is not set")
	}
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "pillars_test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	s, err := postgres.Open(ctx, dsn, postgres.WithSchema(schema), postgres.WithTelemetry(tp, mp))
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = s.Pool().Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
		_ = s.Close()
	})
	require.NoError(t, s.Register(ctx, storage.Schema{Kind: "note"}))
	spans.Reset()
	cctx, parent := tp.Tracer("test").Start(ctx, "command")
	_, err = s.Get(cctx, "note", "00000000-0000-4000-8000-000000000001")
	require.Error(t, err)
	parent.End()

	var queries int
	for _, sp := range spans.GetSpans() {
		if sp.Name == "postgres.query" || sp.Name == "postgres.batch" {
			queries++
			assert.Equal(t, parent.SpanContext().TraceID(), sp.SpanContext.TraceID(), "in the caller's trace")
		}
	}
	assert.Positive(t, queries)
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
	var n uint64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == "pillars.postgres.query.duration" {
				for _, p := range h.DataPoints {
					n += p.Count
				}
			}
		}
	}
	assert.Positive(t, n)
}
