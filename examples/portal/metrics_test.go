package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// TestMetricsEndpoint seeds the portal on an instrumented store and scrapes
// /metrics: the commands and store calls of the seed are there.
func TestMetricsEndpoint(t *testing.T) {
	ctx := context.Background()
	m, err := NewMetrics()
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	clock := itsm.NewFakeClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	srv, err := NewServer(ctx, m.Telemetry.Backend(memory.New()), Config{Clock: clock, Telemetry: m.Telemetry})
	require.NoError(t, err)
	_, _, err = srv.Seed(ctx)
	require.NoError(t, err)
	ts := httptest.NewServer(m.Wrap(srv))
	t.Cleanup(ts.Close)

	res, err := http.Get(ts.URL + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	text := string(body)
	for _, want := range []string{
		`pillars_command_duration_seconds_count{event="create",kind="incident",otel_scope_name="github.com/pillars-itsm/pillars"`,
		`pillars_store_duration_seconds_bucket{adapter="memory"`,
	} {
		assert.True(t, strings.Contains(text, want), "missing %s in:\n%.2000s", want, text)
	}
	res2, err := http.Get(ts.URL + "/")
	require.NoError(t, err)
	res2.Body.Close()
	assert.NotEqual(t, http.StatusNotFound, res2.StatusCode, "the portal still serves the rest")
}
