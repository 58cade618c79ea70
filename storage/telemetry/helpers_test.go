package telemetry_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/pillars-itsm/pillars/storage/telemetry"
)

// kit is an SDK set up in memory: spans go to an in-memory exporter,
// metrics to a manual reader.
type kit struct {
	spans  *tracetest.InMemoryExporter
	reader *sdkmetric.ManualReader
	tp     *sdktrace.TracerProvider
	mp     *sdkmetric.MeterProvider
	tel    *telemetry.Telemetry
}

func newKit(t testing.TB) *kit {
	k := &kit{spans: tracetest.NewInMemoryExporter(), reader: sdkmetric.NewManualReader()}
	k.tp = sdktrace.NewTracerProvider(sdktrace.WithSyncer(k.spans))
	k.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(k.reader))
	var err error
	k.tel, err = telemetry.New(telemetry.Config{TracerProvider: k.tp, MeterProvider: k.mp})
	require.NoError(t, err)
	return k
}

func (k *kit) config() telemetry.Config {
	return telemetry.Config{TracerProvider: k.tp, MeterProvider: k.mp}
}

// tree renders the exported spans as an indented tree, children in start
// order, skipping roots that do not start with keep.
func tree(spans tracetest.SpanStubs, keep func(tracetest.SpanStub) bool) string {
	kids := map[string][]tracetest.SpanStub{}
	ids := map[string]bool{}
	for _, s := range spans {
		ids[s.SpanContext.SpanID().String()] = true
	}
	var roots []tracetest.SpanStub
	for _, s := range spans {
		p := s.Parent.SpanID().String()
		if s.Parent.IsValid() && ids[p] {
			kids[p] = append(kids[p], s)
		} else if keep(s) {
			roots = append(roots, s)
		}
	}
	byStart := func(a, b tracetest.SpanStub) int { return a.StartTime.Compare(b.StartTime) }
	var b strings.Builder
	var walk func(s tracetest.SpanStub, depth int)
	walk = func(s tracetest.SpanStub, depth int) {
		fmt.Fprintf(&b, "%s%s%s\n", strings.Repeat("  ", depth), s.Name, attrs(s.Attributes, "pillars.outcome", "pillars.refused_by", "pillars.store.rows"))
		k := kids[s.SpanContext.SpanID().String()]
		slices.SortStableFunc(k, byStart)
		for _, c := range k {
			walk(c, depth+1)
		}
	}
	slices.SortStableFunc(roots, byStart)
	for _, r := range roots {
		walk(r, 0)
	}
	return b.String()
}

func attrs(kv []attribute.KeyValue, keys ...string) string {
	var out []string
	for _, k := range keys {
		for _, a := range kv {
			if string(a.Key) == k {
				out = append(out, strings.TrimPrefix(k, "pillars.")+"="+a.Value.Emit())
			}
		}
	}
	if len(out) == 0 {
		return ""
	}
	return " [" + strings.Join(out, " ") + "]"
}

func attr(kv []attribute.KeyValue, key string) string {
	for _, a := range kv {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}

// collect reads the metrics and returns the data of the named one.
func (k *kit) metric(t testing.TB, name string) metricdata.Aggregation {
	var rm metricdata.ResourceMetrics
	require.NoError(t, k.reader.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m.Data
			}
		}
	}
	return nil
}

var day = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
