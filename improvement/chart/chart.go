// Package chart draws the improvement pillar's KPI results with
// gonum.org/v1/plot, as SVG or PNG: trend lines when a result has a period
// (MTTR per week, the backlog per day), bars otherwise (SLA compliance by
// priority).
//
// It is a package of its own so that a host that computes KPIs but draws
// no charts (a server) does not link gonum/plot and its fonts: importing
// improvement alone does not pull them in.
package chart

import (
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/pillars-itsm/pillars/improvement"
	"github.com/pillars-itsm/pillars/itsm"
)

// Size bounds. A PNG is drawn in memory at 96 dots per inch, four bytes a
// dot: a side of MaxSide is 3,780 dots, so the largest PNG needs about
// 57 MB while it is drawn (a 1000 cm square would need 5.7 GB). SVG sides
// obey the same bound.
const (
	// DefaultWidth and DefaultHeight are the size of a chart whose
	// Options leave it zero.
	DefaultWidth  = 16 * vg.Centimeter
	DefaultHeight = 9 * vg.Centimeter
	// MinSide and MaxSide bound each side of a chart.
	MinSide = 2 * vg.Centimeter
	MaxSide = 100 * vg.Centimeter
	// MaxTitle bounds a title, in bytes; it must be valid UTF-8 without
	// NUL.
	MaxTitle = 1024
)

// Options sets a chart's title and size. A zero side is the default
// (DefaultWidth x DefaultHeight); a side outside MinSide..MaxSide, negative
// or not a number is ErrInvalid. An empty title is the result's query.
type Options struct {
	Title         string
	Width, Height vg.Length
}

// size returns the sides the options draw at, or ErrInvalid.
func (o Options) size(kpi improvement.KPI) (w, h vg.Length, err error) {
	w, h = o.Width, o.Height
	if w == 0 {
		w = DefaultWidth
	}
	if h == 0 {
		h = DefaultHeight
	}
	for _, side := range []struct {
		name string
		v    vg.Length
	}{{"width", w}, {"height", h}} {
		if math.IsNaN(float64(side.v)) || side.v < MinSide || side.v > MaxSide {
			return 0, 0, itsm.Invalidf("chart %s: %s %.1f cm outside %.0f..%.0f cm", kpi, side.name,
				float64(side.v/vg.Centimeter), float64(MinSide/vg.Centimeter), float64(MaxSide/vg.Centimeter))
		}
	}
	return w, h, nil
}

// checkTitle refuses a title that is too long or not NUL-free UTF-8.
func (o Options) checkTitle(kpi improvement.KPI) error {
	switch {
	case len(o.Title) > MaxTitle:
		return itsm.Invalidf("chart %s: title of %d bytes, more than %d", kpi, len(o.Title), MaxTitle)
	case !utf8.ValidString(o.Title) || strings.IndexByte(o.Title, 0) >= 0:
		return itsm.Invalidf("chart %s: title is not NUL-free UTF-8", kpi)
	}
	return nil
}

// Plot draws a KPI result: a trend line per slice over the periods when
// the result has a period, bars per slice otherwise. A result without
// rows, of an unknown KPI, or options out of bounds (see Options) is
// ErrInvalid.
func Plot(r improvement.Result, opt Options) (*plot.Plot, error) {
	if r.KPI.Unit() == "" {
		return nil, itsm.Invalidf("chart: unknown KPI %q", r.KPI)
	}
	if len(r.Rows) == 0 {
		return nil, itsm.Invalidf("chart %s: the result has no rows", r.KPI)
	}
	if err := opt.checkTitle(r.KPI); err != nil {
		return nil, err
	}
	if _, _, err := opt.size(r.KPI); err != nil {
		return nil, err
	}
	p := plot.New()
	p.Title.Text = opt.Title
	if p.Title.Text == "" {
		p.Title.Text = improvement.Query{KPI: r.KPI, By: r.By, Period: r.Period}.String()
	}
	p.Y.Label.Text = string(r.KPI) + " (" + string(r.Unit) + ")"
	p.Y.Min = 0
	if r.Period != improvement.PeriodNone {
		return p, trend(p, r)
	}
	return p, bars(p, r)
}

func trend(p *plot.Plot, r improvement.Result) error {
	p.X.Tick.Marker = plot.TimeTicks{Format: "2006-01-02"}
	p.X.Label.Text = string(r.Period)
	series := map[string]plotter.XYs{}
	var labels []string
	for _, row := range r.Rows {
		l := label(r, row)
		if _, ok := series[l]; !ok {
			labels = append(labels, l)
		}
		series[l] = append(series[l], plotter.XY{X: float64(row.Start.Unix()), Y: row.Value})
	}
	slices.Sort(labels)
	args := make([]any, 0, 2*len(labels))
	for _, l := range labels {
		args = append(args, l, series[l])
	}
	if err := plotutil.AddLinePoints(p, args...); err != nil {
		return itsm.Invalidf("chart %s: %v", r.KPI, err)
	}
	return nil
}

func bars(p *plot.Plot, r improvement.Result) error {
	vals := make(plotter.Values, len(r.Rows))
	names := make([]string, len(r.Rows))
	for i, row := range r.Rows {
		vals[i] = row.Value
		names[i] = label(r, row)
	}
	b, err := plotter.NewBarChart(vals, vg.Points(20))
	if err != nil {
		return itsm.Invalidf("chart %s: %v", r.KPI, err)
	}
	b.Color = plotutil.Color(0)
	p.Add(b)
	p.NominalX(names...)
	return nil
}

// label names a row's slice in a legend or on an axis: "email/desk/P2",
// or "all" for a result not broken down.
func label(r improvement.Result, row improvement.Row) string {
	parts := make([]string, 0, len(r.By))
	for _, d := range r.By {
		v := ""
		switch d {
		case improvement.ByService:
			v = row.Service
		case improvement.ByGroup:
			v = row.Group
		case improvement.ByPriority:
			v = "P" + strconv.Itoa(row.Priority)
		}
		if v == "" {
			v = "(none)"
		}
		parts = append(parts, v)
	}
	if len(parts) == 0 {
		return "all"
	}
	return strings.Join(parts, "/")
}

// Write draws the result (see Plot) and writes it to w as "svg" or "png".
func Write(w io.Writer, r improvement.Result, format string, opt Options) error {
	format = strings.ToLower(strings.TrimPrefix(format, "."))
	if format != "svg" && format != "png" {
		return itsm.Invalidf("chart %s: format %q, want svg or png", r.KPI, format)
	}
	p, err := Plot(r, opt)
	if err != nil {
		return err
	}
	width, height, err := opt.size(r.KPI)
	if err != nil {
		return err
	}
	wt, err := p.WriterTo(width, height, format)
	if err != nil {
		return itsm.Invalidf("chart %s: %v", r.KPI, err)
	}
	_, err = wt.WriteTo(w)
	return err
}

// Save writes the chart to a file, in the format its extension names (.svg
// or .png). Nothing is written when the chart cannot be drawn.
func Save(path string, r improvement.Result, opt Options) error {
	format := filepath.Ext(path)
	if _, err := Plot(r, opt); err != nil {
		return err
	}
	if f := strings.ToLower(strings.TrimPrefix(format, ".")); f != "svg" && f != "png" {
		return itsm.Invalidf("chart %s: file %q is neither .svg nor .png", r.KPI, path)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := Write(f, r, format, opt); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
