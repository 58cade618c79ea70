package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// The portal is an http.Handler over any store: seed the demo desk, log in
// with the user picker and look at an incident; a caller trying an agent's
// action gets the kernel authoriser's refusal as a 403 page.
func ExampleNewServer() {
	ctx := context.Background()
	clock := itsm.NewFakeClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	srv, err := NewServer(ctx, memory.New(), Config{Clock: clock})
	if err != nil {
		panic(err)
	}
	seeded, _, err := srv.Seed(ctx)
	if err != nil {
		panic(err)
	}

	cookies := map[string]*http.Cookie{} // a browser's jar: the newest cookie of each name
	token := ""                          // the CSRF token of the last page's forms
	send := func(method, path string, form url.Values) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		for _, c := range rec.Result().Cookies() {
			cookies[c.Name] = c
		}
		if m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(rec.Body.String()); m != nil {
			token = m[1]
		}
		return rec
	}
	csrf := func() string { return token }
	send("GET", "/login", nil)
	rec := send("POST", "/login", url.Values{"csrf": {csrf()}, "user": {"carl"}})
	fmt.Println("login:", rec.Code, rec.Header().Get("Location"))

	rec = send("GET", "/incidents/"+seeded.Incident, nil)
	state := regexp.MustCompile(`id="state" data-state="([^"]*)"`).FindStringSubmatch(rec.Body.String())
	fmt.Println("incident page:", rec.Code, "state", state[1])

	rec = send("POST", "/incidents/"+seeded.Incident+"/resolve", url.Values{"csrf": {csrf()}})
	refusal := regexp.MustCompile(`role="alert">([^<]*)<`).FindStringSubmatch(rec.Body.String())
	fmt.Println("caller resolves:", rec.Code, refusal[1])

	rec = send("POST", "/incidents/"+seeded.Incident+"/resolve", url.Values{"csrf": {"forged"}})
	fmt.Println("forged form:", rec.Code)
	// Output:
	// login: 303 /
	// incident page: 200 state new
	// caller resolves: 403 forbidden: carl may not resolve incident: no role grants incident:resolve
	// forged form: 403
}
