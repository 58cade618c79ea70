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
	"github.com/pillars-itsm/pillars/storage/memory"
)

// FuzzRaiseIncident posts arbitrary incident forms: the portal answers a
// redirect (raised) or 422 (field problems), never a server error, and never
// echoes markup unescaped.
func FuzzRaiseIncident(f *testing.F) {
	f.Add("Printer jam", "paper everywhere", "2", "2", "")
	f.Add("", "", "", "", "")
	f.Add(`<script>alert(1)</script>`, `<img src=x onerror=alert(1)>`, "0", "-1", "nope")
	f.Add(strings.Repeat("é", 200), "\x00\xff", "1", "3", "../../etc")
	f.Add("a", "b", "99999999999999999999", "1e3", " ")
	ctx := context.Background()
	srv, err := NewServer(ctx, memory.New(), Config{Clock: itsm.NewFakeClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))})
	if err != nil {
		f.Fatal(err)
	}
	if _, _, err := srv.Seed(ctx); err != nil {
		f.Fatal(err)
	}
	cookie, tok := srv.testSession("carl")
	carl := itsm.WithActor(ctx, srv.byID["carl"].Actor) // who posts the forms, and may read what he raised
	f.Fuzz(func(t *testing.T, short, desc, impact, urgency, service string) {
		form := url.Values{"csrf": {tok}, "short_description": {short}, "description": {desc},
			"impact": {impact}, "urgency": {urgency}, "service_id": {service}}
		req := httptest.NewRequest(http.MethodPost, "/incidents", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusSeeOther:
			loc := rec.Header().Get("Location")
			if !strings.HasPrefix(loc, "/incidents/") {
				t.Fatalf("redirect to %q", loc)
			}
			inc, err := srv.desk.Incidents().Get(carl, strings.TrimPrefix(loc, "/incidents/"))
			if err != nil || inc.ShortDescription != short {
				t.Fatalf("raised incident not stored as posted: %v", err)
			}
		case http.StatusUnprocessableEntity:
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, form.Encode(), rec.Body.String())
		}
		// The layout's own script tag is the only markup of that kind.
		body := strings.ToLower(strings.Replace(rec.Body.String(), `<script src="/app.js" defer></script>`, "", 1))
		if strings.Contains(body, "<script") || strings.Contains(body, "<img") {
			t.Fatalf("markup echoed unescaped: %s", body)
		}
	})
}
