package design_test

import (
	"context"
	"fmt"
	"time"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/design/calendar"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// An incident-resolution SLA on office hours: the clock starts with the
// incident, pauses while it waits for the caller, and the engine reports
// the due time, a warning and the final figures.
func ExampleEngine() {
	ctx := context.Background()
	store := memory.New()
	clock := itsm.NewFakeClock(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)) // Monday 09:00

	// A minimal incident kind with the agreed field names.
	lc, _ := itsm.NewLifecycle[*incident]("incident").
		Initial("new").States("on_hold").Final("resolved").
		Event("hold", "on_hold", "new").Event("resume", "new", "on_hold").Event("resolve", "resolved", "new", "on_hold").
		Compile()
	coll := storage.NewCollection[incident]("incident")
	_ = coll.Register(ctx, store)
	incidents, _ := storage.NewRecords(store, coll, lc, storage.RecordsConfig{Prefix: "INC", Clock: clock})

	office, _ := calendar.Parse([]byte(`{"name":"office","hours":{"mon":["09:00-17:00"],"tue":["09:00-17:00"],
		"wed":["09:00-17:00"],"thu":["09:00-17:00"],"fri":["09:00-17:00"]}}`))
	engine, err := design.NewEngine(ctx, store, design.EngineConfig{Clock: clock,
		Calendars: []*calendar.Calendar{office},
		Definitions: []design.Definition{{ID: "p2-resolution", Type: design.SLA, Metric: design.Resolution,
			Kind: "incident", Calendar: "office", Targets: map[int]time.Duration{2: 8 * time.Hour}}}})
	if err != nil {
		fmt.Println(err)
		return
	}

	agent := itsm.WithActor(ctx, itsm.Actor{ID: "ann", Roles: []string{"agent"}})
	inc := &incident{ShortDescription: "Payroll export fails", Priority: 2}
	_ = incidents.Create(agent, inc, storage.Command{})
	_, _ = engine.Sync(ctx)
	c, _ := engine.Clocks().Get(agent, design.ClockID("incident", inc.ID, "p2-resolution"))
	fmt.Println(inc.Number, c.State, "due", c.DueAt.Format("Mon 15:04"))

	clock.Advance(5 * time.Hour) // 14:00: past 50 %
	_, _ = engine.Check(ctx, clock.Now())
	_, _ = incidents.Fire(agent, inc.ID, "hold", storage.Command{}, func(i *incident) error {
		i.HoldReason = "awaiting_caller"
		return nil
	})
	clock.Advance(24 * time.Hour) // Tuesday 14:00
	_, _ = incidents.Fire(agent, inc.ID, "resume", storage.Command{}, func(i *incident) error {
		i.HoldReason = ""
		return nil
	})
	clock.Advance(time.Hour)
	_, _ = incidents.Fire(agent, inc.ID, "resolve", storage.Command{}, nil)
	_, _ = engine.Sync(ctx)
	c, _ = engine.Clocks().Get(agent, c.ID)
	fmt.Printf("%s after %s (%.1f%%), warnings %v, breached %v\n", c.State, c.BusinessElapsed, c.Percentage, c.Warnings, c.Breached)
	// Output:
	// INC0000001 in_progress due Mon 17:00
	// completed after 6h0m0s (75.0%), warnings [50 75], breached false
}

