package chart_test

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
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
		{"target not a number", func() error {
			return chart.Save(filepath.Join(dir, "nan.svg"), compliance(), chart.Options{Target: math.NaN()})
		}, "nan.svg"},
		{"infinite target", func() error {
			return chart.Write(&bytes.Buffer{}, compliance(), "svg", chart.Options{Target: math.Inf(-1)})
		}, ""},
		{"y label not UTF-8", func() error {
			return chart.Write(&bytes.Buffer{}, compliance(), "svg", chart.Options{YLabel: "\xff"})
		}, ""},
		{"empty text too long", func() error {
			return chart.Save(filepath.Join(dir, "e.svg"), empty, chart.Options{Empty: strings.Repeat("e", chart.MaxTitle+1)})
		}, "e.svg"},
		{"empty text with NUL", func() error {
			return chart.Write(&bytes.Buffer{}, empty, "svg", chart.Options{Empty: "a\x00"})
		}, ""},
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

// texts draws the result as SVG and returns the texts on it, in order.
func texts(t *testing.T, r improvement.Result, opt chart.Options) []string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, chart.Write(&buf, r, "svg", opt))
	var out []string
	for _, m := range regexp.MustCompile(`>([^<>]+)</text>`).FindAllStringSubmatch(buf.String(), -1) {
		out = append(out, m[1])
	}
	assert.NotContains(t, buf.String(), "Serif", "every text is sans-serif")
	assert.Contains(t, buf.String(), "font-family:Liberation Sans")
	return out
}

// perPeriod is a count per period over n periods from day0.
func perPeriod(period improvement.Period, n int) improvement.Result {
	r := improvement.Result{KPI: improvement.IncidentVolume, Unit: improvement.UnitCount, Period: period}
	start := day0
	for i := range n {
		end := start.AddDate(0, 0, 1)
		switch period {
		case improvement.PeriodWeek:
			end = start.AddDate(0, 0, 7)
		case improvement.PeriodMonth:
			end = start.AddDate(0, 1, 0)
		}
		r.Rows = append(r.Rows, improvement.Row{Start: start, End: end, Count: int64(i % 4), Value: float64(i % 4)})
		start = end
	}
	return r
}

// A chart reads at a glance with the defaults: ratios in percent with
// the target drawn, counts on whole-number axes, each period labelled once
// on a time axis, the values on the bars and points, sans-serif text, and
// an empty state for a result without rows.
func TestReadsAtAGlance(t *testing.T) {
	dateLabel := regexp.MustCompile(`^\d{1,2} [A-Z][a-z]{2}$`)
	tests := []struct {
		name     string
		res      improvement.Result
		opt      chart.Options
		want     []string // texts that must be on the chart
		wantNot  []string // texts that must not
		dates    int      // how many distinct date labels at least (trends)
		maxDates int
	}{
		{"compliance in percent with its target", compliance(), chart.Options{Target: 0.95},
			[]string{"0%", "20%", "100%", "25%", "50%", "75%", "target 95%", "%"}, []string{"0.2", "1.0", "0.25", "-0%"}, 0, 0},
		{"values can be left off", compliance(), chart.Options{HideValues: true, YLabel: "compliance"},
			[]string{"100%", "compliance"}, []string{"25%", "75%"}, 0, 0},
		{"a count per day over three weeks", perPeriod(improvement.PeriodDay, 21), chart.Options{},
			[]string{"2 Nov", "count", "per day", "3"}, []string{"0.5", "2.5"}, 3, 9},
		{"a single day", perPeriod(improvement.PeriodDay, 1), chart.Options{}, []string{"2 Nov"}, nil, 1, 1},
		{"weeks", perPeriod(improvement.PeriodWeek, 10), chart.Options{}, []string{"2 Nov", "per week"}, nil, 3, 9},
		{"months", perPeriod(improvement.PeriodMonth, 4), chart.Options{}, []string{"Nov 2026", "Feb 2027"}, nil, 0, 0},
		{"hours", func() improvement.Result {
			r := compliance()
			r.KPI, r.Unit = improvement.MTTR, improvement.UnitHours
			r.Rows[0].Value = 2.5
			return r
		}(), chart.Options{Target: 4}, []string{"2.5 h", "target 4 h", "hours"}, nil, 0, 0},
		{"no rows: the empty state", improvement.Result{KPI: improvement.MTTR, Unit: improvement.UnitHours}, chart.Options{Title: "MTTR"},
			[]string{"MTTR", chart.DefaultEmpty}, []string{"hours", "0"}, 0, 0},
		{"no rows, the host's words", improvement.Result{KPI: improvement.Backlog, Period: improvement.PeriodDay}, chart.Options{Empty: "Nothing yet"},
			[]string{"Nothing yet"}, []string{chart.DefaultEmpty}, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := texts(t, tc.res, tc.opt)
			for _, w := range tc.want {
				assert.Contains(t, got, w)
			}
			for _, w := range tc.wantNot {
				assert.NotContains(t, got, w)
			}
			var dates []string
			for _, s := range got {
				if dateLabel.MatchString(s) {
					dates = append(dates, s)
				}
			}
			seen := map[string]int{}
			for _, d := range dates {
				seen[d]++
				assert.Equal(t, 1, seen[d], "%s labelled twice", d)
			}
			if tc.dates > 0 {
				assert.GreaterOrEqual(t, len(dates), tc.dates)
				assert.LessOrEqual(t, len(dates), tc.maxDates)
			}
		})
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		unit improvement.Unit
		v    float64
		want string
	}{
		{improvement.UnitRatio, 0.95, "95%"},
		{improvement.UnitRatio, 1, "100%"},
		{improvement.UnitRatio, 0.995, "99.5%"},
		{improvement.UnitRatio, 0, "0%"},
		{improvement.UnitHours, 2.5, "2.5 h"},
		{improvement.UnitHours, 3, "3 h"},
		{improvement.UnitHours, 0.04, "0 h"},
		{improvement.UnitCount, 12, "12"},
		{improvement.UnitCount, 2.6, "3"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, chart.FormatValue(tc.unit, tc.v), "%s %v", tc.unit, tc.v)
	}
}
