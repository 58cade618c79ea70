// Package improvement is the Continual Service Improvement pillar: KPIs
// computed incrementally from the domain event log, the CSI register, and
// reports as data and charts.
//
// # KPIs from the event log
//
// An Engine consumes the log of every pillar by sequence number
// (storage.Backend.ReadEvents) and computes the service-desk KPIs: MTTA,
// MTTR in calendar and business time (through the small Calendar
// interface the design pillar's calendars satisfy), MTBF per service, SLA
// compliance (from "task_sla" clocks, see SLAInput), reopen rate,
// first-contact resolution, backlog and backlog age, reassignment rate,
// change success rate, emergency-change ratio, changes causing incidents,
// request fulfilment time, and the volumes of incidents, requests and
// changes opened. Each KPI constant's doc comment is its definition: what
// starts and stops its clock and what is excluded.
//
// The engine reads field values from event Changes under the cross-pillar
// names (service_id, assignment_group, priority, assigned_to,
// caused_by_change_id, type, review_outcome, ...) and states (new,
// in_progress, on_hold, resolved, closed, canceled); it imports no other
// pillar. It keeps additive counters per (service, group, priority, UTC day)
// and a few facts per record it has seen, closed ones included; a Query
// slices any KPI by service, group and priority and buckets it per day,
// ISO week or month, and gives P50/P90/P95 of the durations on request.
// Backlog and BacklogAge are measured as of Query.AsOf, by default now from
// the engine's clock (Config.Clock): the backlog of today is aged to now,
// not to the end of the day.
//
//	engine, err := improvement.New(ctx, store, improvement.Config{Calendar: cal})
//	n, err := engine.Sync(ctx) // apply what was logged since the checkpoint
//	res, err := engine.Compute(improvement.Query{KPI: improvement.MTTR,
//		By: []improvement.Dimension{improvement.ByService}, Period: improvement.PeriodWeek})
//
// Sync saves a checkpoint (the engine's state with the sequence it reached,
// in one unit of work, as CheckpointKind documents) so an engine opened
// after a restart resumes there and never counts an event twice. Counting
// from scratch and counting incrementally, in any batch sizes and across
// restarts, give identical results; the tests prove it on a generated
// history. Hosts that already relay the log can feed Engine.Apply directly.
// Engine.Volume and Engine.KPIValue let the strategy pillar compare demand
// with measured volume and refresh its objectives' measures.
//
// # The CSI register
//
// A Register keeps improvement Items (numbers CSI0000001...) through
// storage.Records, so every step writes a domain event. An item ties a KPI
// on a slice to a baseline (IdentifyFromKPI measures it with the engine), a
// target and, after the change, a measured result (MeasureFromKPI). Its
// default lifecycle, ItemLifecycle, runs identified → approved → in_progress
// → measured → closed (or canceled), and follows ITIL's seven-step
// improvement process, SevenSteps: Item.Step says which step the item is
// at, Register.Advance moves it on within a state. Closing an item without
// a measured result is refused.
//
// # Reports
//
// Results and Summary (every KPI over a range) are plain structs, written
// as text, CSV or JSON (ReadResultJSON reads JSON back, checked). Package
// improvement/chart draws a result with gonum.org/v1/plot as SVG or PNG:
// trend lines when the result has a period (MTTR per week, backlog per
// day), bars otherwise (SLA compliance by priority). It is a package of its
// own so that a host importing improvement does not link gonum/plot.
package improvement
