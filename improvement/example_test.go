package improvement_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/pillars-itsm/pillars/improvement"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// ticket is a minimal incident: the engine reads the cross-pillar field
// names (service_id, assignment_group, priority) from its events.
type ticket struct {
	itsm.Record
	ServiceID       string `json:"service_id"`
	AssignmentGroup string `json:"assignment_group"`
	Priority        int    `json:"priority"`
}

// exampleHistory writes three incidents on the mail service to a memory
// store; the last one is reopened once.
func exampleHistory() (*memory.Store, *itsm.FakeClock) {
	ctx := context.Background()
	store := memory.New()
	clock := itsm.NewFakeClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	machine, _ := itsm.NewLifecycle[*ticket]("incident").Initial("new").States("in_progress", "resolved").
		Final("closed").Event("start", "in_progress", "new").Event("resolve", "resolved", "in_progress").
		Event("reopen", "in_progress", "resolved").Event("close", "closed", "resolved").Compile()
	coll := storage.NewCollection[ticket]("incident")
	_ = coll.Register(ctx, store)
	incidents, _ := storage.NewRecords(store, coll, machine, storage.RecordsConfig{Prefix: "INC", Clock: clock})
	agent := itsm.WithActor(ctx, itsm.Actor{ID: "ann", Roles: []string{"agent"}})
	for i, work := range []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour} {
		inc := &ticket{ServiceID: "email", AssignmentGroup: "desk", Priority: 2 + i%2}
		_ = incidents.Create(agent, inc, storage.Command{})
		clock.Advance(15 * time.Minute)
		_, _ = incidents.Fire(agent, inc.ID, "start", storage.Command{}, nil)
		clock.Advance(work)
		_, _ = incidents.Fire(agent, inc.ID, "resolve", storage.Command{}, nil)
		if i == 2 {
			clock.Advance(time.Hour)
			_, _ = incidents.Fire(agent, inc.ID, "reopen", storage.Command{}, nil)
			clock.Advance(time.Hour)
			_, _ = incidents.Fire(agent, inc.ID, "resolve", storage.Command{}, nil)
		}
	}
	return store, clock
}

// Example computes KPIs from the event log of a few incidents on the
// default store, then opens a CSI item on the worst one.
func Example() {
	ctx := context.Background()
	store, clock := exampleHistory()
	agent := itsm.WithActor(ctx, itsm.Actor{ID: "ann", Roles: []string{"agent"}})

	engine, _ := improvement.New(ctx, store, improvement.Config{})
	n, _ := engine.Sync(ctx) // reads the log after its checkpoint and saves a new one
	fmt.Println("events applied:", n)
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	summary, _ := engine.Summary(day, day.AddDate(0, 0, 1))
	for _, k := range []improvement.KPI{improvement.MTTA, improvement.MTTR, improvement.ReopenRate, improvement.FirstContactResolution} {
		line, _ := summary.Line(k)
		fmt.Printf("%-25s %s\n", k, line.Format())
	}

	register, _ := improvement.NewRegister(ctx, store, improvement.RegisterConfig{Clock: clock})
	item := &improvement.Item{Title: "Resolve mail incidents faster", KPI: improvement.MTTR, SliceService: "email", Target: 2}
	_ = register.IdentifyFromKPI(agent, engine, item, day, day.AddDate(0, 0, 1), storage.Command{})
	fmt.Printf("%s %s: baseline %.2f h, target %.2f h, step %d %q\n", item.Number, item.State, item.Baseline, item.Target,
		item.Step, improvement.SevenSteps()[item.Step-1].Name)

	mttr, _ := engine.Compute(improvement.Query{KPI: improvement.MTTR, By: []improvement.Dimension{improvement.ByService}})
	_ = mttr.WriteCSV(os.Stdout)
	// Output:
	// events applied: 11
	// mtta                      0.25 h
	// mttr                      2.92 h
	// reopen_rate               33.3 %
	// first_contact_resolution  66.7 %
	// CSI0000001 identified: baseline 2.92 h, target 2.00 h, step 2 "Define what you will measure"
	// start,end,service,count,hits,mean_seconds,value
	// 2026-11-02,2026-11-03,email,3,0,10500,2.9166666666666665
}

// ExampleSummary prints every KPI of a day as a table.
func ExampleSummary() {
	ctx := context.Background()
	store, _ := exampleHistory()
	engine, _ := improvement.New(ctx, store, improvement.Config{})
	_, _ = engine.Sync(ctx)
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	summary, _ := engine.Summary(day, day.AddDate(0, 0, 1))
	_ = summary.WriteText(os.Stdout)
	// Output:
	// KPI                        value   measured
	// mtta                       0.25 h  3
	// mttr                       2.92 h  3
	// mttr_first                 2.25 h  3
	// mtbf                       0.33 h  3
	// sla_compliance             -       0
	// reopen_rate                33.3 %  3
	// first_contact_resolution   66.7 %  3
	// backlog                    -       0
	// backlog_age                -       0
	// group_reassignment_rate    0.0 %   3
	// change_success_rate        -       0
	// emergency_change_ratio     -       0
	// changes_causing_incidents  -       0
	// request_fulfilment_time    -       0
	// incident_volume            3       3
	// request_volume             -       0
	// change_volume              -       0
}
