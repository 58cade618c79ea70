package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromiumPath is where Debian's chromium package (installed by .ci/run)
// puts the browser.
const chromiumPath = "/usr/bin/chromium"

// axePath is axe-core's browser build, installed from the npm registry by
// .ci/run (npm ci --prefix examples/portal/testdata/axe); node_modules is
// not committed.
var axePath = filepath.Join("testdata", "axe", "node_modules", "axe-core", "axe.min.js")

// needChromium skips a browser test on a machine without Debian's
// chromium; .ci/run installs it and fails when a test says it skipped.
func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("browser test skipped: %s not found (install the Debian package chromium)", chromiumPath)
	}
}

// axeSource returns axe-core's script. Without it the browser tests skip
// on a developer's machine, but fail where CI is set; the skip message
// also matches .ci/run's check for service-backed tests that skipped
// ("chromium not found"), so CI fails either way.
func axeSource(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile(axePath)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("accessibility check: %v (run npm ci --prefix examples/portal/testdata/axe)", err)
		}
		t.Skipf("browser test skipped: axe-core for chromium not found at %s (run npm ci --prefix examples/portal/testdata/axe)", axePath)
	}
	return string(src)
}

// newBrowser starts headless Chromium for one test, bounded by timeout,
// with axe-core injected into every page it opens (before the page's own
// scripts, outside its content security policy).
func newBrowser(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	needChromium(t)
	axe := axeSource(t)
	// The whole browser session is bounded: the allocator's context times out.
	tctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
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
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	require.NoError(t, chromedp.Do(bctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: axe})
		return err
	})), "inject axe-core")
	return bctx
}

// darkMode makes the browser prefer a dark colour scheme (on) or a light
// one, so the accessibility check reads the other palette's contrast.
func darkMode(on bool) chromedp.Action[chromedp.Void] {
	scheme := "light"
	if on {
		scheme = "dark"
	}
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	})
}

// browserZone makes the browser's time zone the IANA zone named.
func browserZone(name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: name})
		return err
	})
}

// axeViolation is one rule a page breaks, as axe-core reports it.
type axeViolation struct {
	ID, Impact, Help string
	Nodes            []struct {
		Target []any
		HTML   string
	}
}

// axeRun checks the page in hand with axe-core's WCAG 2.x A and AA rules
// and its best practices, returning the violations of impact serious or
// critical.
const axeRun = `axe.run(document, {resultTypes: ["violations"],
  runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]}})
 .then(r => r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
   .map(v => ({id: v.id, impact: v.impact, help: v.help,
     nodes: v.nodes.slice(0, 5).map(n => ({target: n.target, html: n.html.slice(0, 200)}))})))`

// accessible runs axe-core on the page in hand and fails the test on
// every serious or critical violation, naming the rule and the elements.
func accessible(t *testing.T, bctx context.Context, what string) {
	t.Helper()
	raw, err := chromedp.Run(bctx, chromedp.Evaluate[[]byte](axeRun, chromedp.EvalAwaitPromise))
	require.NoError(t, err, "axe on %s", what)
	var vs []axeViolation
	require.NoError(t, json.Unmarshal(raw, &vs), "axe on %s: %s", what, raw)
	for _, v := range vs {
		var nodes []string
		for _, n := range v.Nodes {
			nodes = append(nodes, fmt.Sprint(n.Target)+" "+n.HTML)
		}
		t.Errorf("%s: accessibility (%s) %s: %s\n  %s", what, v.Impact, v.ID, v.Help, strings.Join(nodes, "\n  "))
	}
}

// The check itself finds what it should: a page with an unlabelled field
// and an image without a text alternative fails it.
func TestAccessibilityCheckFindsViolations(t *testing.T) {
	bctx := newBrowser(t, 30*time.Second)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!doctype html><html lang="en"><head><title>bad</title></head><body><main>
<img src="/x.png"><input id="q" name="q"></main></body></html>`)
	}))
	defer ts.Close()
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(ts.URL), chromedp.WaitReady(chromedp.ID("q"))))
	raw, err := chromedp.Run(bctx, chromedp.Evaluate[[]byte](axeRun, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	var vs []axeViolation
	require.NoError(t, json.Unmarshal(raw, &vs))
	var ids []string
	for _, v := range vs {
		ids = append(ids, v.ID)
	}
	assert.Contains(t, ids, "image-alt")
	assert.Contains(t, ids, "label")
}
