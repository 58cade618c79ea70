package operation_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/sqlite"
)

// Scale tests run only with PILLARS_SCALE=1; sizes can be lowered with
// PILLARS_SCALE_IMPORT and PILLARS_SCALE_QUEUE.
func scaleSize(t *testing.T, env string, def int) int {
	if os.Getenv("PILLARS_SCALE") != "1" {
		t.Skip("set PILLARS_SCALE=1 to run scale tests")
	}
	if v, err := strconv.Atoi(os.Getenv(env)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestScaleImport imports incidents with six history rows each (seven
// events) into the memory and SQLite stores, and compares with the store's
// raw bulk import of the same number of documents and events.
func TestScaleImport(t *testing.T) {
	n := scaleSize(t, "PILLARS_SCALE_IMPORT", 100_000)
	const batch = 1000
	for _, st := range []struct {
		name string
		open func(testing.TB) storage.Backend
	}{{"memory", func(testing.TB) storage.Backend { return memory.New() }}, {"sqlite", openSQLite}} {
		t.Run(st.name, func(t *testing.T) {
			prev := newStore
			newStore = st.open
			defer func() { newStore = prev }()

			f := newFixture(t)
			f.clock.Set(t0.Add(10 * 365 * 24 * time.Hour))
			start := time.Now()
			for done := 0; done < n; done += batch {
				rows := importBatch(min(batch, n-done), t0.Add(time.Duration(done)*time.Second))
				for i := range rows {
					rows[i].Ref = fmt.Sprintf("JSM-%d", done+i)
				}
				res, err := f.desk.ImportIncidents(as(migrate), rows, jiraStates)
				require.NoError(t, err)
				require.Empty(t, res.Errors)
			}
			desk := time.Since(start)

			g := newFixture(t)
			var rawTime time.Duration
			for done := 0; done < n; done += batch {
				docs, events := rawIncidents(t, g, min(batch, n-done))
				s := time.Now()
				require.NoError(t, storage.Import(context.Background(), g.store, docs, events))
				rawTime += time.Since(s)
			}
			dr, rr := float64(n)/desk.Seconds(), float64(n)/rawTime.Seconds()
			t.Logf("%s: %d incidents x 7 events: desk import %.1fs = %.0f incidents/s (%.0f events/s); raw bulk %.1fs = %.0f incidents/s; raw/desk %.1fx",
				st.name, n, desk.Seconds(), dr, dr*7, rawTime.Seconds(), rr, rr/dr)
		})
	}
}

// TestScaleQueue loads 1,000,000 incidents into SQLite (raw bulk import of
// their documents) and times the queue queries: one page of 50.
func TestScaleQueue(t *testing.T) {
	n := scaleSize(t, "PILLARS_SCALE_QUEUE", 1_000_000)
	ctx := context.Background()
	prev := newStore
	newStore = openSQLite
	if path := os.Getenv("PILLARS_SCALE_DB"); path != "" {
		// Keep the loaded database between runs.
		newStore = func(tb testing.TB) storage.Backend {
			s, err := sqlite.Open(ctx, path)
			require.NoError(tb, err)
			tb.Cleanup(func() { _ = s.Close() })
			return s
		}
	}
	defer func() { newStore = prev }()
	f := newFixture(t)
	coll := f.desk.Incidents().Collection()
	if page, err := f.store.Query(ctx, storage.Query{Kind: operation.KindIncident, Limit: 1}); err == nil && len(page.Docs) > 0 {
		n = 0 // already loaded
	}
	rng := rand.New(rand.NewPCG(1, 2))
	states := []string{"closed", "closed", "closed", "resolved", "new", "in_progress", "on_hold", "canceled"}
	start := time.Now()
	const chunk = 10_000
	for done := 0; done < n; done += chunk {
		docs := make([]storage.Document, 0, chunk)
		for i := done; i < min(n, done+chunk); i++ {
			inc := &operation.Incident{ShortDescription: "load", CallerID: "u" + strconv.Itoa(rng.IntN(50000)),
				Impact: 1 + rng.IntN(3), Urgency: 1 + rng.IntN(3), AssignmentGroup: "g" + strconv.Itoa(rng.IntN(50))}
			inc.Priority = inc.Impact + inc.Urgency - 1
			if rng.IntN(5) > 0 {
				inc.AssignedTo = "a" + strconv.Itoa(rng.IntN(1000))
			}
			inc.ID, inc.Version, inc.State = itsm.NewID(), 1, states[rng.IntN(len(states))]
			if inc.State == "on_hold" {
				inc.HoldReason = operation.HoldAwaitingCaller
			}
			inc.Number = itsm.FormatNumber("INC", int64(i+1))
			inc.CreatedAt = t0.Add(-time.Duration(rng.IntN(3*365*24)) * time.Hour)
			inc.UpdatedAt = inc.CreatedAt
			d, err := coll.Encode(inc)
			require.NoError(t, err)
			docs = append(docs, d)
		}
		require.NoError(t, storage.Import(ctx, f.store, docs, nil))
	}
	t.Logf("loaded %d incidents in %.1fs", n, time.Since(start).Seconds())
	if n == 0 {
		n = scaleSize(t, "PILLARS_SCALE_QUEUE", 1_000_000)
	}

	measure := func(name string, q func(i int) ([]*operation.Incident, string, error)) {
		var ds []time.Duration
		rows := 0
		for i := range 200 {
			s := time.Now()
			got, _, err := q(i)
			ds = append(ds, time.Since(s))
			require.NoError(t, err)
			rows += len(got)
		}
		slices.Sort(ds)
		t.Logf("%s over %d incidents: p50 %v, p95 %v, max %v (avg %.1f rows/page)", name, n,
			ds[len(ds)/2], ds[len(ds)*95/100], ds[len(ds)-1], float64(rows)/float64(len(ds)))
	}
	actor := func(i int) context.Context {
		return as(itsm.Actor{ID: "a" + strconv.Itoa(i*7%1000), Roles: []string{"agent"},
			Groups: []string{"g" + strconv.Itoa(i%50), "g" + strconv.Itoa((i+17)%50)}})
	}
	measure("my open incidents, page 1", func(i int) ([]*operation.Incident, string, error) {
		return f.desk.MyOpenIncidents(actor(i), storage.Paging{Limit: 50})
	})
	measure("unassigned in my groups, page 1", func(i int) ([]*operation.Incident, string, error) {
		return f.desk.UnassignedInMyGroups(actor(i), storage.Paging{Limit: 50})
	})
	measure("a caller's incidents (open first), page 1", func(i int) ([]*operation.Incident, string, error) {
		return f.desk.MyRequestedIncidents(as(itsm.Actor{ID: "u" + strconv.Itoa(i*251%50000), Roles: []string{"caller"}}), storage.Paging{Limit: 50})
	})
	measure("unassigned in my groups, page 2", func(i int) ([]*operation.Incident, string, error) {
		_, next, err := f.desk.UnassignedInMyGroups(actor(i), storage.Paging{Limit: 50})
		if err != nil || next == "" {
			return nil, "", err
		}
		return f.desk.UnassignedInMyGroups(actor(i), storage.Paging{Limit: 50, Cursor: next})
	})
}
