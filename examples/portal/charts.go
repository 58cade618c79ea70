package main

import (
	"io"

	"gonum.org/v1/plot/vg"

	"github.com/pillars-itsm/pillars/improvement"
	"github.com/pillars-itsm/pillars/improvement/chart"
)

// slaTarget is the compliance the desk aims for, drawn on the SLA chart.
const slaTarget = 0.95

// drawChart draws a KPI result as SVG with the improvement pillar's chart
// package, whose defaults read at a glance (a sans-serif font, percentages,
// one label per day, values on the bars, an empty state); the portal adds
// the SLA target and names the value axis.
func drawChart(w io.Writer, res improvement.Result, title string) error {
	opt := chart.Options{Title: title, Width: vg.Points(600), Height: vg.Points(360), Empty: "No measurements yet"}
	switch res.Unit {
	case improvement.UnitRatio:
		opt.YLabel, opt.Target = "compliance", slaTarget
	case improvement.UnitCount:
		opt.YLabel = "incidents"
	case improvement.UnitHours:
		opt.YLabel = "hours"
	}
	return chart.Write(w, res, "svg", opt)
}
