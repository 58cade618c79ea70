package main

import (
	"context"
	"fmt"
	"time"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/design/calendar"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/strategy"
)

// officeHours is the business calendar the SLAs run on: weekdays 09:00-17:00
// UTC.
const officeHours = `{"name": "office", "time_zone": "UTC", "hours": {
	"mon": ["09:00-17:00"], "tue": ["09:00-17:00"], "wed": ["09:00-17:00"],
	"thu": ["09:00-17:00"], "fri": ["09:00-17:00"]}}`

// slaDefinitions are the incident SLAs: a response target and a resolution
// target per priority, in business time on the office calendar.
func slaDefinitions() []design.Definition {
	return []design.Definition{
		{ID: "incident-response", Name: "Incident response", Type: design.SLA, Metric: design.Response,
			Kind: "incident", Calendar: "office", Targets: map[int]time.Duration{
				1: 15 * time.Minute, 2: 30 * time.Minute, 3: time.Hour, 4: 2 * time.Hour, 5: 4 * time.Hour}},
		{ID: "incident-resolution", Name: "Incident resolution", Type: design.SLA, Metric: design.Resolution,
			Kind: "incident", Calendar: "office", Targets: map[int]time.Duration{
				1: time.Hour, 2: 4 * time.Hour, 3: 8 * time.Hour, 4: 16 * time.Hour, 5: 40 * time.Hour}},
	}
}

// strategyAndDesign proposes the Payroll service in the portfolio with a
// business case, catalogues it in the design pillar, publishes the
// portfolio entry with the catalogue id, and starts the SLA engine on a
// business calendar.
func (d *demo) strategyAndDesign(ctx context.Context) error {
	strat, err := strategy.New(ctx, d.store, strategy.Config{Clock: d.clock})
	if err != nil {
		return err
	}
	cat, err := design.NewCatalogue(ctx, d.store, design.CatalogueConfig{Clock: d.clock})
	if err != nil {
		return err
	}
	p := &strategy.Service{Name: "Payroll", Owner: "olga", Category: "hr", BusinessCase: strategy.BusinessCase{
		Summary:         "pay 2,400 employees on time",
		ExpectedBenefit: strategy.M(250_000_00, "EUR"), ExpectedCost: strategy.M(90_000_00, "EUR")}}
	if err := strat.ProposeService(d.olga, p, storage.Command{}); err != nil {
		return err
	}
	svc := &design.Service{Name: "Payroll", Type: design.BusinessService, Owner: "olga",
		SupportGroup: "payroll_support", Criticality: 1, AvailabilityTarget: 99.5}
	if err := cat.Services().Create(d.olga, svc, storage.Command{}); err != nil {
		return err
	}
	if _, err := cat.Services().Fire(d.olga, svc.ID, "charter", storage.Command{Reason: "go-live approved"}, nil); err != nil {
		return err
	}
	d.serviceID = svc.ID
	p, err = strat.PublishService(d.olga, p.ID, svc.ID, storage.Command{Reason: "business case accepted by the board"})
	if err != nil {
		return err
	}
	d.strat, d.portfolio = strat, p.ID
	state, err := cat.ServiceState(d.olga, svc.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "portfolio %s %s: %s (benefit %s/yr, cost %s/yr); design catalogue: %s %s service, support %s\n",
		p.Number, p.Name, p.State, p.BusinessCase.ExpectedBenefit, p.BusinessCase.ExpectedCost, state, svc.Type, svc.SupportGroup)

	if err := d.finance(ctx); err != nil {
		return err
	}

	office, err := calendar.Parse([]byte(officeHours))
	if err != nil {
		return err
	}
	d.office = office
	d.sla, err = design.NewEngine(ctx, d.store, design.EngineConfig{Clock: d.clock,
		Calendars: []*calendar.Calendar{office}, Definitions: slaDefinitions()})
	if err != nil {
		return err
	}
	for _, def := range d.sla.Definitions() {
		fmt.Fprintf(d.out, "SLA %-19s on %s hours: P1 %v, P2 %v, P3 %v\n", def.ID, def.Calendar,
			def.Targets[1], def.Targets[2], def.Targets[3])
	}
	return nil
}

// finance prices Payroll support per incident (fixed cost plus a cost per
// incident handled, in integer cents), sets the month's budget, and records
// the business objective Payroll supports with two KPI measures the
// improvement pillar fills in later.
func (d *demo) finance(ctx context.Context) error {
	model := &strategy.CostModel{ServiceID: d.portfolio, Name: "Payroll support", Currency: "EUR", Unit: "incidents",
		Items: []strategy.CostItem{
			{Name: "platform and on-call", Type: strategy.Fixed, Amount: strategy.M(1_500_00, "EUR")},
			{Name: "handling an incident", Type: strategy.Variable, Amount: strategy.M(45_00, "EUR")},
		}}
	if err := d.strat.DefineCostModel(d.olga, model, storage.Command{}); err != nil {
		return err
	}
	d.costModel = model.ID
	month := time.Date(d.day.Year(), d.day.Month(), 1, 0, 0, 0, 0, time.UTC)
	budget := &strategy.Budget{ServiceID: d.portfolio, PeriodStart: month, PeriodEnd: month.AddDate(0, 1, 0),
		Amount: strategy.M(1_700_00, "EUR")}
	if err := d.strat.SetBudget(d.olga, budget, storage.Command{}); err != nil {
		return err
	}
	obj := &strategy.Objective{Title: "Pay every employee on time", Owner: "olga", ServiceIDs: []string{d.portfolio},
		Measures: []strategy.Measure{
			{Name: "incidents resolved within SLA", KPI: "sla_compliance", Service: d.serviceID, Target: 0.95, Higher: true},
			{Name: "mean time to resolve (h)", KPI: "mttr", Service: d.serviceID, Target: 2},
		}}
	if err := d.strat.AddObjective(d.olga, obj, storage.Command{}); err != nil {
		return err
	}
	d.objective = obj.ID
	fmt.Fprintf(d.out, "cost model %q: %s fixed + %s per incident; budget %s: %s; objective %q with %d KPI measures\n",
		model.Name, model.Items[0].Amount, model.Items[1].Amount, budget.PeriodStart.Format("Jan 2006"), budget.Amount,
		obj.Title, len(obj.Measures))
	return nil
}
