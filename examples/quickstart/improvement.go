package main

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/improvement"
)

// improvement brings the SLA clocks up to date, prints each incident's SLA
// results, computes the day's KPIs from the event log, opens a CSI item on
// the Payroll MTTR with a baseline measured by the KPI engine, and draws SLA
// compliance by priority as an SVG chart at chartPath.
func (d *demo) improvement(ctx context.Context, chartPath string) error {
	if _, err := d.sla.Sync(ctx); err != nil {
		return err
	}
	if _, err := d.sla.Check(ctx, d.clock.Now()); err != nil {
		return err
	}
	for _, id := range d.incidents {
		inc, err := d.desk.Incidents().Get(ctx, id)
		if err != nil {
			return err
		}
		clocks, err := d.sla.ClocksOf(ctx, id)
		if err != nil {
			return err
		}
		sort.Slice(clocks, func(i, j int) bool { return clocks[i].Metric > clocks[j].Metric }) // response, then resolution
		parts := make([]string, 0, len(clocks))
		for _, c := range clocks {
			verdict := "met"
			switch {
			case c.Breached:
				verdict = "BREACHED"
			case c.State != "completed":
				verdict = "running"
			}
			parts = append(parts, fmt.Sprintf("%-10s %-11s %5s %4.0f%% %s", c.Metric, c.State,
				hm(c.BusinessElapsed), c.Percentage, verdict))
		}
		fmt.Fprintf(d.out, "SLA %s P%d  %s\n", inc.Number, inc.Priority, strings.Join(parts, " | "))
	}

	kpis, err := improvement.Open(ctx, d.store, improvement.Config{Calendar: d.office})
	if err != nil {
		return err
	}
	n, err := kpis.Sync(ctx)
	if err != nil {
		return err
	}
	from, to := d.day, d.day.AddDate(0, 0, 1)
	summary, err := kpis.Summary(from, to)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "KPIs of %s from %d logged events:\n", from.Format("Mon 2 Jan 2006"), n)
	shown := []improvement.KPI{
		improvement.IncidentVolume, improvement.MTTA, improvement.MTTR, improvement.MTTRBusiness,
		improvement.SLACompliance, improvement.ReopenRate, improvement.FirstContactResolution,
		improvement.ReassignmentRate, improvement.Backlog, improvement.BacklogAge,
		improvement.ChangeSuccessRate, improvement.ChangeVolume,
	}
	for i := 0; i < len(shown); i += 2 {
		var cols []string
		for _, k := range shown[i:min(i+2, len(shown))] {
			line, ok := summary.Line(k)
			if !ok {
				return fmt.Errorf("the summary has no %s", k)
			}
			cols = append(cols, fmt.Sprintf("  %-25s %-8s n=%-4d", k, line.Format(), line.Count))
		}
		fmt.Fprintln(d.out, strings.TrimRight(strings.Join(cols, ""), " "))
	}

	// A CSI item on the worst figure: MTTR on Payroll, aiming at a quarter less.
	baseline, ok, err := kpis.KPIValue(string(improvement.MTTR), d.serviceID, from, to)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no MTTR measured on Payroll")
	}
	register, err := improvement.NewRegister(ctx, d.store, improvement.RegisterConfig{Clock: d.clock})
	if err != nil {
		return err
	}
	item := &improvement.Item{Title: "Resolve Payroll incidents faster", KPI: improvement.MTTR,
		ServiceID: d.serviceID, SliceService: d.serviceID, Owner: "olga",
		Target: math.Round(baseline*0.75*100) / 100}
	if err := register.IdentifyFromKPI(d.olga, kpis, item, from, to); err != nil {
		return err
	}
	got, err := register.Fire(d.olga, item.ID, improvement.EventApprove, "agreed at the service review")
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "CSI %s %q: %s, %s baseline %.2f h -> target %.2f h, step %d %q\n", got.Number, got.Title,
		got.State, got.KPI, got.Baseline, got.Target, got.Step, improvement.SevenSteps[got.Step-1].Name)

	byPriority, err := kpis.Compute(improvement.Query{KPI: improvement.SLACompliance,
		By: []improvement.Dimension{improvement.ByPriority}, From: from, To: to})
	if err != nil {
		return err
	}
	var bars []string
	for _, r := range byPriority.Rows {
		bars = append(bars, fmt.Sprintf("P%d %.0f%% (%d/%d)", r.Priority, 100*r.Value, r.Hits, r.Count))
	}
	if err := improvement.SaveChart(chartPath, byPriority, improvement.ChartOptions{Title: "SLA compliance by priority"}); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "SLA compliance by priority: %s\n", strings.Join(bars, ", "))
	fmt.Fprintf(d.out, "chart: %s\n", chartPath)
	return nil
}

// hm renders a duration as hours and minutes, "1h05".
func hm(dur time.Duration) string {
	dur = dur.Round(time.Minute)
	return fmt.Sprintf("%dh%02d", int(dur.Hours()), int(dur.Minutes())%60)
}
