package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// TestChartIsValidSVG runs the story and checks the chart file: it exists,
// parses as XML all the way through, and its root element is <svg>.
func TestChartIsValidSVG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chart.svg")
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, options{ChartPath: path}))
	assert.Contains(t, out.String(), "chart: "+path)

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NotEmpty(t, data)
	dec := xml.NewDecoder(bytes.NewReader(data))
	root := ""
	texts := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "the chart is not well-formed XML")
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			if se.Name.Local == "text" {
				texts++
			}
		}
	}
	assert.Equal(t, "svg", root)
	assert.Positive(t, texts, "a chart has a title and axis labels")
	assert.Contains(t, string(data), "SLA compliance by priority")
}

// TestRunIsRepeatable runs the story twice: the same input gives the same
// output, so the Example's checked output is not luck.
func TestRunIsRepeatable(t *testing.T) {
	dir := t.TempDir()
	var a, b bytes.Buffer
	require.NoError(t, run(context.Background(), &a, options{ChartPath: filepath.Join(dir, "a.svg")}))
	require.NoError(t, run(context.Background(), &b, options{ChartPath: filepath.Join(dir, "b.svg")}))
	assert.Equal(t, strings.ReplaceAll(a.String(), "a.svg", "x.svg"), strings.ReplaceAll(b.String(), "b.svg", "x.svg"))
}

// TestRunRefusesBadOptions: a missing chart path, or one in a directory
// that does not exist, is an error, never a panic.
func TestRunRefusesBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		path string
		is   error
	}{
		{"no chart path", "", itsm.ErrInvalid},
		{"missing directory", filepath.Join(t.TempDir(), "no", "such", "dir", "c.svg"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), io.Discard, options{ChartPath: tc.path})
			require.Error(t, err)
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
		})
	}
}

// TestStoryIsInTheLog checks that what the story prints happened: the
// domain event log (not the text) holds each promised step.
func TestStoryIsInTheLog(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	require.NoError(t, runOn(ctx, store, io.Discard, options{ChartPath: filepath.Join(t.TempDir(), "c.svg")}))
	evs, err := store.ReadEvents(ctx, 0, 100_000)
	require.NoError(t, err)

	has := func(kind, name, field, to string) bool {
		for _, e := range evs {
			if e.Kind != kind || (name != "" && e.Name != name) {
				continue
			}
			if field == "" {
				return true
			}
			for _, c := range e.Changes {
				if c.Field == field && (to == "" || c.To == to) {
					return true
				}
			}
		}
		return false
	}
	for _, tc := range []struct {
		what                  string
		kind, name, field, to string
	}{
		{"the service is published in the portfolio", "portfolio_service", "publish", "", ""},
		{"the catalogue service is chartered", "service", "charter", "", ""},
		{"CIs are related", "ci_relationship", "create", "", ""},
		{"the change is approved", "change", "", "approval", `"approved"`},
		{"the change closes successfully", "change", "close", "review_outcome", `"successful"`},
		{"a major incident is accepted", "incident", "", "major", "true"},
		{"an incident is reopened", "incident", "reopen", "", ""},
		{"an incident waits for its caller", "incident", "hold", "hold_reason", `"awaiting_caller"`},
		{"an incident is reassigned", "incident", "", "reassignment_count", "1"},
		{"a known error is published", "known_error", "", "", ""},
		{"an incident is linked to the problem", "incident", "", "problem_id", ""},
		{"an SLA clock breaches", "task_sla", "", "has_breached", "true"},
		{"the CSI item is approved", "improvement", "approve", "", ""},
		{"the objective's measures are refreshed", "business_objective", "", "measures", ""},
	} {
		assert.True(t, has(tc.kind, tc.name, tc.field, tc.to), tc.what)
	}
}