// A catalogue item with a form and an approval: what the operation pillar
// asks before it raises a request.
func ExampleCatalogue() {
	ctx := context.Background()
	cat, _ := design.NewCatalogue(ctx, memory.New(), design.CatalogueConfig{})
	agent := itsm.WithActor(ctx, itsm.Actor{ID: "ann", Roles: []string{"agent"}})

	svc := &design.Service{Name: "Identity", Type: design.BusinessService, Owner: "olga", SupportGroup: "iam", Criticality: 1}
	_ = cat.Services().Create(agent, svc, storage.Command{})
	_, _ = cat.Services().Fire(agent, svc.ID, "charter", storage.Command{}, nil)
	item := &design.CatalogItem{Name: "Admin rights", ServiceID: svc.ID, Category: "access",
		Fields:           []design.FormField{{Name: "system", Label: "System", Type: design.FieldChoice, Required: true, Choices: []string{"erp", "crm"}}},
		ApprovalRequired: true, ApproverGroup: "security",
		Tasks: []design.TaskTemplate{{Name: "Grant access", AssignmentGroup: "iam", Order: 1}}}
	_ = cat.AddItem(agent, item, storage.Command{})
	_, _ = cat.Items().Fire(agent, item.ID, "publish", storage.Command{}, nil)

	fmt.Println("orderable:", cat.Orderable(agent, item.ID) == nil)
	needs, group, _ := cat.ItemApproval(agent, item.ID)
	fmt.Println("approval:", needs, group)
	fmt.Println(cat.ValidateOrder(agent, item.ID, map[string]string{"system": "hr"}))
	// Output:
	// orderable: true
	// approval: true security
	// invalid catalog_item CAT0000001: variables.system: "hr" is not one of [erp crm]
}

