package improvement_test

import (
	"context"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/improvement"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// scale reports whether the heavy tests were asked for.
func scale() bool { return os.Getenv("PILLARS_SCALE") == "1" }

// allQueries is every KPI by every combination of slices and periods.
func allQueries() []improvement.Query {
	bys := [][]improvement.Dimension{nil, {improvement.ByService}, {improvement.ByGroup}, {improvement.ByPriority},
		{improvement.ByService, improvement.ByGroup, improvement.ByPriority}}
	periods := []improvement.Period{improvement.PeriodNone, improvement.PeriodDay, improvement.PeriodWeek, improvement.PeriodMonth}
	var out []improvement.Query
	for _, k := range improvement.KPIs() {
		for _, by := range bys {
			if k == improvement.MTBF && (len(by) > 1 || len(by) == 1 && by[0] != improvement.ByService) {
				continue
			}
			for _, p := range periods {
				out = append(out, improvement.Query{KPI: k, By: by, Period: p})
			}
		}
	}
	return out
}

// TestIncrementalEqualsRecompute grows the log in random chunks while an
// engine follows it with random batch sizes, checkpoints, restarts and
// crashes (a restart without a checkpoint, which replays from the last one),
// then compares it with an engine that read the finished log at once: their
// states and every KPI by every slice and period must be identical.
func TestIncrementalEqualsRecompute(t *testing.T) {
	n := 2000
	if scale() {
		n = 100000
	}
	ctx := context.Background()
	began := time.Now()
	evs := newHistory(42, true).generate(n, day0)
	t.Logf("generated %d incidents: %s in %v", n, describe(evs), time.Since(began))
	store := memory.New()
	rng := rand.New(rand.NewPCG(7, 8))
	cfg := func(name string) improvement.Config {
		return improvement.Config{Name: name, Calendar: halfCalendar{}, BatchSize: 1 + rng.IntN(3000), CheckpointEvery: 1 << 30}
	}
	inc, err := improvement.New(ctx, store, cfg("follower"))
	require.NoError(t, err)
	restarts, crashes, syncs := 0, 0, 0
	began = time.Now()
	for rest := evs; len(rest) > 0; {
		k := min(len(rest), 1+rng.IntN(len(evs)/20+1))
		appendEvents(t, store, rest[:k], 1+rng.IntN(500))
		rest = rest[k:]
		_, err := inc.Sync(ctx)
		require.NoError(t, err)
		syncs++
		switch x := rng.IntN(10); {
		case x < 3:
			require.NoError(t, inc.Checkpoint(ctx))
			inc, err = improvement.New(ctx, store, cfg("follower"))
			require.NoError(t, err)
			restarts++
		case x < 4:
			inc, err = improvement.New(ctx, store, cfg("follower")) // crash: progress since the checkpoint is lost
			require.NoError(t, err)
			crashes++
		}
	}
	_, err = inc.Sync(ctx)
	require.NoError(t, err)
	t.Logf("incremental: %d syncs, %d restarts, %d crashes in %v", syncs, restarts, crashes, time.Since(began))

	began = time.Now()
	scratch := openSynced(t, store, improvement.Config{Name: "scratch", Calendar: halfCalendar{}, BatchSize: 100000})
	t.Logf("recompute from scratch: %v", time.Since(began))

	// Feeding events again never counts them twice.
	page, err := store.ReadEvents(ctx, 0, 1000)
	require.NoError(t, err)
	assert.Zero(t, inc.Apply(page))

	assert.Equal(t, scratch.Seq(), inc.Seq())
	require.Equal(t, improvement.StateOf(scratch), improvement.StateOf(inc))
	for _, q := range allQueries() {
		a, err := scratch.Compute(q)
		require.NoError(t, err)
		b, err := inc.Compute(q)
		require.NoError(t, err)
		require.Equal(t, a, b, q.String())
	}
	mttr, err := scratch.Compute(improvement.Query{KPI: improvement.ReopenRate})
	require.NoError(t, err)
	require.Len(t, mttr.Rows, 1)
	assert.InDelta(t, 0.1, mttr.Rows[0].Value, 0.03, "about one in ten incidents is reopened")
}
