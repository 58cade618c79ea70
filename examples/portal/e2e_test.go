package main

import (
	"context"
	"net/http/httptest"
	"os"
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

// chromiumPath is where Debian's chromium package (installed by .ci/run)
// puts the browser.
const chromiumPath = "/usr/bin/chromium"

// TestEndToEndInChromium drives the portal in headless Chromium as people
// would: Carl raises an incident (first forgetting the description), Ann
// takes it from her queue and resolves it, and the dashboard shows the MTTR
// the improvement pillar computed from the event log.
func TestEndToEndInChromium(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("end-to-end browser test skipped: %s not found (install the Debian package chromium)", chromiumPath)
	}
	ctx := context.Background()
	clock := itsm.NewFakeClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	srv, err := NewServer(ctx, memory.New(), Config{Clock: clock})
	require.NoError(t, err)
	_, _, err = srv.Seed(ctx)
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	defer ts.Close()

	// The whole browser session is bounded: the allocator's context times out.
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(tctx,
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
	)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

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
	login := func(user string) {
		t.Helper()
		do("login as "+user,
			chromedp.Navigate(ts.URL+"/login"),
			chromedp.WaitVisible(chromedp.ID("user")),
			chromedp.SetValue(chromedp.ID("user"), user),
			chromedp.Click(chromedp.ID("login")),
			chromedp.WaitVisible(chromedp.ID("me")),
		)
	}

	// Carl raises an incident; the empty form comes back with the problem
	// next to the field.
	login("carl")
	assert.Contains(t, read("#me"), "Carl Caller")
	do("empty form",
		chromedp.Navigate(ts.URL+"/incidents/new"),
		chromedp.WaitVisible(chromedp.ID("short_description")),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.CSS(".field-error")),
	)
	assert.Contains(t, read(".field-error"), "say in a few words")
	do("raise",
		chromedp.SendKeys(chromedp.ID("short_description"), "Printer on floor 3 prints blank pages"),
		chromedp.SetValue(chromedp.ID("impact"), "2"),
		chromedp.SetValue(chromedp.ID("urgency"), "2"),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("number")),
	)
	number := read("#number")
	assert.Regexp(t, `^INC\d{7}$`, number)
	assert.Equal(t, operation.StateNew, read("#state"))

	// Ann finds it in her queue, takes it and resolves it.
	clock.Advance(30 * time.Minute)
	do("log out", chromedp.Click(chromedp.CSS("header form button")), chromedp.WaitVisible(chromedp.ID("user")))
	login("ann")
	do("queue", chromedp.Navigate(ts.URL+"/queue"), chromedp.WaitVisible(chromedp.ID("unassigned")))
	assert.Contains(t, read("#unassigned"), "Printer on floor 3")
	do("take",
		chromedp.Click(chromedp.Search(`//table[@id="unassigned"]//a[text()="`+number+`"]`)),
		chromedp.WaitVisible(chromedp.ID("take")),
		chromedp.Click(chromedp.ID("take")),
		chromedp.WaitVisible(chromedp.ID("assignment")),
	)
	assert.Equal(t, operation.StateInProgress, read("#state"))
	assert.Contains(t, read("#assignment"), "Ann Agent")

	clock.Advance(90 * time.Minute)
	do("resolve",
		chromedp.SetValue(chromedp.ID("resolution_code"), operation.ResolvedPermanently),
		chromedp.SendKeys(chromedp.ID("resolution_notes"), "Replaced the toner cartridge"),
		chromedp.Click(chromedp.ID("resolve")),
		chromedp.WaitVisible(chromedp.ID("resolution")),
	)
	assert.Equal(t, operation.StateResolved, read("#state"))
	assert.Contains(t, read("#resolution"), "Replaced the toner cartridge")

	// The dashboard shows the MTTR of the resolved incident (two hours),
	// with the improvement pillar's charts.
	do("dashboard", chromedp.Navigate(ts.URL+"/dashboard"), chromedp.WaitVisible(chromedp.ID("kpi-mttr")))
	assert.Equal(t, "2.00 h", read("#kpi-mttr .value"))
	assert.Equal(t, "1", read("#kpi-mttr .count"))
	charts, err := chromedp.Run(bctx, chromedp.Evaluate[int](
		`Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length`))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, charts, 2, "the incident volume and MTTR charts load")
}
