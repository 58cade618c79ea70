package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/improvement"
	"github.com/pillars-itsm/pillars/improvement/chart"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/strategy"
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
		inc, err := d.desk.Incidents().Get(d.mona, id)
		if err != nil {
			return err
		}
		clocks, err := d.sla.ClocksOf(d.mona, id)
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

	kpis, err := improvement.New(ctx, d.store, improvement.Config{Calendar: d.office, Clock: d.clock})
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
		improvement.GroupReassignmentRate, improvement.Backlog, improvement.BacklogAge,
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

	// Strategy reads the figures back: the month's budget against the cost
	// of the incidents measured (the engine counts them by the catalogue id
	// the portfolio entry records), and the objective's measures.
	month := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC)
	lines, err := d.strat.BudgetStatus(d.olga, d.portfolio, d.costModel, kpis, month, month.AddDate(0, 1, 0))
	if err != nil {
		return err
	}
	for _, l := range lines {
		fmt.Fprintf(d.out, "budget %s: %s; %d incidents cost %s (%s each); variance %s\n", l.Budget.PeriodStart.Format("Jan 2006"),
			l.Budget.Amount, l.Volume, l.Cost.Total, l.Cost.PerUnit, l.Variance)
	}
	obj, err := d.strat.RefreshMeasures(d.olga, d.objective, kpis, from, to, storage.Command{})
	if err != nil {
		return err
	}
	var missed *strategy.Measure
	var measures []string
	for i, m := range obj.Measures {
		verdict := "met"
		if !m.Met() {
			verdict = "MISSED"
			if missed == nil {
				missed = &obj.Measures[i]
			}
		}
		unit := unitOf(summary, improvement.KPI(m.KPI))
		measures = append(measures, fmt.Sprintf("%s %s (target %s) %s", m.KPI,
			improvement.SummaryLine{Unit: unit, Count: 1, Value: m.Current}.Format(),
			improvement.SummaryLine{Unit: unit, Count: 1, Value: m.Target}.Format(), verdict))
	}
	fmt.Fprintf(d.out, "objective %q, %s: %s\n", obj.Title, obj.State, strings.Join(measures, "; "))
	if missed == nil {
		fmt.Fprintln(d.out, "every measure met: no CSI item needed")
	} else {
		// A CSI item on the first missed measure, its baseline measured by the engine.
		register, err := improvement.NewRegister(ctx, d.store, improvement.RegisterConfig{Clock: d.clock})
		if err != nil {
			return err
		}
		item := &improvement.Item{Title: "Improve Payroll " + missed.Name, KPI: improvement.KPI(missed.KPI),
			ServiceID: d.serviceID, SliceService: missed.Service, Owner: "olga", Target: missed.Target}
		if err := register.IdentifyFromKPI(d.olga, kpis, item, from, to, storage.Command{}); err != nil {
			return err
		}
		got, err := register.Fire(d.olga, item.ID, improvement.EventApprove, storage.Command{Reason: "agreed at the service review"})
		if err != nil {
			return err
		}
		unit := unitOf(summary, got.KPI)
		fmt.Fprintf(d.out, "CSI %s %q: %s, baseline %s -> target %s, step %d %q\n", got.Number, got.Title, got.State,
			improvement.SummaryLine{Unit: unit, Count: 1, Value: got.Baseline}.Format(),
			improvement.SummaryLine{Unit: unit, Count: 1, Value: got.Target}.Format(),
			got.Step, improvement.SevenSteps()[got.Step-1].Name)
	}

	byPriority, err := kpis.Compute(improvement.Query{KPI: improvement.SLACompliance,
		By: []improvement.Dimension{improvement.ByPriority}, From: from, To: to})
	if err != nil {
		return err
	}
	var bars []string
	for _, r := range byPriority.Rows {
		bars = append(bars, fmt.Sprintf("P%d %.0f%% (%d/%d)", r.Priority, 100*r.Value, r.Hits, r.Count))
	}
	if err := chart.Save(chartPath, byPriority, chart.Options{Title: "SLA compliance by priority"}); err != nil {
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

// unitOf is the unit a KPI's values read in, from the summary.
func unitOf(s improvement.Summary, k improvement.KPI) improvement.Unit {
	line, _ := s.Line(k)
	return line.Unit
}
