package telemetry_test

import (
	"context"
	"fmt"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/telemetry"
)

// A host passes its providers (here the SDK with an in-memory exporter and
// a manual reader), wraps its store and gives the telemetry to a pillar.
func Example() {
	ctx := context.Background()
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))

	tel, err := telemetry.New(telemetry.Config{TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		panic(err)
	}
	desk, err := operation.New(ctx, tel.Backend(memory.New()), operation.Config{Telemetry: tel})
	if err != nil {
		panic(err)
	}
	spans.Reset()
	caller := itsm.WithActor(ctx, itsm.Actor{ID: "carl", Roles: []string{"caller"}})
	inc := &operation.Incident{ShortDescription: "VPN drops", Impact: 2, Urgency: 2}
	if err := desk.OpenIncident(caller, inc, storage.Command{}); err != nil {
		panic(err)
	}
	for _, s := range spans.GetSpans() {
		fmt.Println(s.Name, s.Attributes[0].Value.Emit())
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		panic(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == "pillars.command.duration" {
			fmt.Println(m.Name, "count", h.DataPoints[0].Count)
		}
	}
	// Output:
	// store.tx.NextSequence memory
	// store.tx.Put memory
	// store.tx.Append memory
	// incident.create incident
	// store.Update memory
	// pillars.command.duration count 1
}