// Response and resolution SLAs written with the same defaults: the
// response clock stops at the first response (here an agent's comment to
// the caller while the incident is still new) and never pauses; the
// resolution clock pauses while the incident waits for the caller.
func ExampleDefinition_response() {
	ctx := context.Background()
	store := memory.New()
	clock := itsm.NewFakeClock(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC))
	lc, _ := itsm.NewLifecycle[*incident]("incident").
		Initial("new").States("in_progress", "on_hold").Final("resolved").
		Event("start", "in_progress", "new").Event("hold", "on_hold", "new", "in_progress").
		Event("resolve", "resolved", "new", "in_progress", "on_hold").
		Compile()
	coll := storage.NewCollection[incident]("incident")
	_ = coll.Register(ctx, store)
	incidents, _ := storage.NewRecords(store, coll, lc, storage.RecordsConfig{Prefix: "INC", Clock: clock})
	targets := map[int]time.Duration{3: 4 * time.Hour}
	engine, err := design.NewEngine(ctx, store, design.EngineConfig{Clock: clock, Definitions: []design.Definition{
		{ID: "response", Metric: design.Response, Kind: "incident", Pause: design.DefaultPause(), Targets: map[int]time.Duration{3: time.Hour}},
		{ID: "resolution", Metric: design.Resolution, Kind: "incident", Pause: design.DefaultPause(), Targets: targets},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	agent := itsm.WithActor(ctx, itsm.Actor{ID: "ann", Roles: []string{"agent"}})
	inc := &incident{ShortDescription: "Cannot print", Priority: 3, CallerID: "carl"}
	_ = incidents.Create(agent, inc, storage.Command{})
	clock.Advance(20 * time.Minute)
	_, _ = incidents.Change(agent, inc.ID, storage.Command{}, func(i *incident) error {
		i.Comments = append(i.Comments, note{At: clock.Now(), Author: "ann", Text: "Which printer?"})
		return nil
	})
	clock.Advance(10 * time.Minute)
	_, _ = incidents.Fire(agent, inc.ID, "hold", storage.Command{}, func(i *incident) error {
		i.HoldReason = "awaiting_caller"
		return nil
	})
	_, _ = engine.Sync(ctx)
	for _, id := range []string{"response", "resolution"} {
		c, _ := engine.Clocks().Get(agent, design.ClockID("incident", inc.ID, id))
		fmt.Println(id, c.State, c.BusinessElapsed)
	}
	// Output:
	// response completed 20m0s
	// resolution paused 30m0s
}

// Two application instances check one store: each claims the due clocks
// with a lease, so the 50 % warning is written once.
func ExampleEngine_Check() {
	ctx := context.Background()
	store := memory.New()
	start := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	clock := itsm.NewFakeClock(start)
	lc, _ := itsm.NewLifecycle[*incident]("incident").Initial("new").Final("resolved").Event("resolve", "resolved", "new").Compile()
	coll := storage.NewCollection[incident]("incident")
	_ = coll.Register(ctx, store)
	incidents, _ := storage.NewRecords(store, coll, lc, storage.RecordsConfig{Prefix: "INC", Clock: clock})
	defs := []design.Definition{{ID: "resolution", Metric: design.Resolution, Kind: "incident", Targets: map[int]time.Duration{1: 4 * time.Hour}}}
	a, _ := design.NewEngine(ctx, store, design.EngineConfig{Clock: clock, Definitions: defs, Instance: "web-1"})
	b, _ := design.NewEngine(ctx, store, design.EngineConfig{Clock: clock, Definitions: defs, Instance: "web-2"})

	agent := itsm.WithActor(ctx, itsm.Actor{ID: "ann", Roles: []string{"agent"}})
	inc := &incident{ShortDescription: "Mail down", Priority: 1}
	_ = incidents.Create(agent, inc, storage.Command{})
	_, _ = a.Sync(ctx)

	clock.Set(start.Add(2 * time.Hour))
	due, _, _ := a.Due(ctx, clock.Now(), storage.Paging{Limit: 10})
	fmt.Println("due:", len(due), due[0].TaskID == inc.ID, due[0].NextCheckAt.Format("15:04"))
	na, _ := a.Check(ctx, clock.Now())
	nb, _ := b.Check(ctx, clock.Now())
	c, _ := a.Clocks().Get(agent, due[0].ID)
	fmt.Println("written:", na+nb, "warnings:", c.Warnings)
	// Output:
	// due: 1 true 11:00
	// written: 1 warnings: [50]
}

// The share of their SLA targets a page of incidents has used, read in
// one query: what escalation by SLA percentage asks. A clock on hold
// keeps the share it had when it paused; an unknown id is absent.
func ExampleEngine_SLAPercentages() {
	ctx := context.Background()
	store := memory.New()
	monday := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	clock := itsm.NewFakeClock(monday)
	lc, _ := itsm.NewLifecycle[*incident]("incident").
		Initial("new").States("on_hold").Final("resolved").
		Event("hold", "on_hold", "new").Event("resolve", "resolved", "new", "on_hold").
		Compile()
	coll := storage.NewCollection[incident]("incident")
	_ = coll.Register(ctx, store)
	incidents, _ := storage.NewRecords(store, coll, lc, storage.RecordsConfig{Prefix: "INC", Clock: clock})
	engine, err := design.NewEngine(ctx, store, design.EngineConfig{Clock: clock,
		Definitions: []design.Definition{{ID: "resolution", Metric: design.Resolution, Kind: "incident",
			Targets: map[int]time.Duration{1: 4 * time.Hour, 2: 8 * time.Hour}}}})
	if err != nil {
		fmt.Println(err)
		return
	}

	agent := itsm.WithActor(ctx, itsm.Actor{ID: "ann", Roles: []string{"agent"}})
	p1 := &incident{ShortDescription: "Core switch down", Priority: 1}
	p2 := &incident{ShortDescription: "Printer jam", Priority: 2}
	_ = incidents.Create(agent, p1, storage.Command{})
	_ = incidents.Create(agent, p2, storage.Command{})
	clock.Advance(2 * time.Hour)
	_, _ = incidents.Fire(agent, p2.ID, "hold", storage.Command{}, func(i *incident) error {
		i.HoldReason = "awaiting_vendor"
		return nil
	})
	_, _ = engine.Sync(ctx)

	pcts, _ := engine.SLAPercentages(ctx, "incident", []string{p1.ID, p2.ID, "no-such-id"}, monday.Add(5*time.Hour))
	fmt.Printf("%s %.1f%%, %s %.1f%%, %d answers\n", p1.Number, pcts[p1.ID], p2.Number, pcts[p2.ID], len(pcts))
	// Output:
	// INC0000001 125.0%, INC0000002 25.0%, 2 answers
}

// An admin changes an SLA while incidents run: the new version doubles the
// target and pauses on every hold, and the running clock is recomputed
// under it from its start (its paused time kept), while a retired
// definition's clock runs on under the version it started with.
func ExampleEngine_SaveDefinition() {
	ctx := context.Background()
	store := memory.New()
	clock := itsm.NewFakeClock(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)) // Monday 09:00
	lc, _ := itsm.NewLifecycle[*incident]("incident").
		Initial("new").States("on_hold").Final("resolved").
		Event("hold", "on_hold", "new").Event("resume", "new", "on_hold").Event("resolve", "resolved", "new", "on_hold").
		Compile()
	coll := storage.NewCollection[incident]("incident")
	_ = coll.Register(ctx, store)
	incidents, _ := storage.NewRecords(store, coll, lc, storage.RecordsConfig{Prefix: "INC", Clock: clock})
	engine, _ := design.NewEngine(ctx, store, design.EngineConfig{Clock: clock})
	admin := itsm.WithActor(ctx, itsm.Actor{ID: "ada", Roles: []string{"admin"}})

	day := []string{"09:00-17:00"}
	_, _, err := engine.SaveCalendar(admin, calendar.Spec{Name: "office", TimeZone: "Europe/London",
		Hours: map[string][]string{"mon": day, "tue": day, "wed": day, "thu": day, "fri": day}}, design.KeepVersion, storage.Command{})
	if err != nil {
		fmt.Println(err)
		return
	}
	p2 := design.Definition{ID: "p2-resolution", Name: "Resolve P2", Metric: design.Resolution, Kind: "incident",
		Calendar: "office", Targets: map[int]time.Duration{2: 8 * time.Hour}}
	_, _, _ = engine.SaveDefinition(admin, p2, design.KeepVersion, storage.Command{Reason: "first version"})

	inc := &incident{ShortDescription: "Payroll export fails", Priority: 2}
	_ = incidents.Create(admin, inc, storage.Command{})
	clock.Advance(2 * time.Hour)
	_, _ = incidents.Fire(admin, inc.ID, "hold", storage.Command{}, func(i *incident) error { i.HoldReason = "awaiting_change"; return nil })
	_, _ = engine.Sync(ctx)
	c, _ := engine.Clocks().Get(admin, design.ClockID("incident", inc.ID, "p2-resolution"))
	fmt.Println("v1:", c.State, "target", c.Target, "due", c.DueAt.Format("Mon 15:04"))

	p2.Targets[2] = 16 * time.Hour
	p2.Pause = []design.PauseRule{{State: "on_hold"}} // every hold pauses now
	rec, n, err := engine.SaveDefinition(admin, p2, design.RecomputeClocks, storage.Command{Reason: "contract renewed"})
	if err != nil {
		fmt.Println(err)
		return
	}
	c, _ = engine.Clocks().Get(admin, c.ID)
	fmt.Printf("v%d: %d clock recomputed: %s after %s of %s\n", rec.Version, n, c.State, c.ElapsedBefore, c.Target)

	_, _ = engine.RetireDefinition(admin, "p2-resolution", storage.Command{Reason: "replaced"})
	clock.Advance(time.Hour)
	_, _ = incidents.Fire(admin, inc.ID, "resolve", storage.Command{}, nil)
	_, _ = engine.Sync(ctx)
	c, _ = engine.Clocks().Get(admin, c.ID)
	fmt.Println("retired:", c.State, "under version", c.DefinitionVersion)
	// Output:
	// v1: in_progress target 8h0m0s due Mon 17:00
	// v2: 1 clock recomputed: paused after 2h0m0s of 16h0m0s
	// retired: completed under version 2
}
