package chart_test

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/plot/vg"

	"github.com/pillars-itsm/pillars/improvement"
	"github.com/pillars-itsm/pillars/improvement/chart"
	"github.com/pillars-itsm/pillars/itsm"
)

var day0 = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

// backlog is a result with a period: the backlog per day and service.
func backlog() improvement.Result {
	r := improvement.Result{KPI: improvement.Backlog, Unit: improvement.Backlog.Unit(), Period: improvement.PeriodDay,
		By: []improvement.Dimension{improvement.ByService}}
	for d := range 3 {
		for i, svc := range []string{"email", "vpn"} {
			start := day0.AddDate(0, 0, d)
			r.Rows = append(r.Rows, improvement.Row{Start: start, End: start.AddDate(0, 0, 1), Service: svc,
				Count: int64(d + i), Value: float64(d + i)})
		}
	}
	return r
}

// compliance is a result without a period: SLA compliance by priority.
func compliance() improvement.Result {
	r := improvement.Result{KPI: improvement.SLACompliance, Unit: improvement.SLACompliance.Unit(),
		By: []improvement.Dimension{improvement.ByPriority}}
	for p := 1; p <= 3; p++ {
		r.Rows = append(r.Rows, improvement.Row{Start: day0, End: day0.AddDate(0, 0, 1), Priority: p,
			Count: 4, Hits: int64(p), Value: float64(p) / 4})
	}
	return r
}

func TestSave(t *testing.T) {
	dir := t.TempDir()
	svg := filepath.Join(dir, "backlog.svg")
	require.NoError(t, chart.Save(svg, backlog(), chart.Options{Title: "Backlog per day"}))
	data, err := os.ReadFile(svg)
	require.NoError(t, err)
	assert.Contains(t, string(data), "<svg")
	assert.Contains(t, string(data), "Backlog per day")
	assert.Contains(t, string(data), "email", "a legend per service")

	pngPath := filepath.Join(dir, "sla.png")
	require.NoError(t, chart.Save(pngPath, compliance(), chart.Options{}))
	data, err = os.ReadFile(pngPath)
	require.NoError(t, err)
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	require.NoError(t, err)
	assert.Equal(t, []int{605, 340}, []int{cfg.Width, cfg.Height}, "16 x 9 cm at 96 dpi")

	p, err := chart.Plot(compliance(), chart.Options{})
	require.NoError(t, err)
	assert.Equal(t, "sla_compliance by [priority]", p.Title.Text, "the query names an untitled chart")
}

// TestSizeBounds: each side of a chart is bounded (issue 18: a PNG 1000
// cm square ended the process out of memory); a side at MinSide or MaxSide
// is drawn, one just past is ErrInvalid and draws nothing.
func TestSizeBounds(t *testing.T) {
	const point = vg.Length(1) // the smallest step of a side
	tests := []struct {
		name          string
		width, height vg.Length
		ok            bool
		wantW, wantH  int // PNG pixels when drawn
	}{
		{"width at MaxSide", chart.MaxSide, chart.MinSide, true, 3780, 76},
		{"height at MaxSide", chart.MinSide, chart.MaxSide, true, 76, 3780},
		{"width past MaxSide", chart.MaxSide + point, 0, false, 0, 0},
		{"height past MaxSide", 0, chart.MaxSide + point, false, 0, 0},
		{"1000 cm square", 1000 * vg.Centimeter, 1000 * vg.Centimeter, false, 0, 0},
		{"width under MinSide", chart.MinSide - point, 0, false, 0, 0},
		{"negative height", 0, -vg.Centimeter, false, 0, 0},
		{"width not a number", vg.Length(math.NaN()), 0, false, 0, 0},
		{"infinite height", 0, vg.Length(math.Inf(1)), false, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := chart.Write(&buf, compliance(), "png", chart.Options{Width: tc.width, Height: tc.height})
			if !tc.ok {
				require.ErrorIs(t, err, itsm.ErrInvalid)
				assert.Zero(t, buf.Len(), "nothing is written")
				_, err = chart.Plot(compliance(), chart.Options{Width: tc.width, Height: tc.height})
				require.ErrorIs(t, err, itsm.ErrInvalid)
				return
			}
			require.NoError(t, err)
			cfg, err := png.DecodeConfig(&buf)
			require.NoError(t, err)
			assert.Equal(t, []int{tc.wantW, tc.wantH}, []int{cfg.Width, cfg.Height})
		})
	}
}

func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	empty := improvement.Result{KPI: improvement.MTTR, Unit: improvement.UnitHours}
	tests := []struct {
		name string
		run  func() error
		file string
	}{
		{"empty result", func() error { return chart.Save(filepath.Join(dir, "empty.svg"), empty, chart.Options{}) }, "empty.svg"},
		{"unknown KPI", func() error {
			r := compliance()
			r.KPI = "happiness"
			return chart.Save(filepath.Join(dir, "kpi.svg"), r, chart.Options{})
		}, "kpi.svg"},
		{"unknown format", func() error { return chart.Save(filepath.Join(dir, "x.gif"), compliance(), chart.Options{}) }, "x.gif"},
		{"writer format", func() error { return chart.Write(&bytes.Buffer{}, compliance(), "bmp", chart.Options{}) }, ""},
		{"title too long", func() error {
			return chart.Save(filepath.Join(dir, "long.svg"), compliance(), chart.Options{Title: strings.Repeat("t", chart.MaxTitle+1)})
		}, "long.svg"},
		{"title with NUL", func() error {
			return chart.Save(filepath.Join(dir, "nul.svg"), compliance(), chart.Options{Title: "a\x00b"})
		}, "nul.svg"},
		{"title not UTF-8", func() error {
			return chart.Write(&bytes.Buffer{}, compliance(), "svg", chart.Options{Title: "\xff"})
		}, ""},
		{"too large", func() error {
			return chart.Save(filepath.Join(dir, "big.png"), compliance(), chart.Options{Width: 1000 * vg.Centimeter})
		}, "big.png"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, tc.run(), itsm.ErrInvalid)
			if tc.file != "" {
				_, err := os.Stat(filepath.Join(dir, tc.file))
				assert.True(t, os.IsNotExist(err), "no file is left behind")
			}
		})
	}
	require.NoError(t, chart.Write(&bytes.Buffer{}, compliance(), "svg", chart.Options{Title: strings.Repeat("t", chart.MaxTitle)}),
		"a title of MaxTitle bytes is drawn")
}
