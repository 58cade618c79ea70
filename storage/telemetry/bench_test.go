package telemetry_test

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/sqlite"
	"github.com/pillars-itsm/pillars/storage/telemetry"
)

// fireCase is a telemetry set-up BenchmarkFire compares with none.
type fireCase struct {
	name string
	cfg  *telemetry.Config // nil: no Observer, the store unwrapped
}

// fireCases: absent (no Observer, the store unwrapped: a host without
// telemetry); no-providers (telemetry.New of an empty Config as the
// Observer, Instrument returning the store itself); sdk-sampling-off (the
// OpenTelemetry SDK installed: a TracerProvider that never samples and a
// MeterProvider with a reader, the store instrumented);
// sdk-traces-sampling-off and sdk-metrics-only (each half of that alone);
// sdk-sampled (every span recorded, for scale).
func fireCases() []fireCase {
	never := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	always := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	return []fireCase{
		{"absent", nil},
		{"no-providers", &telemetry.Config{}},
		{"sdk-sampling-off", &telemetry.Config{TracerProvider: never, MeterProvider: mp}},
		{"sdk-traces-sampling-off", &telemetry.Config{TracerProvider: never}},
		{"sdk-metrics-only", &telemetry.Config{MeterProvider: mp}},
		{"sdk-sampled", &telemetry.Config{TracerProvider: always, MeterProvider: mp}},
	}
}

// firing is a ticket Fire can alternate resolve and reopen on.
type firing struct {
	recs *storage.Records[ticket, *ticket]
	id   string
	i    int
}

func newFiring(b *testing.B, store storage.Backend, cfg *telemetry.Config) *firing {
	var obs storage.Observer
	if cfg != nil {
		tel, err := telemetry.New(*cfg)
		if err != nil {
			b.Fatal(err)
		}
		store, obs = tel.Backend(store), tel
	}
	f := &firing{recs: openTickets(b, store, obs)}
	tk := &ticket{Title: "bench"}
	ctx := benchActor()
	if err := f.recs.Create(ctx, tk, storage.Command{}); err != nil {
		b.Fatal(err)
	}
	if _, err := f.recs.Fire(ctx, tk.ID, "start", storage.Command{}, nil); err != nil {
		b.Fatal(err)
	}
	f.id = tk.ID
	return f
}

func benchActor() context.Context {
	return itsm.WithActor(context.Background(), itsm.Actor{ID: "ann", Roles: []string{"agent"}})
}

func (f *firing) fire(b *testing.B, ctx context.Context) {
	events := [2]string{"resolve", "reopen"}
	if _, err := f.recs.Fire(ctx, f.id, events[f.i&1], storage.Command{}, nil); err != nil {
		b.Fatal(err)
	}
	f.i++
}

// BenchmarkFire measures Records.Fire on the memory store, alternating
// resolve and reopen, for each case of fireCases in one run.
//
// cpu-ns/op is the process's CPU time per command, GC included: on a
// machine shared with other work it is steadier than ns/op. For the
// overhead itself BenchmarkFireOverhead is steadier still.
//
//	go test -run x -bench 'Fire$' -benchmem -count 6 ./storage/telemetry
func BenchmarkFire(b *testing.B) {
	for _, c := range fireCases() {
		b.Run(c.name, func(b *testing.B) {
			f := newFiring(b, memory.New(), c.cfg)
			ctx := benchActor()
			b.ReportAllocs()
			cpu := cpuNow()
			n := 0
			for b.Loop() {
				f.fire(b, ctx)
				n++
			}
			b.ReportMetric(float64(cpuNow()-cpu)/float64(n), "cpu-ns/op")
		})
	}
}

// BenchmarkFireOverhead measures each case against absent in the same
// loop: batches of commands alternate between a Records without telemetry
// and one with the case's, each batch's CPU time (and wall time) charged
// to its side, so a load that changes during the run weighs on both
// alike. It reports the case's cpu-ns/op, the baseline's (base-cpu-ns/op)
// and their ratio (cpu-x, 1.05 is 5 % over), the same for the benchmark
// thread's own CPU time (thread-x, Linux: GC assists in, the collector's
// background work out, steadier) and for wall time (wall-x). memory is the memory store; sqlite a SQLite file in a
// temporary directory (what a host feels: a Fire there is a transaction
// on disk).
//
//	go test -run x -bench FireOverhead -benchmem -count 6 ./storage/telemetry
func BenchmarkFireOverhead(b *testing.B) {
	stores := []struct {
		name  string
		batch int
		open  func(b *testing.B) storage.Backend
	}{
		{"memory", 256, func(*testing.B) storage.Backend { return memory.New() }},
		{"sqlite", 16, func(b *testing.B) storage.Backend {
			st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = st.Close() })
			return st
		}},
	}
	for _, s := range stores {
		for _, c := range fireCases()[1:] {
			b.Run(s.name+"/"+c.name, func(b *testing.B) {
				sides := [2]*firing{newFiring(b, s.open(b), nil), newFiring(b, s.open(b), c.cfg)}
				ctx := benchActor()
				var cpu, thread, wall [2]time.Duration
				var ops [2]int
				side, left := 0, s.batch
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				cpu0, thread0, wall0 := cpuNow(), threadCPUNow(), time.Now()
				b.ReportAllocs()
				for b.Loop() {
					sides[side].fire(b, ctx)
					ops[side]++
					if left--; left == 0 {
						cpu1, thread1, wall1 := cpuNow(), threadCPUNow(), time.Now()
						cpu[side] += cpu1 - cpu0
						thread[side] += thread1 - thread0
						wall[side] += wall1.Sub(wall0)
						cpu0, thread0, wall0 = cpu1, thread1, wall1
						side, left = 1-side, s.batch
					}
				}
				if ops[0] == 0 || ops[1] == 0 || cpu[0] == 0 || wall[0] == 0 {
					return // too short a run to compare
				}
				per := func(d [2]time.Duration, i int) float64 { return float64(d[i]) / float64(ops[i]) }
				b.ReportMetric(per(cpu, 1), "cpu-ns/op")
				b.ReportMetric(per(cpu, 0), "base-cpu-ns/op")
				b.ReportMetric(per(cpu, 1)/per(cpu, 0), "cpu-x")
				if thread[0] > 0 {
					b.ReportMetric(per(thread, 1)/per(thread, 0), "thread-x")
				}
				b.ReportMetric(per(wall, 1)/per(wall, 0), "wall-x")
			})
		}
	}
}
