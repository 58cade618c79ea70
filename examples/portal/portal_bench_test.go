package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// benchDesk is a seeded portal on the memory store with n open incidents in
// the service desk's queue.
func benchDesk(b *testing.B, n int) *Server {
	b.Helper()
	ctx := context.Background()
	srv, err := NewServer(ctx, memory.New(), Config{Clock: itsm.NewFakeClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))})
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := srv.Seed(ctx); err != nil {
		b.Fatal(err)
	}
	carl := itsm.WithActor(ctx, srv.byID["carl"].Actor)
	for i := range n {
		inc := &operation.Incident{ShortDescription: "bench", Impact: 1 + i%3, Urgency: 1 + i/3%3, AssignmentGroup: GroupServiceDesk}
		if err := srv.desk.OpenIncident(carl, inc, storage.Command{}); err != nil {
			b.Fatal(err)
		}
	}
	if err := srv.syncEngines(ctx); err != nil {
		b.Fatal(err)
	}
	return srv
}

func serve(b *testing.B, srv *Server, method, path, user string, form url.Values) {
	cookie, tok := srv.testSession(user)
	var body *strings.Reader
	if form != nil {
		form.Set("csrf", tok)
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req := httptest.NewRequest(method, path, body)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(cookie)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code >= 400 {
		b.Fatalf("%s %s: %d", method, path, rec.Code)
	}
}

// BenchmarkQueue renders the agent's queues page (200 open incidents, three
// queues of up to 50) against the baseline of the same pillar calls without
// HTTP and templates.
func BenchmarkQueue(b *testing.B) {
	b.Run("desk", func(b *testing.B) {
		srv := benchDesk(b, 200)
		ctx := itsm.WithActor(context.Background(), srv.byID["ann"].Actor)
		b.ReportAllocs()
		for b.Loop() {
			if err := srv.syncEngines(ctx); err != nil {
				b.Fatal(err)
			}
			if _, _, err := srv.desk.UnassignedInMyGroups(ctx, storage.Paging{Limit: 50}); err != nil {
				b.Fatal(err)
			}
			if _, _, err := srv.desk.MyOpenIncidents(ctx, storage.Paging{Limit: 50}); err != nil {
				b.Fatal(err)
			}
			if _, _, err := srv.desk.BreachingSoon(ctx, srv.within, storage.Paging{Limit: 50}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("portal", func(b *testing.B) {
		srv := benchDesk(b, 200)
		b.ReportAllocs()
		for b.Loop() {
			serve(b, srv, http.MethodGet, "/queue", "ann", nil)
		}
	})
}

// BenchmarkRaise raises an incident through the form against the baseline
// of Desk.OpenIncident alone.
func BenchmarkRaise(b *testing.B) {
	b.Run("desk", func(b *testing.B) {
		srv := benchDesk(b, 0)
		ctx := itsm.WithActor(context.Background(), srv.byID["carl"].Actor)
		b.ReportAllocs()
		for b.Loop() {
			inc := &operation.Incident{ShortDescription: "Printer jam", Impact: 2, Urgency: 2, AssignmentGroup: GroupServiceDesk, ContactType: "self_service"}
			if err := srv.desk.OpenIncident(ctx, inc, storage.Command{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("portal", func(b *testing.B) {
		srv := benchDesk(b, 0)
		b.ReportAllocs()
		for b.Loop() {
			serve(b, srv, http.MethodPost, "/incidents", "carl", url.Values{"short_description": {"Printer jam"}, "impact": {"2"}, "urgency": {"2"}})
		}
	})
}

// BenchmarkDashboard renders the KPI table against the baseline of the
// engine's Summary over the same range.
func BenchmarkDashboard(b *testing.B) {
	b.Run("engine", func(b *testing.B) {
		srv := benchDesk(b, 200)
		ctx := context.Background()
		from, to := srv.kpiRange()
		b.ReportAllocs()
		for b.Loop() {
			if err := srv.syncEngines(ctx); err != nil {
				b.Fatal(err)
			}
			if _, err := srv.kpi.Summary(from, to); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("portal", func(b *testing.B) {
		srv := benchDesk(b, 200)
		b.ReportAllocs()
		for b.Loop() {
			serve(b, srv, http.MethodGet, "/dashboard", "ann", nil)
		}
	})
}
