package improvement_test

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/improvement"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// millionLog is the log of TestScaleMillionIncidents (the same windows,
// seeds and sequence numbers) in a memory store, built once per process.
var millionLog = sync.OnceValues(func() (*memory.Store, int) {
	const windows, per = 100, 10000
	// The windows are generated on every core; the collector is held back
	// meanwhile, the whole log being live anyway.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	gen := make([][]itsm.Event, windows)
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for w := range next {
				gen[w] = newHistory(uint64(100+w), false).generate(per, day0.Add(time.Duration(w*per)*3*time.Minute))
			}
		}()
	}
	for w := range windows {
		next <- w
	}
	close(next)
	wg.Wait()
	ctx := context.Background()
	log := memory.New()
	var seq int64
	for w, evs := range gen {
		for i := range evs {
			evs[i].Seq = seq + int64(i) + 1
		}
		seq += int64(len(evs))
		if err := log.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, evs...) }); err != nil {
			panic(err)
		}
		gen[w] = nil
	}
	return log, int(seq)
})

// BenchmarkSyncMillion (PILLARS_SCALE=1) times what the million-incident
// test's recomputation from the store times, Sync of a fresh engine over
// the log of 1,000,000 incidents, alone, so that it can be run and profiled
// apart from the generation of the log: PILLARS_SYNC_PROFILE=file writes a
// CPU profile that starts after the generation, so it holds the Syncs and
// also each iteration's New and forced collection over the multi-GB heap
// (focus on Engine.Sync to see the Sync alone). It reports CPU time per
// event and the collector's cycles per Sync.
func BenchmarkSyncMillion(b *testing.B) {
	ctx := context.Background()
	benchMillion(b, func(log *memory.Store) func() (int, error) {
		e, err := improvement.New(ctx, log, improvement.Config{Calendar: halfCalendar{}, CheckpointEvery: 1 << 30})
		require.NoError(b, err)
		return func() (int, error) { return e.Sync(ctx) }
	})
}

// BenchmarkApplyMillion (PILLARS_SCALE=1) applies the same log as
// BenchmarkSyncMillion to a fresh detached engine, run by run as the store
// holds it (storage.ScanEvents, in place), without the consumer: against
// BenchmarkSyncMillion it tells the engine's own cost from what Sync adds.
// PILLARS_SYNC_PROFILE writes a CPU profile as there.
func BenchmarkApplyMillion(b *testing.B) {
	ctx := storage.AllTenants(context.Background())
	benchMillion(b, func(log *memory.Store) func() (int, error) {
		e, err := improvement.NewDetached(improvement.Config{Calendar: halfCalendar{}})
		require.NoError(b, err)
		return func() (int, error) {
			n := 0
			err := storage.ScanEvents(ctx, log, 0, 1<<62, func(evs []itsm.Event) error {
				n += e.Apply(evs)
				return nil
			})
			return n, err
		}
	})
}

// benchMillion times run over the million-incident log, a fresh run made
// by prepare (untimed) for each op, and reports the CPU time per event,
// the collector's cycles per op and the heap left.
func benchMillion(b *testing.B, prepare func(log *memory.Store) (run func() (int, error))) {
	if !scale() {
		b.Skip("set PILLARS_SCALE=1 to run the million-incident benchmark")
	}
	log, events := millionLog()
	if path := os.Getenv("PILLARS_SYNC_PROFILE"); path != "" {
		f, err := os.Create(path)
		require.NoError(b, err)
		defer f.Close()
		b.StopTimer()
		require.NoError(b, pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	runtime.GC()
	var ms0, ms1 runtime.MemStats
	var cpu time.Duration
	var gcs uint32
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		run := prepare(log)
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		b.StartTimer()
		cpu0 := cpuTime()
		n, err := run()
		cpu += cpuTime() - cpu0
		b.StopTimer()
		runtime.ReadMemStats(&ms1)
		gcs += ms1.NumGC - ms0.NumGC
		require.NoError(b, err)
		require.Equal(b, events, n)
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*events), "cpu-ns/event")
	b.ReportMetric(float64(gcs)/float64(b.N), "gc/op")
	b.ReportMetric(float64(ms1.HeapAlloc)/(1<<30), "heap-GiB")
}
