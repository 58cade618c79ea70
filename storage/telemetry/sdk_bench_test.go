package telemetry_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// BenchmarkSDK measures the bare OpenTelemetry SDK calls a command costs
// at the least, without Pillars: the floor under BenchmarkFire's
// sdk-* cases. span: a span started and ended under a TracerProvider that
// never samples; histogram: one measurement with a prebuilt attribute set
// and option slice (two clock reads included); both: the two, as one
// command needs.
//
//	go test -run x -bench SDK -benchmem -count 6 ./storage/telemetry
func BenchmarkSDK(b *testing.B) {
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample())).Tracer("bench")
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	h, err := mp.Meter("bench").Float64Histogram("bench.duration")
	if err != nil {
		b.Fatal(err)
	}
	set := []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("kind", "ticket"), attribute.String("event", "resolve"), attribute.String("outcome", "applied")))}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)}
	ctx := context.Background()
	span := func() {
		_, s := tracer.Start(ctx, "ticket.resolve", opts...)
		s.End()
	}
	hist := func() {
		start := time.Now()
		h.Record(ctx, time.Since(start).Seconds(), set...)
	}
	for _, c := range []struct {
		name string
		fn   func()
	}{
		{"span", span},
		{"histogram", hist},
		{"both", func() { span(); hist() }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := cpuNow()
			n := 0
			for b.Loop() {
				c.fn()
				n++
			}
			b.ReportMetric(float64(cpuNow()-cpu)/float64(n), "cpu-ns/op")
		})
	}
}
