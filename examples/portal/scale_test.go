package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/improvement"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// TestScale fills the desk with many incidents (PORTAL_SCALE_N, default
// 50,000), a tenth of them resolved, and measures what a person waits for:
// the engines catching up with the log, the queue page and the dashboard.
// It runs only with PILLARS_SCALE=1.
func TestScale(t *testing.T) {
	if os.Getenv("PILLARS_SCALE") != "1" {
		t.Skip("scale test: set PILLARS_SCALE=1")
	}
	n := 50_000
	if v, err := strconv.Atoi(os.Getenv("PORTAL_SCALE_N")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	clock := itsm.NewFakeClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	srv, err := NewServer(ctx, memory.New(), Config{Clock: clock})
	require.NoError(t, err)
	_, _, err = srv.Seed(ctx)
	require.NoError(t, err)
	carl := itsm.WithActor(ctx, srv.byID["carl"].Actor)
	ann := itsm.WithActor(ctx, srv.byID["ann"].Actor)

	start := time.Now()
	for i := range n {
		inc := &operation.Incident{ShortDescription: "scale " + strconv.Itoa(i), Impact: 1 + i%3, Urgency: 1 + i/3%3,
			AssignmentGroup: GroupServiceDesk}
		require.NoError(t, srv.desk.OpenIncident(carl, inc, storage.Command{}))
		if i%10 == 0 {
			_, err := srv.desk.AssignIncident(ann, inc.ID, GroupServiceDesk, "ann", storage.Command{})
			require.NoError(t, err)
			_, err = srv.desk.ResolveIncident(ann, inc.ID, operation.ResolvedRemotely, "scale", storage.Command{})
			require.NoError(t, err)
		}
		if i%1000 == 999 {
			clock.Advance(time.Minute)
		}
	}
	write := time.Since(start)

	start = time.Now()
	require.NoError(t, srv.syncEngines(ctx))
	catchUp := time.Since(start)

	page := func(path, user string) (time.Duration, string) {
		var times []time.Duration
		var body string
		for range 5 {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			cookie, _ := srv.testSession(user)
			req.AddCookie(cookie)
			rec := httptest.NewRecorder()
			t0 := time.Now()
			srv.ServeHTTP(rec, req)
			times = append(times, time.Since(t0))
			require.Equal(t, http.StatusOK, rec.Code, path)
			body = rec.Body.String()
		}
		slices.Sort(times)
		return times[len(times)/2], body
	}
	queue, body := page("/queue", "ann")
	assert.Equal(t, 50*2+1, strings.Count(body, `<tr><td><a href="/incidents/`)+1, "unassigned and breaching pages of 50")
	dash, body := page("/dashboard", "ann")
	assert.Contains(t, body, `id="kpi-incident_volume"`)
	chart, _ := page("/charts/mttr-by-priority.svg", "ann")
	my, _ := page("/my", "carl")

	// Where the queue page's time goes: the pillar calls alone.
	timed := func(f func() error) time.Duration {
		t0 := time.Now()
		require.NoError(t, f())
		return time.Since(t0)
	}
	unassigned := timed(func() error { _, _, err := srv.desk.UnassignedInMyGroups(ann, storage.Paging{Limit: 50}); return err })
	breaching := timed(func() error {
		_, _, err := srv.desk.BreachingSoon(ann, srv.within, storage.Paging{Limit: 50})
		return err
	})
	callers := timed(func() error {
		_, _, err := srv.desk.Incidents().Query(carl, storage.Query{Kind: operation.KindIncident,
			Filters: []storage.Filter{storage.Eq("caller_id", storage.String("carl"))},
			Sort:    []storage.Sort{{Field: "created_at", Desc: true}}, Limit: 50})
		return err
	})
	t.Logf("pillar calls alone: unassigned in my groups %v, breaching soon %v, a caller's incidents %v",
		unassigned.Round(time.Microsecond), breaching.Round(time.Microsecond), callers.Round(time.Microsecond))

	vol, err := srv.kpi.Compute(improvement.Query{KPI: improvement.IncidentVolume})
	require.NoError(t, err)
	require.Len(t, vol.Rows, 1)
	assert.Equal(t, int64(n+1), vol.Rows[0].Count)
	t.Logf("%d incidents (%d resolved): written in %v (%.0f/s); SLA and KPI engines caught up in %v; median page: queue %v, dashboard %v, MTTR chart %v, my tickets %v",
		n, (n+9)/10, write.Round(time.Millisecond), float64(n)/write.Seconds(), catchUp.Round(time.Millisecond),
		queue.Round(time.Microsecond), dash.Round(time.Microsecond), chart.Round(time.Microsecond), my.Round(time.Microsecond))
}
