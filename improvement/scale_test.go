package improvement_test

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/improvement"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// TestScaleMillionIncidents (PILLARS_SCALE=1) feeds the log of 1,000,000
// incidents (with their SLA clocks, 100,000 changes and 200,000 requests) to
// one engine, timing only the engine: the log is generated in windows of
// 10,000 incidents outside the clock, as a store would hand it out in
// pages. It then times incremental updates of 1,000 events on that state,
// one checkpoint, and queries with and without percentiles (over every
// incident's samples). Figures are logged, never asserted.
func TestScaleMillionIncidents(t *testing.T) {
	if !scale() {
		t.Skip("set PILLARS_SCALE=1 to run the million-incident test")
	}
	ctx := context.Background()
	store := memory.New()
	e, err := improvement.New(ctx, store, improvement.Config{Calendar: halfCalendar{}, CheckpointEvery: 1 << 30})
	require.NoError(t, err)
	// The same log, committed to a memory store as the pillars would
	// write it, for a recomputation that reads it back.
	log := memory.New()
	var seq int64
	var applied int
	var busy, cpu time.Duration
	const windows, per = 100, 10000
	for w := 0; w < windows; w++ {
		evs := numbered(uint64(100+w), per, day0.Add(time.Duration(w*per)*3*time.Minute), seq)
		seq += int64(len(evs))
		require.NoError(t, log.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, evs...) }))
		runtime.GC()
		began, cpu0 := time.Now(), cpuTime()
		applied += e.Apply(evs)
		busy += time.Since(began)
		cpu += cpuTime() - cpu0
	}
	t.Logf("full recompute: %d events of %d incidents applied in %v wall, %v CPU (%.0f ns/event wall, %.0f CPU)", applied, windows*per,
		busy, cpu, float64(busy.Nanoseconds())/float64(applied), float64(cpu.Nanoseconds())/float64(applied))

	// A new engine on the store reads the whole log through Sync.
	fromLog, err := improvement.New(ctx, log, improvement.Config{Calendar: halfCalendar{}, CheckpointEvery: 1 << 30})
	require.NoError(t, err)
	runtime.GC()
	began, cpu0 := time.Now(), cpuTime()
	n, err := fromLog.Sync(ctx)
	wall, used := time.Since(began), cpuTime()-cpu0
	require.NoError(t, err)
	require.Equal(t, applied, n)
	t.Logf("full recompute read from the memory store by Sync: %d events in %v wall, %v CPU (%.0f ns/event wall, %.0f CPU)", n,
		wall, used, float64(wall.Nanoseconds())/float64(n), float64(used.Nanoseconds())/float64(n))
	require.Equal(t, improvement.StateOf(e), improvement.StateOf(fromLog), "the same state either way")
	fromLog, log = nil, nil

	var lat []time.Duration
	for i := 0; i < 20; i++ {
		evs := numbered(uint64(1000+i), 200, day0.AddDate(1, i, 0), seq)[:1000]
		seq += 1000
		began := time.Now()
		n := e.Apply(evs)
		lat = append(lat, time.Since(began))
		require.Equal(t, 1000, n)
	}
	slices.Sort(lat)
	t.Logf("incremental update of 1,000 events: median %v, min %v, max %v", lat[len(lat)/2], lat[0], lat[len(lat)-1])

	began = time.Now()
	require.NoError(t, e.Checkpoint(ctx))
	t.Logf("checkpoint of the state: %v", time.Since(began))
	began = time.Now()
	again, err := improvement.New(ctx, store, improvement.Config{Calendar: halfCalendar{}})
	require.NoError(t, err)
	t.Logf("reopen from the checkpoint: %v", time.Since(began))
	require.Equal(t, improvement.StateOf(e), improvement.StateOf(again))

	for _, q := range []improvement.Query{
		{KPI: improvement.MTTR, By: []improvement.Dimension{improvement.ByService}, Period: improvement.PeriodMonth},
		{KPI: improvement.MTTR, By: []improvement.Dimension{improvement.ByService}, Period: improvement.PeriodMonth, Percentiles: true},
		{KPI: improvement.MTTR, Percentiles: true},
	} {
		began, cpu0 := time.Now(), cpuTime()
		res, err := e.Compute(q)
		require.NoError(t, err)
		t.Logf("%s: %d rows in %v wall, %v CPU", q.String(), len(res.Rows), time.Since(began), cpuTime()-cpu0)
	}
}
