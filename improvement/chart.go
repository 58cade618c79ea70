package improvement

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/pillars-itsm/pillars/itsm"
)

// ChartOptions sets a chart's title and size. Zero sizes give 16 x 9 cm.
type ChartOptions struct {
	Title         string
	Width, Height vg.Length
}

// Chart draws a KPI result with gonum.org/v1/plot: a trend line per slice
// over the periods when the result has a period (MTTR per week, the backlog
// per day), bars per slice otherwise (SLA compliance by priority). A result
// without rows is ErrInvalid: there is nothing to draw.
func Chart(r Result, opt ChartOptions) (*plot.Plot, error) {
	if len(r.Rows) == 0 {
		return nil, itsm.Invalidf("chart %s: the result has no rows", r.KPI)
	}
	if r.KPI.Unit() == "" {
		return nil, itsm.Invalidf("chart: unknown KPI %q", r.KPI)
	}
	p := plot.New()
	p.Title.Text = opt.Title
	if p.Title.Text == "" {
		p.Title.Text = Query{KPI: r.KPI, By: r.By, Period: r.Period}.String()
	}
	p.Y.Label.Text = string(r.KPI) + " (" + string(r.Unit) + ")"
	p.Y.Min = 0
	if r.Period != PeriodNone {
		return p, trend(p, r)
	}
	return p, bars(p, r)
}

func trend(p *plot.Plot, r Result) error {
	p.X.Tick.Marker = plot.TimeTicks{Format: "2006-01-02"}
	p.X.Label.Text = string(r.Period)
	series := map[string]plotter.XYs{}
	var labels []string
	for _, row := range r.Rows {
		l := r.label(row)
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
	return plotutil.AddLinePoints(p, args...)
}

func bars(p *plot.Plot, r Result) error {
	vals := make(plotter.Values, len(r.Rows))
	names := make([]string, len(r.Rows))
	for i, row := range r.Rows {
		vals[i] = row.Value
		names[i] = r.label(row)
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

// WriteChart draws the result (see Chart) and writes it to w as "svg" or
// "png".
func WriteChart(w io.Writer, r Result, format string, opt ChartOptions) error {
	format = strings.ToLower(strings.TrimPrefix(format, "."))
	if format != "svg" && format != "png" {
		return itsm.Invalidf("chart %s: format %q, want svg or png", r.KPI, format)
	}
	p, err := Chart(r, opt)
	if err != nil {
		return err
	}
	width, height := opt.Width, opt.Height
	if width <= 0 {
		width = 16 * vg.Centimeter
	}
	if height <= 0 {
		height = 9 * vg.Centimeter
	}
	wt, err := p.WriterTo(width, height, format)
	if err != nil {
		return itsm.Invalidf("chart %s: %v", r.KPI, err)
	}
	_, err = wt.WriteTo(w)
	return err
}

// SaveChart writes the chart to a file, in the format its extension names
// (.svg or .png). Nothing is written when the chart cannot be drawn.
func SaveChart(path string, r Result, opt ChartOptions) error {
	format := filepath.Ext(path)
	if _, err := Chart(r, opt); err != nil {
		return err
	}
	if f := strings.ToLower(strings.TrimPrefix(format, ".")); f != "svg" && f != "png" {
		return itsm.Invalidf("chart %s: file %q is neither .svg nor .png", r.KPI, path)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := WriteChart(f, r, format, opt); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
