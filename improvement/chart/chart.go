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
	"cmp"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

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

// Options sets what a chart shows beyond its result. The zero value draws
// a chart a person reads at a glance: a sans-serif font, ratios as
// percentages, whole numbers on count axes, one label per period on a
// time axis (never the same day twice), each value written on its bar or
// point, and an empty state when the result has no rows.
//
// A zero side is the default (DefaultWidth x DefaultHeight); a side
// outside MinSide..MaxSide, negative or not a number is ErrInvalid. An
// empty title is the result's query.
type Options struct {
	Title         string
	Width, Height vg.Length
	// Target is the value the KPI aims at (a ratio such as 0.95 for a
	// ratio KPI), drawn as a dashed line across the chart and named in the
	// legend ("target 95%"); zero draws none. It must be a finite number.
	Target float64
	// YLabel names the value axis; empty: the KPI's unit ("%", "hours",
	// "count").
	YLabel string
	// HideValues leaves the values off the bars and points.
	HideValues bool
	// Empty is what a chart of a result without rows says instead of data
	// (an empty state, never a broken image); empty: DefaultEmpty.
	Empty string
}

// DefaultEmpty is what a chart of a result without rows says when its
// Options.Empty is empty.
const DefaultEmpty = "No measurements in this period"

// maxValueLabels is how many points of a trend get their value written
// on them; a longer trend would be unreadable with them.
const maxValueLabels = 40

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

// checkText refuses a title, axis label or empty-state text that is too
// long or not NUL-free UTF-8, and a target that is not a finite number.
func (o Options) checkText(kpi improvement.KPI) error {
	for _, t := range []struct{ name, s string }{{"title", o.Title}, {"y label", o.YLabel}, {"empty text", o.Empty}} {
		switch {
		case len(t.s) > MaxTitle:
			return itsm.Invalidf("chart %s: %s of %d bytes, more than %d", kpi, t.name, len(t.s), MaxTitle)
		case !utf8.ValidString(t.s) || strings.IndexByte(t.s, 0) >= 0:
			return itsm.Invalidf("chart %s: %s is not NUL-free UTF-8", kpi, t.name)
		}
	}
	if math.IsNaN(o.Target) || math.IsInf(o.Target, 0) {
		return itsm.Invalidf("chart %s: target %v is not a finite number", kpi, o.Target)
	}
	return nil
}

// Plot draws a KPI result: a trend line per slice over the periods when
// the result has a period, bars per slice otherwise, with what Options
// adds. A result without rows draws the empty state. A result of an
// unknown KPI, or options out of bounds (see Options), is ErrInvalid.
func Plot(r improvement.Result, opt Options) (*plot.Plot, error) {
	if r.KPI.Unit() == "" {
		return nil, itsm.Invalidf("chart: unknown KPI %q", r.KPI)
	}
	if err := opt.checkText(r.KPI); err != nil {
		return nil, err
	}
	if _, _, err := opt.size(r.KPI); err != nil {
		return nil, err
	}
	unit := r.Unit
	if unit == "" {
		unit = r.KPI.Unit()
	}
	p := plot.New()
	p.Title.Text = opt.Title
	if p.Title.Text == "" {
		p.Title.Text = improvement.Query{KPI: r.KPI, By: r.By, Period: r.Period}.String()
	}
	p.Title.TextStyle.Font.Size = vg.Points(13)
	defer sans(p)
	if len(r.Rows) == 0 {
		empty(p, cmp.Or(opt.Empty, DefaultEmpty))
		return p, nil
	}
	p.Y.Label.Text = cmp.Or(opt.YLabel, unitLabel(unit))
	p.Y.Min = 0
	top := opt.Target
	for _, row := range r.Rows {
		top = max(top, row.Value)
	}
	switch unit {
	case improvement.UnitRatio:
		p.Y.Tick.Marker = percentTicks{}
		top = max(top, 1)
	case improvement.UnitCount:
		p.Y.Tick.Marker = countTicks{}
	}
	if top <= 0 {
		top = 1
	}
	// Room above the highest value for its label and the legend.
	p.Y.Max = top * 1.15
	var err error
	if r.Period != improvement.PeriodNone {
		err = trend(p, r, unit, opt)
	} else {
		err = bars(p, r, unit, opt)
	}
	if err != nil {
		return nil, err
	}
	if opt.Target != 0 {
		target := plotter.NewFunction(func(float64) float64 { return opt.Target })
		target.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		target.Width = vg.Points(1.5)
		target.Color = color.RGBA{R: 0xb0, A: 0xff}
		p.Add(target)
		p.Legend.Add("target "+FormatValue(unit, opt.Target), target)
	}
	p.Legend.Top = true
	return p, nil
}

