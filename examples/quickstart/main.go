// Command quickstart is the main Pillars demo: one working day of a payroll
// service told through the five ITIL v3 pillars, on the embedded in-memory
// store, with a fake clock driving time.
//
//	go run ./examples/quickstart [-chart path.svg]
//
// Strategy puts the service in the portfolio; Design catalogues it and
// attaches SLAs on an office-hours calendar; Transition registers its CIs and
// takes a normal change through assessment, approval and implementation;
// Operation runs a burst of incidents (a major one, a reopened one, one on
// hold awaiting the caller) and a problem with its known error; Improvement
// computes the KPIs from the event log, opens a CSI item on the worst one and
// draws a chart. Finally every record's hash-chained audit log is verified.
// Every figure printed is computed from what the pillars recorded.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/design/calendar"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/strategy"
)

// options are the command-line settings of the demo.
type options struct {
	// ChartPath is where the SVG chart is written.
	ChartPath string
}

func main() {
	var opts options
	flag.StringVar(&opts.ChartPath, "chart", filepath.Join(os.TempDir(), "pillars-quickstart-sla.svg"),
		"where to write the SLA compliance chart (SVG)")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, opts); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// demo is the state shared by the pillar steps: one store, one fake clock,
// the people acting, and the ids the later steps refer to.
type demo struct {
	out   io.Writer
	store *memory.Store
	clock *itsm.FakeClock
	day   time.Time // the UTC day the story happens on

	// people; mona is the service desk manager, who reads every record
	// (itsm.RoleManager) and for whom the reports are printed
	olga, rita, alice, ann, dan, max, carl, mona context.Context

	office *calendar.Calendar // the business calendar of the SLAs and of business-time KPIs
	sla    *design.Engine     // the SLA engine (design pillar)
	desk   *operation.Desk    // the service desk (operation pillar)

	strat     *strategy.Strategy // the strategy pillar: portfolio, objectives, finance
	portfolio string             // the portfolio entry of Payroll
	objective string             // the business objective Payroll supports
	costModel string             // Payroll's cost model

	serviceID string            // the design catalogue's Payroll service id, used as service_id everywhere
	ciIDs     map[string]string // CI name → id
	changeID  string
	incidents []string // incident ids in opening order
}

// run tells the whole story on a fresh in-memory store and writes it to out.
func run(ctx context.Context, out io.Writer, opts options) error {
	store := memory.New()
	defer store.Close()
	return runOn(ctx, store, out, opts)
}

// runOn tells the story on store, which must be empty.
func runOn(ctx context.Context, store *memory.Store, out io.Writer, opts options) error {
	if opts.ChartPath == "" {
		return fmt.Errorf("%w: a chart path is required", itsm.ErrInvalid)
	}
	day := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC) // a Monday
	d := &demo{
		out:   out,
		store: store,
		clock: itsm.NewFakeClock(day.Add(9 * time.Hour)),
		day:   day,
		ciIDs: map[string]string{},
	}
	as := func(id string, roles []string, groups ...string) context.Context {
		return itsm.WithActor(ctx, itsm.Actor{ID: id, Name: id, Roles: roles, Groups: groups})
	}
	agent := []string{"agent"}
	d.olga = as("olga", agent, "payroll_owners")
	d.rita = as("rita", agent, "change_management")
	d.alice = as("alice", agent, "change_management")
	d.ann = as("ann", agent, "payroll_support")
	d.dan = as("dan", agent, "dba")
	d.max = as("max", []string{"agent", "major_incident_manager"}, "payroll_support")
	d.carl = as("carl", []string{"caller"})
	d.mona = as("mona", []string{itsm.RoleManager})

	steps := []struct {
		title string
		fn    func(context.Context) error
	}{
		{"Strategy and design: portfolio, catalogue, SLA", d.strategyAndDesign},
		{"Transition: CMDB and a normal change", d.transition},
		{"Operation: a day at the service desk", d.operation},
	}
	for _, s := range steps {
		fmt.Fprintf(out, "== %s ==\n", s.title)
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.title, err)
		}
	}
	fmt.Fprintln(out, "== Improvement: SLA results, KPIs, CSI ==")
	if err := d.improvement(ctx, opts.ChartPath); err != nil {
		return fmt.Errorf("improvement: %w", err)
	}
	fmt.Fprintln(out, "== Audit ==")
	return d.audit(ctx)
}
