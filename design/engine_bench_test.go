package design_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/sqlite"
)

// dueFixture holds n running clocks whose next checks are spread over a
// year from monday, so that exactly 1,000 are due at dueNow.
type dueFixture struct {
	f      fixture
	n      int
	dueNow time.Time
	checks []time.Time
	built  time.Duration
}

func clockCount() int {
	if os.Getenv("PILLARS_SCALE") == "1" {
		return 1_000_000
	}
	return 20_000
}

// stores lists the backends the Due figures are taken on.
func stores(tb testing.TB) map[string]func() storage.Backend {
	return map[string]func() storage.Backend{
		"memory": func() storage.Backend { return memory.New() },
		"sqlite": func() storage.Backend {
			st, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "due.db"), sqlite.WithSynchronous("NORMAL"))
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { _ = st.Close() })
			return st
		},
	}
}

// buildDue bulk-loads n running clocks with storage.Import (the clocks'
// creation through the engine is measured by the other tests; here only the
// query is under test).
func buildDue(tb testing.TB, store storage.Backend) *dueFixture {
	began := time.Now()
	n := clockCount()
	f := newFixtureOn(tb, store)
	step := 365 * 24 * time.Hour / time.Duration(n)
	d := &dueFixture{f: f, n: n, checks: make([]time.Time, 0, n)}
	coll := f.engine.Clocks().Collection()
	batch := make([]storage.Document, 0, 10_000)
	flush := func() {
		if err := storage.Import(context.Background(), store, batch, nil); err != nil {
			tb.Fatal(err)
		}
		batch = batch[:0]
	}
	for i := range n {
		next := monday.Add(time.Duration(i+1) * step).Truncate(time.Microsecond)
		c := &design.Clock{Record: itsm.Record{ID: itsm.NewID(), Version: 1, State: design.StageInProgress, CreatedAt: monday, UpdatedAt: monday},
			DefinitionID: "resolution", Type: design.SLA, Metric: design.Resolution,
			TaskKind: "incident", TaskID: fmt.Sprintf("inc-%07d", i), Priority: 1, Target: 4 * time.Hour,
			StartTime: monday, RunningSince: monday, DueAt: next, NextCheckAt: next}
		doc, err := coll.Encode(c)
		if err != nil {
			tb.Fatal(err)
		}
		batch = append(batch, doc)
		d.checks = append(d.checks, next)
		if len(batch) == cap(batch) {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
	d.dueNow = d.checks[999]
	d.built = time.Since(began)
	return d
}

var sinkClocks []*design.Clock

// BenchmarkDue finds the 1,000 due clocks among n running ones (20,000 by
// default, 1,000,000 with PILLARS_SCALE=1) on each store: through the
// engine, through the raw store with the same query, and with a
// hand-written loop over the next-check times held in a slice.
func BenchmarkDue(b *testing.B) {
	for name, open := range stores(b) {
		d := buildDue(b, open())
		ctx := context.Background()
		b.Run(fmt.Sprintf("%s/engine/%d", name, d.n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got, _, err := d.f.engine.Due(ctx, d.dueNow, storage.MaxLimit, "")
				if err != nil || len(got) != 1000 {
					b.Fatalf("%d clocks, %v", len(got), err)
				}
				sinkClocks = got
			}
		})
		b.Run(fmt.Sprintf("%s/raw-store/%d", name, d.n), func(b *testing.B) {
			b.ReportAllocs()
			q := storage.Query{Kind: design.ClockKind, Filters: []storage.Filter{
				storage.Eq("state", storage.String(design.StageInProgress)),
				storage.Gte("next_check_at", storage.Time(time.Unix(0, 0))),
				storage.Lte("next_check_at", storage.Time(d.dueNow)),
			}, Sort: []storage.Sort{{Field: "next_check_at"}}, Limit: storage.MaxLimit}
			for b.Loop() {
				page, err := d.f.store.Query(ctx, q)
				if err != nil || len(page.Docs) != 1000 {
					b.Fatalf("%d docs, %v", len(page.Docs), err)
				}
			}
		})
		b.Run(fmt.Sprintf("%s/slice-scan/%d", name, d.n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				k := 0
				for _, t := range d.checks {
					if !t.After(d.dueNow) {
						k++
					}
				}
				if k != 1000 {
					b.Fatal(k)
				}
			}
		})
	}
}

// TestDueAtScale reports how long finding the 1,000 due clocks takes among
// 1,000,000 on each store; it runs with PILLARS_SCALE=1 only.
func TestDueAtScale(t *testing.T) {
	if os.Getenv("PILLARS_SCALE") != "1" {
		t.Skip("set PILLARS_SCALE=1 to build 1,000,000 clocks per store")
	}
	for name, open := range stores(t) {
		d := buildDue(t, open())
		var best, worst time.Duration
		for range 5 {
			s := time.Now()
			got, _, err := d.f.engine.Due(context.Background(), d.dueNow, storage.MaxLimit, "")
			el := time.Since(s)
			if err != nil || len(got) != 1000 {
				t.Fatalf("%s: %d clocks, %v", name, len(got), err)
			}
			best, worst = min(best, el), max(worst, el)
			if best == 0 {
				best = el
			}
		}
		t.Logf("%s: %d clocks loaded in %s; Due found the 1,000 due in %s (best of 5, worst %s)",
			name, d.n, d.built.Round(time.Millisecond), best, worst)
	}
}

// TestEngineOnSQLite runs random histories through the engine on SQLite:
// the same code, another store.
func TestEngineOnSQLite(t *testing.T) {
	resume := resolutionSLA()
	open := stores(t)["sqlite"]
	f := newFixtureOn(t, open(), resume)
	inc := &incident{ShortDescription: "disk full", Priority: 1}
	require := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	require(f.incidents.Create(as(agent), inc, storage.Command{}))
	f.clock.Advance(time.Hour)
	_, err := f.incidents.Fire(as(agent), inc.ID, "hold", storage.Command{}, func(i *incident) error { i.HoldReason = "awaiting_vendor"; return nil })
	require(err)
	f.clock.Advance(2 * time.Hour)
	_, err = f.incidents.Fire(as(agent), inc.ID, "resume", storage.Command{}, func(i *incident) error { i.HoldReason = ""; return nil })
	require(err)
	f.sync(t)
	c := f.clockOf(t, inc.ID, "resolution")
	if c.State != design.StageInProgress || c.ElapsedBefore != time.Hour || !c.DueAt.Equal(monday.Add(6*time.Hour)) {
		t.Fatalf("clock on sqlite: %s elapsed %s due %s", c.State, c.ElapsedBefore, c.DueAt)
	}
	f.clock.Advance(2 * time.Hour)
	n, err := f.engine.Check(context.Background(), f.clock.Now())
	require(err)
	c = f.clockOf(t, inc.ID, "resolution")
	if n != 1 || len(c.Warnings) != 2 {
		t.Fatalf("check on sqlite: %d clocks, warnings %v", n, c.Warnings)
	}
	ids, _, err := f.engine.BreachingSoon(context.Background(), f.clock.Now(), time.Hour, 10, "")
	require(err)
	if len(ids) != 1 || ids[0] != inc.ID {
		t.Fatalf("breaching soon on sqlite: %v", ids)
	}
}
