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
