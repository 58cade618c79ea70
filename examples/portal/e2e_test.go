package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// TestEndToEndInChromium drives the portal in headless Chromium as people
// would: Carl raises an incident (first forgetting the description),
// comments on it and orders a laptop (first with a bad form), Ann
// takes it from her queue and resolves it, and the dashboard shows the MTTR
// the improvement pillar computed from the event log.
func TestEndToEndInChromium(t *testing.T) {
	needChromium(t)
	ctx := context.Background()
	clock := itsm.NewFakeClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	srv, err := NewServer(ctx, memory.New(), Config{Clock: clock})
	require.NoError(t, err)
	seeded, _, err := srv.Seed(ctx)
	require.NoError(t, err)
	ts := httptest.NewServer(caughtUp(t, srv))
	defer ts.Close()

	bctx := newBrowser(t, 60*time.Second)

	do := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(bctx, actions...), step)
	}
	read := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err, sel)
		return strings.TrimSpace(s)
	}
	// submit clicks a button that posts a form and waits for the page the
	// post leads to (after its redirect), checking the page's status: the
	// incident page before and after a click look alike, so waiting for an
	// element would race with the navigation.
	submit := func(step, button string, status int) {
		t.Helper()
		res, err := chromedp.RunResponse(bctx, chromedp.Click(chromedp.CSS(button)))
		require.NoError(t, err, step)
		require.Equal(t, int64(status), res.Status, step)
	}
	// check runs axe-core on the page in hand (see accessible).
	check := func(what string) {
		t.Helper()
		accessible(t, bctx, what)
	}
	login := func(user string) {
		t.Helper()
		do("login page", chromedp.Navigate(ts.URL+"/login"), chromedp.WaitVisible(chromedp.ID("user")))
		check("login page")
		do("pick "+user, chromedp.SetValue(chromedp.ID("user"), user))
		submit("login as "+user, "#login", http.StatusOK)
		check("first page of " + user)
	}

	// Carl raises an incident; the empty form comes back with the problem
	// next to the field.
	login("carl")
	assert.Contains(t, read("#me"), "Carl Caller")
	do("incident form", chromedp.Navigate(ts.URL+"/incidents/new"), chromedp.WaitVisible(chromedp.ID("short_description")))
	check("incident form")
	submit("empty form", "#submit", http.StatusUnprocessableEntity)
	assert.Contains(t, read(".field-error"), "say in a few words")
	check("incident form with errors")
	do("fill the form",
		chromedp.SendKeys(chromedp.ID("short_description"), "Printer on floor 3 prints blank pages"),
		chromedp.SetValue(chromedp.ID("impact"), "2"),
		chromedp.SetValue(chromedp.ID("urgency"), "2"),
	)
	// While he typed, the knowledge article on blank pages was offered
	// (app.js asks /knowledge/suggest); the draft on toner is not.
	do("suggestions", chromedp.WaitVisible(chromedp.ID("similar")))
	similar := read("#similar")
	assert.Contains(t, similar, "Blank or faded pages: replace the toner cartridge")
	assert.NotContains(t, similar, "draft")
	check("incident form with suggestions")
	submit("raise", "#submit", http.StatusOK)
	number := read("#number")
	incURL, err := chromedp.Run(bctx, chromedp.Location())
	require.NoError(t, err)
	incID := incURL[strings.LastIndex(incURL, "/")+1:]
	assert.Regexp(t, `^INC\d{7}$`, number)
	assert.Equal(t, stateLabel(operation.StateNew), read("#state"))
	check("caller's incident page")
	// His browser is in New York: the settings page offers that zone
	// (app.js), he saves it, and his incident's times are in it.
	do("settings", browserZone("America/New_York"), chromedp.Navigate(ts.URL+"/profile"), chromedp.WaitVisible(chromedp.ID("time_zone")))
	zone, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById("time_zone").value`))
	require.NoError(t, err)
	assert.Equal(t, "America/New_York", zone, "the browser's zone is proposed")
	check("settings page")
	submit("save the zone", "#save-profile", http.StatusOK)
	assert.Equal(t, "America/New_York", read("#current-zone"))
	do("back to the incident", chromedp.Navigate(ts.URL+"/incidents/"+incID), chromedp.WaitVisible(chromedp.ID("number")))
	assert.Contains(t, read("#incident"), "Wed 25 Nov 04:00 EST", "opened at 09:00 UTC")
	assert.Equal(t, "Times in America/New_York · change", read("#zone"))

	// He adds a comment from his incident's page.
	do("comment", chromedp.SendKeys(chromedp.ID("text"), "It is the colour printer"))
	submit("comment", "#comment", http.StatusOK)
	assert.Contains(t, read(".comment"), "It is the colour printer")

	// He orders a laptop: the form comes back with the catalogue's
	// problems next to the fields, then the request shows his answers.
	do("item form", chromedp.Navigate(ts.URL+"/catalog/"+seeded.LaptopItem), chromedp.WaitVisible(chromedp.ID("f-model")))
	check("catalogue item form")
	do("half the form", chromedp.SetValue(chromedp.ID("f-quantity"), "9"))
	submit("order refused", "#submit", http.StatusUnprocessableEntity)
	errs, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll(".field-error")).map(e => e.textContent)`))
	require.NoError(t, err)
	assert.Contains(t, strings.Join(errs, "|"), "is required")
	assert.Contains(t, strings.Join(errs, "|"), "is above 3")
	check("catalogue item form with errors")
	do("fill the order",
		chromedp.SetValue(chromedp.ID("f-model"), "standard"),
		chromedp.SetValue(chromedp.ID("f-quantity"), "1"),
		chromedp.SendKeys(chromedp.ID("f-justification"), "replacement"),
	)
	submit("order", "#submit", http.StatusOK)
	assert.Equal(t, stateLabel(operation.StateInFulfillment), read("#state"))
	assert.Contains(t, read("#answers"), "replacement")
	check("request page")
	// He attaches his manager's approval to the request: first a program,
	// refused next to the field, then the text file.
	dir := t.TempDir()
	exe, note := filepath.Join(dir, "setup.exe"), filepath.Join(dir, "approval.txt")
	require.NoError(t, os.WriteFile(exe, []byte("MZ\x90\x00\x03\x00"), 0o600))
	require.NoError(t, os.WriteFile(note, []byte("Approved by Dana, head of finance"), 0o600))
	do("choose a program", chromedp.SetUploadFiles(chromedp.ID("file"), []string{exe}))
	submit("attach a program", "#attach", http.StatusUnprocessableEntity)
	assert.Contains(t, read(".field-error"), "This kind of file is not accepted")
	check("request with a refused attachment")
	do("choose the note", chromedp.SetUploadFiles(chromedp.ID("file"), []string{note}))
	submit("attach the note", "#attach", http.StatusOK)
	assert.Contains(t, read("#files"), "approval.txt")

	// Ann finds it in her queue, takes it and resolves it.
	clock.Advance(30 * time.Minute)
	submit("log out", "header form button", http.StatusOK)
	login("ann")
	do("queue", chromedp.Navigate(ts.URL+"/queue"), chromedp.WaitVisible(chromedp.ID("unassigned")))
	assert.Contains(t, read("#unassigned"), "Printer on floor 3")
	check("agent's queues")
	_, err = chromedp.RunResponse(bctx, chromedp.Click(chromedp.Search(`//table[@id="unassigned"]//a[text()="`+number+`"]`)))
	require.NoError(t, err, "open the incident from the queue")
	submit("take", "#take", http.StatusOK)
	assert.Equal(t, stateLabel(operation.StateInProgress), read("#state"))
	assert.Contains(t, read("#assignment"), "Ann Agent")
	assert.Contains(t, read(".comment"), "It is the colour printer", "the agent reads the caller's comment")
	check("agent's incident page")

	clock.Advance(90 * time.Minute)
	do("resolution",
		chromedp.SetValue(chromedp.ID("resolution_code"), operation.ResolvedPermanently),
		chromedp.SendKeys(chromedp.ID("resolution_notes"), "Replaced the toner cartridge"),
	)
	submit("resolve", "#resolve", http.StatusOK)
	assert.Equal(t, stateLabel(operation.StateResolved), read("#state"))
	assert.Contains(t, read("#resolution"), "Replaced the toner cartridge")
	check("resolved incident")

	// The seeded incident has waited past its targets: the scheduler
	// escalates it and the queue flags it.
	escalated, err := srv.Escalate(ctx)
	require.NoError(t, err)
	require.Positive(t, escalated)
	do("queue with an escalation", chromedp.Navigate(ts.URL+"/queue"), chromedp.WaitVisible(chromedp.CSS(".escalated")))
	assert.Contains(t, read("#unassigned .escalated"), "Escalated")
	check("queues with an escalation")

	// The dashboard shows the MTTR of the resolved incident (two hours),
	// with the improvement pillar's charts.
	do("dashboard", chromedp.Navigate(ts.URL+"/dashboard"), chromedp.WaitVisible(chromedp.ID("kpi-mttr")))
	assert.Equal(t, "2.00 h", read("#kpi-mttr .value"))
	assert.Equal(t, "1", read("#kpi-mttr .count"))
	charts, err := chromedp.Run(bctx, chromedp.Evaluate[int](
		`Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length`))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, charts, 2, "the incident volume and MTTR charts load")
	check("dashboard")
	// The dark palette's contrast, on the pages with the most colours.
	do("dark mode", darkMode(true))
	check("dashboard in dark mode")
	do("queue in dark mode", chromedp.Navigate(ts.URL+"/queue"), chromedp.WaitVisible(chromedp.CSS(".escalated")))
	check("queues in dark mode")
	do("incident list in dark mode", chromedp.Navigate(ts.URL+"/incidents?state=open"), chromedp.WaitVisible(chromedp.ID("list")))
	check("incident list in dark mode")
}
