package design_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/storage"
)

// dueFixture holds n running clocks whose next checks are spread over a
// year from monday, so that exactly 1,000 are due at dueNow.
type dueFixture struct {
	f      fixture
	n      int
	dueNow time.Time
	checks []time.Time
}

var (
	dueOnce sync.Once
	dueFix  *dueFixture
)

func clockCount() int {
	if os.Getenv("PILLARS_SCALE") == "1" {
		return 1_000_000
	}
	return 20_000
}

func buildDue(tb testing.TB) *dueFixture {
	dueOnce.Do(func() {
		n := clockCount()
		f := newFixture(tb)
		step := 365 * 24 * time.Hour / time.Duration(n)
		ctx := as(agent)
		d := &dueFixture{f: f, n: n, checks: make([]time.Time, 0, n)}
		for i := range n {
			next := monday.Add(time.Duration(i+1) * step).Truncate(time.Microsecond)
			c := &design.Clock{DefinitionID: "resolution", Type: design.SLA, Metric: design.Resolution,
				TaskKind: "incident", TaskID: fmt.Sprintf("inc-%07d", i), Priority: 1, Target: 4 * time.Hour,
				StartTime: monday, RunningSince: monday, DueAt: next, NextCheckAt: next}
			if err := f.engine.Clocks().Create(ctx, c, storage.Command{}); err != nil {
				tb.Fatal(err)
			}
			d.checks = append(d.checks, next)
		}
		d.dueNow = d.checks[999]
		dueFix = d
	})
	return dueFix
}

var sinkClocks []*design.Clock

// BenchmarkDue finds the 1,000 due clocks among n running ones (20,000 by
// default, 1,000,000 with PILLARS_SCALE=1): through the engine, through the
// raw store with the same query, and with a hand-written loop over the
// next-check times held in a slice.
func BenchmarkDue(b *testing.B) {
	d := buildDue(b)
	ctx := context.Background()
	b.Run(fmt.Sprintf("engine/%d", d.n), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			got, _, err := d.f.engine.Due(ctx, d.dueNow, storage.MaxLimit, "")
			if err != nil || len(got) != 1000 {
				b.Fatalf("%d clocks, %v", len(got), err)
			}
			sinkClocks = got
		}
	})
	b.Run(fmt.Sprintf("raw-store/%d", d.n), func(b *testing.B) {
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
	b.Run(fmt.Sprintf("slice-scan/%d", d.n), func(b *testing.B) {
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

// TestDueAtScale reports how long finding the due clocks takes; it runs
// with PILLARS_SCALE=1 only (building a million clocks takes a while).
func TestDueAtScale(t *testing.T) {
	if os.Getenv("PILLARS_SCALE") != "1" {
		t.Skip("set PILLARS_SCALE=1 to build 1,000,000 clocks")
	}
	began := time.Now()
	d := buildDue(t)
	built := time.Since(began)
	var best time.Duration
	for range 5 {
		s := time.Now()
		got, _, err := d.f.engine.Due(context.Background(), d.dueNow, storage.MaxLimit, "")
		el := time.Since(s)
		if err != nil || len(got) != 1000 {
			t.Fatalf("%d clocks, %v", len(got), err)
		}
		if best == 0 || el < best {
			best = el
		}
	}
	t.Logf("%d clocks built in %s; Due found the 1,000 due in %s (best of 5)", d.n, built.Round(time.Millisecond), best)
}
