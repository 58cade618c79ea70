package telemetry_test

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/telemetry"
)

// BenchmarkFire measures Records.Fire on the memory store, alternating
// resolve and reopen, in one run. Cases: absent (no Observer, the store
// unwrapped: a host without telemetry); no-providers (telemetry.New of an
// empty Config as the Observer, Instrument returning the store itself);
// sdk-sampling-off (the OpenTelemetry SDK installed: a TracerProvider that
// never samples and a MeterProvider with a reader, the store instrumented);
// sdk-traces-sampling-off and sdk-metrics-only (each half of that alone);
// sdk-sampled (every span recorded, for scale).
//
// cpu-ns/op is the process's CPU time per command, GC included: on a
// machine shared with other work it is steadier than ns/op.
//
//	go test -run x -bench Fire -benchmem -count 6 ./storage/telemetry
func BenchmarkFire(b *testing.B) {
	never := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	always := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	for _, c := range []struct {
		name string
		cfg  *telemetry.Config
	}{
		{"absent", nil},
		{"no-providers", &telemetry.Config{}},
		{"sdk-sampling-off", &telemetry.Config{TracerProvider: never, MeterProvider: mp}},
		{"sdk-traces-sampling-off", &telemetry.Config{TracerProvider: never}},
		{"sdk-metrics-only", &telemetry.Config{MeterProvider: mp}},
		{"sdk-sampled", &telemetry.Config{TracerProvider: always, MeterProvider: mp}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var store storage.Backend = memory.New()
			var obs storage.Observer
			if c.cfg != nil {
				tel, err := telemetry.New(*c.cfg)
				if err != nil {
					b.Fatal(err)
				}
				store, obs = tel.Backend(store), tel
			}
			recs := openTickets(b, store, obs)
			ctx := itsm.WithActor(context.Background(), itsm.Actor{ID: "ann", Roles: []string{"agent"}})
			tk := &ticket{Title: "bench"}
			if err := recs.Create(ctx, tk, storage.Command{}); err != nil {
				b.Fatal(err)
			}
			if _, err := recs.Fire(ctx, tk.ID, "start", storage.Command{}, nil); err != nil {
				b.Fatal(err)
			}
			events := [2]string{"resolve", "reopen"}
			b.ReportAllocs()
			cpu := cpuNow()
			n := 0
			for i := 0; b.Loop(); i++ {
				if _, err := recs.Fire(ctx, tk.ID, events[i&1], storage.Command{}, nil); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(cpuNow()-cpu)/float64(n), "cpu-ns/op")
		})
	}
}
