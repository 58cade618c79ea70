package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// TestRolesInChromiumOnAPhone drives the portal at a phone's width (390
// CSS pixels) as a caller, an agent and a change manager: paging through
// 61 tickets, a refused form focusing its marked field, taking an
// incident, deciding on a change; no page may scroll sideways, even with
// a 150-character word in a title.
func TestRolesInChromiumOnAPhone(t *testing.T) {
	needChromium(t)
	ctx := context.Background()
	clock := itsm.NewFakeClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	srv, err := NewServer(ctx, memory.New(), Config{Clock: clock})
	require.NoError(t, err)
	seeded, _, err := srv.Seed(ctx)
	require.NoError(t, err)
	carlCtx := itsm.WithActor(ctx, srv.byID["carl"].Actor)
	long := strings.Repeat("W", 150)
	var longID string
	for i := range 60 {
		clock.Advance(time.Minute)
		title := "ticket " + strconv.Itoa(i)
		if i == 59 {
			title = "word " + long
		}
		inc := &operation.Incident{ShortDescription: title, Impact: 3, Urgency: 3, AssignmentGroup: GroupServiceDesk}
		require.NoError(t, srv.desk.OpenIncident(carlCtx, inc, storage.Command{}))
		longID = inc.ID
	}
	ts := httptest.NewServer(caughtUp(t, srv))
	defer ts.Close()

	bctx := newBrowser(t, 50*time.Second)

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
	submit := func(step, button string, status int) {
		t.Helper()
		res, err := chromedp.RunResponse(bctx, chromedp.Click(chromedp.CSS(button)))
		require.NoError(t, err, step)
		require.Equal(t, int64(status), res.Status, step)
	}
	open := func(path, sel string) {
		t.Helper()
		do("open "+path, chromedp.Navigate(ts.URL+path), chromedp.WaitReady(chromedp.CSS(sel)))
	}
	// fits asserts the page does not scroll sideways at the phone's width
	// and passes the accessibility check.
	fits := func(what string) {
		t.Helper()
		w, err := chromedp.Run(bctx, chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth]`))
		require.NoError(t, err, what)
		require.Len(t, w, 2)
		assert.LessOrEqual(t, w[0], w[1], "%s scrolls sideways: %d px wide in a %d px window", what, w[0], w[1])
		accessible(t, bctx, what)
	}
	login := func(user string) {
		t.Helper()
		do("login page", chromedp.Navigate(ts.URL+"/login"), chromedp.WaitVisible(chromedp.ID("user")),
			chromedp.SetValue(chromedp.ID("user"), user))
		submit("login as "+user, "#login", http.StatusOK)
	}
	do("a phone's viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))

	// The caller pages through his 61 open tickets.
	login("carl")
	fits("my tickets")
	assert.Equal(t, "1–50 of 61", read("#count"))
	assert.Contains(t, read("#list"), "word WWW", "newest first: the long-titled ticket")
	submit("next page", "#next", http.StatusOK)
	assert.Equal(t, "51–61 of 61", read("#count"))
	assert.Contains(t, read("#list"), "Outlook keeps asking", "the oldest is reachable")
	fits("page two")

	// The long word wraps on the incident page; cancelling without a
	// reason marks the field and focuses it.
	open("/incidents/"+longID, "#number")
	fits("incident with a 150-character word")
	submit("cancel without a reason", "#cancel", http.StatusUnprocessableEntity)
	focused, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.activeElement && document.activeElement.id`))
	require.NoError(t, err)
	assert.Equal(t, "cancel_reason", focused, "focus lands on the first marked field")
	assert.Contains(t, read(".field-error"), "Say why it is no longer needed")
	fits("incident with a refused cancel")
	do("give a reason", chromedp.SendKeys(chromedp.ID("cancel_reason"), "raised twice"))
	submit("cancel", "#cancel", http.StatusOK)
	assert.Equal(t, stateLabel(operation.StateCanceled), read("#state"))
	open("/search?q=outlook", "#hits")
	fits("search results")
	assert.Contains(t, read("#hits"), "Outlook keeps asking")
	open("/knowledge/"+seeded.OutlookArticle, "#article-body")
	fits("knowledge article")
	open("/profile", "#time_zone")
	fits("settings")

	// The agent filters the open incidents oldest first and takes one.
	login("ann")
	fits("queues")
	assert.Contains(t, read("#unassigned"), "response:", "SLA countdowns in the queue")
	open("/incidents?state=open&sort=oldest", "#count")
	fits("incident list")
	assert.Equal(t, "1–50 of 60", read("#count"))
	open("/incidents/"+seeded.Incident, "#number")
	fits("agent's incident page")
	submit("take", "#take", http.StatusOK)
	assert.Equal(t, stateLabel(operation.StateInProgress), read("#state"))
	assert.Contains(t, read("#assignment"), "Ann Agent")

	open("/notifications", "#main")
	fits("notifications")

	// The change manager approves the firmware change from its page.
	login("mia")
	fits("change calendar")
	open("/changes/"+seeded.FirmwareChange, "#state")
	fits("change page")
	do("comment", chromedp.SendKeys(chromedp.CSS(".decide textarea"), "go ahead"))
	submit("approve", ".approve", http.StatusOK)
	assert.Contains(t, read(".decisions"), "Mia Manager approved")
	fits("approved change")
	open("/dashboard", "#kpis")
	fits("dashboard")
}