// sans sets every text of the plot in the sans-serif face: it reads better
// on a screen than the library's default serif.
func sans(p *plot.Plot) {
	for _, s := range []*text.Style{&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle,
		&p.X.Tick.Label, &p.Y.Tick.Label, &p.Legend.TextStyle} {
		s.Font.Typeface, s.Font.Variant = "Liberation", "Sans"
	}
}

// empty draws the empty state: the message in the middle, no axes.
func empty(p *plot.Plot, msg string) {
	p.HideAxes()
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	l := &plotter.Labels{XYs: plotter.XYs{{X: 0.5, Y: 0.5}}, Labels: []string{msg},
		TextStyle: []text.Style{{Font: font.Font{Typeface: "Liberation", Variant: "Sans", Size: vg.Points(12)},
			Handler: plot.DefaultTextHandler, XAlign: draw.XCenter, YAlign: draw.YCenter, Color: color.Gray{Y: 0x60}}}}
	p.Add(l)
}

// unitLabel names the value axis of a unit.
func unitLabel(u improvement.Unit) string {
	switch u {
	case improvement.UnitRatio:
		return "%"
	case improvement.UnitHours:
		return "hours"
	case improvement.UnitCount:
		return "count"
	}
	return string(u)
}

// FormatValue writes a KPI value as a person reads it in its unit: a
// ratio as a percentage ("95%", "99.5%"), hours with one decimal ("2.5
// h", "3 h"), a count as a whole number ("12").
func FormatValue(u improvement.Unit, v float64) string {
	switch u {
	case improvement.UnitRatio:
		return trimZero(strconv.FormatFloat(v*100, 'f', 1, 64)) + "%"
	case improvement.UnitHours:
		return trimZero(strconv.FormatFloat(v, 'f', 1, 64)) + " h"
	case improvement.UnitCount:
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// trimZero drops a decimal ".0".
func trimZero(s string) string { return strings.TrimSuffix(s, ".0") }

// percentTicks labels a ratio axis in percent ("95%"): every 20%, or
// every 10% on a range under a half.
type percentTicks struct{}

// Ticks implements plot.Ticker.
func (percentTicks) Ticks(lo, hi float64) []plot.Tick {
	step := 0.2
	if hi-lo < 0.5 {
		step = 0.1
	}
	var out []plot.Tick
	for i := math.Ceil(lo/step - 1e-9); i*step <= hi+1e-9; i++ {
		v := i * step
		if v == 0 {
			v = 0 // never -0, which prints "-0%"
		}
		out = append(out, plot.Tick{Value: v, Label: fmt.Sprintf("%.0f%%", v*100)})
	}
	return out
}

// countTicks labels a count axis with whole numbers only, at most about
// eight of them.
type countTicks struct{}

// Ticks implements plot.Ticker.
func (countTicks) Ticks(lo, hi float64) []plot.Tick {
	step := 1.0
	for _, s := range []float64{1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000} {
		step = s
		if (hi-lo)/s <= 8 {
			break
		}
	}
	for (hi-lo)/step > 8 {
		step *= 10
	}
	var out []plot.Tick
	for i := math.Ceil(lo / step); i*step <= hi; i++ {
		out = append(out, plot.Tick{Value: i * step, Label: strconv.FormatFloat(i*step, 'f', 0, 64)})
	}
	return out
}

// periodTicks labels a time axis once per period start ("25 Nov" for days
// and weeks, "Nov 2026" for months), from the first row's period on, at
// most about eight labels, so no label repeats. Times are Unix seconds in
// UTC, as the KPI rows are.
type periodTicks struct {
	period improvement.Period
	first  time.Time // the first row's start
}

// Ticks implements plot.Ticker.
func (t periodTicks) Ticks(lo, hi float64) []plot.Tick {
	to := time.Unix(int64(math.Ceil(hi)), 0).UTC()
	format := "2 Jan"
	next := func(d time.Time, n int) time.Time { return d.AddDate(0, 0, n) }
	count := int(to.Sub(t.first).Hours()/24) + 1
	switch t.period {
	case improvement.PeriodMonth:
		format = "Jan 2006"
		next = func(d time.Time, n int) time.Time { return d.AddDate(0, n, 0) }
		count = (to.Year()-t.first.Year())*12 + int(to.Month()-t.first.Month()) + 1
	case improvement.PeriodWeek:
		next = func(d time.Time, n int) time.Time { return d.AddDate(0, 0, 7*n) }
		count = int(to.Sub(t.first).Hours()/(24*7)) + 1
	}
	step := max(1, (count+7)/8)
	var out []plot.Tick
	for d := t.first; !d.After(to); d = next(d, step) {
		if v := float64(d.Unix()); v >= lo && v <= hi {
			out = append(out, plot.Tick{Value: v, Label: d.Format(format)})
		}
	}
	return out
}

// periodLength is about how long one period is, to pad a time axis.
func periodLength(p improvement.Period) time.Duration {
	switch p {
	case improvement.PeriodWeek:
		return 7 * 24 * time.Hour
	case improvement.PeriodMonth:
		return 30 * 24 * time.Hour
	}
	return 24 * time.Hour
}

// valueLabels writes values at points, centred just above them.
func valueLabels(xys plotter.XYs, unit improvement.Unit) *plotter.Labels {
	l := &plotter.Labels{XYs: xys, Offset: vg.Point{Y: vg.Points(4)}}
	for _, xy := range xys {
		l.Labels = append(l.Labels, FormatValue(unit, xy.Y))
		l.TextStyle = append(l.TextStyle, text.Style{Font: font.Font{Typeface: "Liberation", Variant: "Sans", Size: vg.Points(9)},
			Handler: plot.DefaultTextHandler, XAlign: draw.XCenter})
	}
	return l
}

func trend(p *plot.Plot, r improvement.Result, unit improvement.Unit, opt Options) error {
	series := map[string]plotter.XYs{}
	var labels []string
	first, last := r.Rows[0].Start, r.Rows[0].Start
	for _, row := range r.Rows {
		l := label(r, row)
		if _, ok := series[l]; !ok {
			labels = append(labels, l)
		}
		series[l] = append(series[l], plotter.XY{X: float64(row.Start.Unix()), Y: row.Value})
		if row.Start.Before(first) {
			first = row.Start
		}
		if row.Start.After(last) {
			last = row.Start
		}
	}
	slices.Sort(labels)
	// Half a period of room on each side: no point sits on the frame.
	pad := periodLength(r.Period) / 2
	p.X.Min, p.X.Max = float64(first.Add(-pad).Unix()), float64(last.Add(pad).Unix())
	p.X.Tick.Marker = periodTicks{period: r.Period, first: first.UTC()}
	p.X.Label.Text = "per " + string(r.Period)
	points := 0
	for i, l := range labels {
		xys := series[l]
		slices.SortFunc(xys, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
		line, scatter, err := plotter.NewLinePoints(xys)
		if err != nil {
			return itsm.Invalidf("chart %s: %v", r.KPI, err)
		}
		line.Color, line.Dashes = plotutil.Color(i), plotutil.Dashes(i)
		scatter.Color, scatter.Shape = plotutil.Color(i), plotutil.Shape(i)
		p.Add(line, scatter)
		if len(labels) > 1 || l != "all" {
			p.Legend.Add(l, line, scatter)
		}
		points += len(xys)
	}
	if !opt.HideValues && points <= maxValueLabels {
		for _, l := range labels {
			p.Add(valueLabels(series[l], unit))
		}
	}
	return nil
}

func bars(p *plot.Plot, r improvement.Result, unit improvement.Unit, opt Options) error {
	vals := make(plotter.Values, len(r.Rows))
	names := make([]string, len(r.Rows))
	xys := make(plotter.XYs, len(r.Rows))
	for i, row := range r.Rows {
		vals[i] = row.Value
		names[i] = label(r, row)
		xys[i] = plotter.XY{X: float64(i), Y: row.Value}
	}
	b, err := plotter.NewBarChart(vals, vg.Points(20))
	if err != nil {
		return itsm.Invalidf("chart %s: %v", r.KPI, err)
	}
	b.Color = plotutil.Color(0)
	p.Add(b)
	p.NominalX(names...)
	// Half a bar's slot of room on each side: no bar sits on the frame.
	p.X.Min, p.X.Max = -0.5, float64(len(r.Rows))-0.5
	if !opt.HideValues {
		p.Add(valueLabels(xys, unit))
	}
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
