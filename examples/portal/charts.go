package main

import (
	"fmt"
	"io"
	"math"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/pillars-itsm/pillars/improvement"
	"github.com/pillars-itsm/pillars/improvement/chart"
)

// slaTarget is the compliance the desk aims for, drawn on the SLA chart.
const slaTarget = 0.95

// percentTicks labels a ratio axis in percent ("95%").
type percentTicks struct{}

// Ticks returns ticks every 10% (every 20% on a tall range) from min to max.
func (percentTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for v := 0.0; v <= math.Max(hi, 1)+1e-9; v += 0.2 {
		if v >= lo-1e-9 {
			out = append(out, plot.Tick{Value: v, Label: fmt.Sprintf("%.0f%%", v*100)})
		}
	}
	return out
}

// dayTicks labels a time axis once per distinct day ("25 Nov"), at most
// about eight labels, so days are never repeated.
type dayTicks struct{}

// Ticks returns one tick at each labelled midnight between min and max.
func (dayTicks) Ticks(lo, hi float64) []plot.Tick {
	from := time.Unix(int64(lo), 0).UTC().Truncate(24 * time.Hour)
	to := time.Unix(int64(hi), 0).UTC()
	days := int(to.Sub(from).Hours()/24) + 1
	step := max(1, (days+7)/8)
	var out []plot.Tick
	for d := from; !d.After(to); d = d.AddDate(0, 0, step) {
		if v := float64(d.Unix()); v >= lo-1 {
			out = append(out, plot.Tick{Value: v, Label: d.Format("2 Jan")})
		}
	}
	if len(out) == 0 {
		out = append(out, plot.Tick{Value: lo, Label: time.Unix(int64(lo), 0).UTC().Format("2 Jan")})
	}
	return out
}

// drawChart draws a KPI result as SVG with what a person reads at a
// glance: a sans-serif font, percentages as %, the SLA target drawn,
// one tick per day, whole counts on count axes.
func drawChart(w io.Writer, res improvement.Result, title string) error {
	p, err := chart.Plot(res, chart.Options{Title: title})
	if err != nil {
		return err
	}
	sans := func(s *draw.TextStyle) { s.Font.Variant = "Sans" }
	for _, s := range []*draw.TextStyle{&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle,
		&p.X.Tick.Label, &p.Y.Tick.Label, &p.Legend.TextStyle} {
		sans(s)
	}
	p.Title.TextStyle.Font.Size = vg.Points(13)
	switch res.Unit {
	case improvement.UnitRatio:
		p.Y.Label.Text = "compliance"
		p.Y.Tick.Marker = percentTicks{}
		p.Y.Max = 1.05
		target := plotter.NewFunction(func(float64) float64 { return slaTarget })
		target.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		target.Width = vg.Points(1.5)
		p.Add(target)
		p.Legend.Add(fmt.Sprintf("target %.0f%%", slaTarget*100), target)
		p.Legend.Top = false
	case improvement.UnitCount:
		p.Y.Label.Text = "incidents"
	case improvement.UnitHours:
		p.Y.Label.Text = "hours"
	}
	if res.Period != improvement.PeriodNone {
		p.X.Tick.Marker = dayTicks{}
		p.X.Label.Text = ""
	}
	wt, err := p.WriterTo(vg.Points(600), vg.Points(360), "svg")
	if err != nil {
		return err
	}
	_, err = wt.WriteTo(w)
	return err
}
