package improvement

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/stream"
)

// Calendar measures business time. The design pillar's business calendar
// (design/calendar.Calendar) satisfies it; the Engine uses it for
// MTTRBusiness.
type Calendar interface {
	// Between returns the working time between start and end. An error
	// (a time outside the calendar's horizon) leaves the interval out of
	// MTTRBusiness.
	Between(start, end time.Time) (time.Duration, error)
}

// SLAInput names what the Engine reads from SLA clock records (the design
// pillar's task_sla). It is the whole coupling between the two pillars: the
// Engine only reads these fields from the records' event Changes.
type SLAInput struct {
	Kind          string   // record kind, default "task_sla"
	TaskField     string   // id of the ticket the clock runs on, default "task_id"
	StageField    string   // the clock's stage, default "stage"; when an event does not change it, a state change (event To) is read as the stage
	BreachedField string   // boolean, true once the clock breached, default "has_breached"
	Completed     []string // stages that end a measured clock, default ["completed"]
	// Slice fields read from the clock itself when present; otherwise the
	// ticket's values are used. Defaults: service_id, assignment_group,
	// priority.
	ServiceField, GroupField, PriorityField string
	// MetricField and Metrics narrow SLACompliance to clocks of some
	// metrics (the design pillar's "response" or "resolution"); empty
	// Metrics counts every clock. MetricField defaults to "metric".
	MetricField string
	Metrics     []string
}

// FirstContactRule chooses what FirstContactResolution counts. Every rule
// requires an incident resolved with no change of assignment group (from one
// non-empty group to another). The zero value is the default: never
// reopened and never on hold either, as ServiceNow's and Jira Service
// Management's "resolved by the first group, without reassignment or
// follow-up" reports count it.
type FirstContactRule struct {
	// AllowReopen counts an incident reopened and resolved again.
	AllowReopen bool
	// AllowHold counts an incident that was on hold.
	AllowHold bool
	// SameAgent also requires that the assignee (assigned_to) was never
	// replaced by another one: resolved by the first agent.
	SameAgent bool
}

// CustomEquals returns a Config.Keep filter keeping the records created with
// custom field name (the "custom.<name>" change of the creating event) equal
// to value: a string's content, any other value's JSON ("30", "true"); ""
// keeps the records created without the field.
func CustomEquals(name, value string) func(ev *itsm.Event) bool {
	field := storage.CustomMember + "." + name
	return func(ev *itsm.Event) bool {
		for i := range ev.Changes {
			if ev.Changes[i].Field == field {
				return customText(ev.Changes[i].To) == value
			}
		}
		return value == ""
	}
}

// Config configures an Engine. The zero value reads the cross-pillar kinds
// and field names.
type Config struct {
	// Name identifies the engine's checkpoint in the store, so several
	// engines (with different calendars) can share one store. Default "kpi".
	Name string
	// Calendar measures business time for MTTRBusiness; nil disables it.
	Calendar Calendar
	// Clock tells Backlog and BacklogAge queries without an AsOf what time
	// it is; default itsm.SystemClock.
	Clock itsm.Clock
	// Kinds read from the log; defaults "incident", "change", "request".
	IncidentKind, ChangeKind, RequestKind string
	// RequestFulfilled are the request states that stop the fulfilment
	// clock; default ["closed_complete"].
	RequestFulfilled []string
	// RequestEnded are every final request state, fulfilled or not; the
	// measurements of the SLA clocks of a request entering one are final,
	// but the request is kept, so that a reopen is applied. Default
	// closed_complete, closed_incomplete, closed_rejected, closed_canceled,
	// closed_skipped, canceled, cancelled.
	RequestEnded []string
	// SLA names the fields read from SLA clock records.
	SLA SLAInput
	// BatchSize is how many events Sync reads per call to storage.ScanEvents
	// (default 5000, at most 100000).
	BatchSize int
	// Tenants leaves out every event of another tenant (an event without
	// one is itsm.DefaultTenant's); empty reads every tenant Apply is fed.
	// Sync reads the tenant of its ctx only, whatever this says.
	Tenants []string
	// Keep, when set, is asked once per incident, request and change, on
	// the event creating it: false leaves the record and every later event
	// of it out of every KPI, and the SLA clocks timing it with it. It is
	// the hook for filters over the record's first values, such as a
	// custom field (see CustomEquals). It must be a pure function of the
	// event: a checkpoint keeps its answers, not the function.
	Keep func(ev *itsm.Event) bool
	// SkipUntimed leaves out of the resolution KPIs (MTTR, MTTRFirst,
	// MTTRBusiness, ReopenRate, FirstContactResolution,
	// GroupReassignmentRate) every incident resolved without a resolution
	// time: created already resolved or closed (imported so), or resolved
	// by an event setting resolved_at to null or the zero time.
	SkipUntimed bool
	// FirstContact chooses the FirstContactResolution definition; its zero
	// value is the default documented on FirstContactResolution.
	FirstContact FirstContactRule
	// CheckpointEvery: Sync saves a checkpoint when at least this many
	// events were applied since the last one (default 1: after every Sync
	// that applied anything). Checkpoint saves one on demand.
	CheckpointEvery int
}

func (c Config) withDefaults() (Config, error) {
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&c.Name, "kpi")
	if c.Clock == nil {
		c.Clock = itsm.SystemClock{}
	}
	def(&c.IncidentKind, "incident")
	def(&c.ChangeKind, "change")
	def(&c.RequestKind, "request")
	if c.RequestFulfilled == nil {
		c.RequestFulfilled = []string{"closed_complete"}
	}
	if c.RequestEnded == nil {
		c.RequestEnded = []string{"closed_complete", "closed_incomplete", "closed_rejected", "closed_canceled", "closed_skipped", "canceled", "cancelled"}
	}
	for _, s := range c.RequestFulfilled {
		if !slices.Contains(c.RequestEnded, s) {
			c.RequestEnded = append(slices.Clone(c.RequestEnded), s)
		}
	}
	def(&c.SLA.Kind, "task_sla")
	def(&c.SLA.TaskField, "task_id")
	def(&c.SLA.StageField, "stage")
	def(&c.SLA.BreachedField, "has_breached")
	def(&c.SLA.ServiceField, "service_id")
	def(&c.SLA.GroupField, "assignment_group")
	def(&c.SLA.PriorityField, "priority")
	def(&c.SLA.MetricField, "metric")
	if c.SLA.Completed == nil {
		c.SLA.Completed = []string{"completed"}
	}
	if c.BatchSize == 0 {
		c.BatchSize = 5000
	}
	if c.CheckpointEvery == 0 {
		c.CheckpointEvery = 1
	}
	switch {
	case len(c.Name) > 64 || !storage.ValidName(c.Name):
		return c, itsm.Invalidf("kpi engine: name %q is not a lower-case identifier of at most 64 characters", c.Name)
	case c.BatchSize < 1 || c.BatchSize > 100000:
		return c, itsm.Invalidf("kpi engine: batch size %d outside 1..100000", c.BatchSize)
	case c.CheckpointEvery < 0:
		return c, itsm.Invalidf("kpi engine: checkpoint interval %d is negative", c.CheckpointEvery)
	}
	for _, k := range []struct{ name, v string }{{"incident kind", c.IncidentKind}, {"change kind", c.ChangeKind},
		{"request kind", c.RequestKind}, {"sla kind", c.SLA.Kind}} {
		if !storage.ValidName(k.v) {
			return c, itsm.Invalidf("kpi engine: %s %.64q is not a record kind name", k.name, k.v)
		}
	}
	for _, t := range c.Tenants {
		if err := itsm.CheckTenant(t); err != nil {
			return c, err
		}
	}
	texts := []string{c.SLA.TaskField, c.SLA.StageField, c.SLA.BreachedField, c.SLA.ServiceField, c.SLA.GroupField,
		c.SLA.PriorityField, c.SLA.MetricField}
	texts = append(append(append(append(texts, c.RequestFulfilled...), c.RequestEnded...), c.SLA.Completed...), c.SLA.Metrics...)
	for _, s := range texts {
		if len(s) > storage.MaxStringValue || !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return c, itsm.Invalidf("kpi engine: field or state name %.64q is not NUL-free UTF-8 of at most %d bytes", s, storage.MaxStringValue)
		}
	}
	return c, nil
}

// Engine computes KPIs from the domain event log. It consumes the log
// incrementally by sequence number, keeps additive counters per (service,
// group, priority, day) and the few facts per record it needs to finish or
// withdraw a measurement (closed records included, so that a reopen after
// close is applied), and stores its state together with the sequence it reached
// in the store, so a restarted engine resumes where it stopped and never
// counts an event twice. Recomputing from scratch and updating incrementally,
// in any batch sizes and across restarts, give identical results.
//
// An Engine is safe for concurrent use. Two engines with the same name on one
// store must not checkpoint concurrently: the later checkpoint fails with
// ErrConflict and that engine should be reopened.
type Engine struct {
	keep    func(*itsm.Event) bool
	tenants map[string]bool // nil: every tenant
	mu      sync.Mutex
	backend storage.Backend // nil for an engine fed only through Apply
	cfg     Config
	st      *state
	saved   int64           // seq of the last checkpoint loaded or saved
	pending int             // events applied since the last checkpoint
	metrics map[string]bool // nil: every metric
	ahead   byte            // what loadAhead read: kept, so the compiler keeps the loads
	run     runAhead        // what loadAhead found about the run being applied
}

// NewDetached returns an engine at the start of the log that is fed through
// Apply only; it has no store and cannot checkpoint. Use New to consume a
// store's log.
//
// It is kept beside New, outside the NewXxx(ctx, backend, Config) shape,
// because its use has no store to give: a host whose outbox relay already
// reads the log feeds it directly, and a recomputation from scratch (to
// check a stored engine, or to replay an export) must not read or write any
// checkpoint. Passing a nil backend to New would blur that with a mistake,
// so New refuses one.
func NewDetached(cfg Config) (*Engine, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, st: newState(), keep: cfg.Keep}
	if len(cfg.Tenants) > 0 {
		e.tenants = setOf(cfg.Tenants)
	}
	if len(cfg.SLA.Metrics) > 0 {
		e.metrics = setOf(cfg.SLA.Metrics)
	}
	return e, nil
}

// New returns the engine named cfg.Name on backend, restored from its last
// checkpoint (or at the start of the log when it has none). Call Sync to
// catch up with the log.
//
// A checkpoint an earlier version saved in an outdated format (1 or 2,
// which forgot incidents once closed, so a later reopen, MTTRFirst and the
// percentiles cannot be brought up to date from it) is not resumed from:
// the engine starts at the start of the log, so the next Sync recomputes
// every KPI from the events (a few seconds per million incidents) and its
// checkpoint replaces the old one. A checkpoint of a format this version
// does not know (a newer one) is ErrInvalid and left as it is.
func New(ctx context.Context, b storage.Backend, cfg Config) (*Engine, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("kpi engine: nil context")
	}
	if b == nil {
		return nil, itsm.Invalidf("kpi engine: nil backend")
	}
	e, err := NewDetached(cfg)
	if err != nil {
		return nil, err
	}
	e.backend = b
	if err := b.Register(ctx, snapshotSchema); err != nil {
		return nil, err
	}
	st, seq, err := loadSnapshot(ctx, b, e.cfg.Name)
	if err != nil {
		return nil, err
	}
	if st != nil {
		e.st = st
	}
	e.saved = seq
	return e, nil
}

func setOf(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// Seq returns the sequence number of the last event the engine applied.
func (e *Engine) Seq() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.st.Seq
}

// Apply feeds events to the engine in log order. Events at or below the
// engine's sequence are skipped, so feeding an event twice never counts it
// twice; kinds the engine does not read are skipped too. It returns how many
// events were applied. Hosts that already consume the log (an outbox
// relay) can call it directly; Sync calls it for events read from the store.
func (e *Engine) Apply(events []itsm.Event) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.apply(events)
}

func (e *Engine) apply(events []itsm.Event) int {
	n := 0
	for len(events) > 0 {
		run := events[:min(readAhead, len(events))]
		events = events[len(run):]
		e.loadAhead(run)
		for i := range run {
			ev := &run[i]
			if ev.Seq <= e.st.Seq {
				continue
			}
			e.applyOne(ev, e.run.kind[i], e.run.hash[i])
			e.st.Seq = ev.Seq
			n++
		}
	}
	e.pending += n
	return n
}

// readAhead is how many events apply loads ahead of applying them: at a
// million incidents 64 and 128 were faster than 32 (by about 10%) and
// 16, and 256 no faster than 64.
const readAhead = 64

// Kinds of record the engine reads, as loadAhead tells them.
const (
	kindNone uint8 = iota // a kind the engine does not read
	kindIncident
	kindSLA
	kindChange
	kindRequest
)

// runAhead is what loadAhead found about the events of the run apply is
// applying: each one's kind and, for an event whose record the table's
// by-address cache does not know, the hash of its record id (0: not
// computed).
type runAhead struct {
	kind [readAhead]uint8
	hash [readAhead]uint64
}

// loadAhead goes through a run of events before they are applied, telling
// their kinds and reading what applying them will read from memory
// outside the processor's caches, so that these loads miss the caches
// together rather than one after the other as each event is applied: the
// first byte of each event's first change, and, for an event whose
// record the by-address cache of its table does not know (mostly the
// events creating records), the bytes of its id (hashed) and the slot of
// the id index where the lookup starts. On a log larger than the caches (a
// million incidents) these are mostly not cached, the id index being
// tens of MB probed at random by every new record. The loads are folded
// into e.ahead so that they are kept. Nothing in the state changes: a
// record added or removed by an earlier event of the run is still found
// as it is when its event is applied, a hash being a function of the id
// alone.
func (e *Engine) loadAhead(run []itsm.Event) {
	var x byte
	st := e.st
	for i := range run {
		ev := &run[i]
		var k uint8
		switch ev.Kind {
		case e.cfg.IncidentKind:
			k = kindIncident
		case e.cfg.SLA.Kind:
			k = kindSLA
		case e.cfg.ChangeKind:
			k = kindChange
		case e.cfg.RequestKind:
			k = kindRequest
		}
		e.run.kind[i] = k
		var h uint64
		var b byte
		switch k {
		case kindIncident:
			h, b = st.Incidents.peek(ev.RecordID)
		case kindSLA:
			h, b = st.SLAs.peek(ev.RecordID)
		case kindChange:
			h, b = st.Changes.peek(ev.RecordID)
		case kindRequest:
			h, b = st.Requests.peek(ev.RecordID)
		default:
			continue
		}
		e.run.hash[i] = h
		x ^= b
		if cs := ev.Changes; len(cs) > 0 {
			if f := cs[0].Field; f != "" {
				x ^= f[0]
			}
		}
	}
	e.ahead ^= x
}

// Sync reads every event after the engine's sequence from the store
// through a Local stream.Consumer (in place where the store can), applies
// them, and saves a checkpoint when Config.CheckpointEvery events were applied
// since the last one. It returns how many events were applied. On an error
// the engine keeps what it applied; the stored checkpoint is unchanged unless
// it was saved.
func (e *Engine) Sync(ctx context.Context) (int, error) {
	if ctx == nil {
		return 0, itsm.Invalidf("kpi engine: nil context")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.backend == nil {
		return 0, itsm.Invalidf("kpi engine %s: no store; feed it with Apply", e.cfg.Name)
	}
	// A Local consumer from the engine's sequence: the engine's state is
	// in memory and its checkpoint is the snapshot saved below, so the
	// consumer keeps no document of its own. It reads the log of the
	// tenant of ctx, as the engine always has. It reads in place where the
	// store can (the memory store), so catching up on a long log copies
	// none of the events.
	total := 0
	tenant, err := storage.TenantOf(ctx, false)
	if err != nil {
		return 0, err
	}
	c, err := stream.NewConsumer(ctx, e.backend, stream.ConsumerConfig{Name: "kpi_engine/" + e.cfg.Name, Local: true,
		InPlace: true, Tenant: tenant, Batch: e.cfg.BatchSize, From: e.st.Seq, Instance: e.cfg.Name,
		Handler: stream.HandlerFunc(func(_ context.Context, evs []itsm.Event) error {
			if err := e.inOrder(evs); err != nil {
				return err
			}
			total += e.apply(evs) // apply counted them in e.pending
			return nil
		})})
	if err != nil {
		return 0, err
	}
	for {
		n, err := c.RunOnce(ctx)
		if he := (*stream.HandlerError)(nil); errors.As(err, &he) {
			return total, he.Err
		}
		if err != nil {
			return total, err
		}
		if n < e.cfg.BatchSize {
			break
		}
	}
	if e.pending > 0 && e.pending >= e.cfg.CheckpointEvery {
		if err := e.checkpoint(ctx); err != nil {
			return total, err
		}
	}
	return total, nil
}

// inOrder checks that a run of events read from the store comes after the
// engine's sequence, in increasing order, as storage.ScanEvents promises:
// Apply skips an event at or below the sequence (fed twice), but from the
// store such an event means a broken backend, whose run is refused whole
// rather than partly skipped.
func (e *Engine) inOrder(evs []itsm.Event) error {
	prev := e.st.Seq
	for i := range evs {
		if evs[i].Seq <= prev {
			return itsm.Invalidf("kpi engine %s: the store handed event seq %d after seq %d; the log must come in increasing order after the engine's seq",
				e.cfg.Name, evs[i].Seq, prev)
		}
		prev = evs[i].Seq
	}
	return nil
}

// Checkpoint saves the engine's state and sequence in the store in one unit
// of work, replacing the previous checkpoint.
func (e *Engine) Checkpoint(ctx context.Context) error {
	if ctx == nil {
		return itsm.Invalidf("kpi engine: nil context")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.backend == nil {
		return itsm.Invalidf("kpi engine %s: no store to checkpoint to", e.cfg.Name)
	}
	return e.checkpoint(ctx)
}

func (e *Engine) checkpoint(ctx context.Context) error {
	if err := saveSnapshot(ctx, e.backend, e.cfg.Name, e.st, e.saved); err != nil {
		return err
	}
	e.saved, e.pending = e.st.Seq, 0
	return nil
}

// Compute answers one KPI query from the events applied so far. A query
// without measurements gives a Result without rows. Bad queries (unknown
// KPI, slice or period, reversed range, MTTRBusiness without a calendar)
// are ErrInvalid.
func (e *Engine) Compute(q Query) (Result, error) {
	if err := q.Check(); err != nil {
		return Result{}, err
	}
	if q.KPI == MTTRBusiness && e.cfg.Calendar == nil {
		return Result{}, itsm.Invalidf("kpi query %s: the engine has no business calendar (Config.Calendar)", q.KPI)
	}
	if q.AsOf.IsZero() {
		q.AsOf = e.cfg.Clock.Now()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.st.compute(q), nil
}

// Volume counts the incidents, requests or changes (unit "incidents",
// "requests" or "changes") of a service opened in [from, to); an empty
// service counts every service. It lets the engine serve as the strategy
// pillar's VolumeCounter (the service is the catalogue id records carry in
// service_id). Another unit, or bounds that are not UTC midnights (the
// engine counts by day, so an hour cannot be measured), is ErrInvalid.
func (e *Engine) Volume(ctx context.Context, serviceID, unit string, from, to time.Time) (int64, error) {
	if ctx == nil {
		return 0, itsm.Invalidf("kpi engine: nil context")
	}
	k, err := volumeKPI(unit, from, to)
	if err != nil {
		return 0, err
	}
	res, err := e.Compute(Query{KPI: k, Service: serviceID, From: from, To: to})
	if err != nil || len(res.Rows) == 0 {
		return 0, err
	}
	return res.Rows[0].Count, nil
}

// MaxVolumeDays bounds the range DailyVolumes measures in one call.
const MaxVolumeDays = 100000

// DailyVolumes counts like Volume, day by day: element i is the count of
// the UTC day from+i days, for every day in [from, to). It answers in one
// pass over the engine's counters what a call of Volume per day would, so
// a caller comparing many periods of one range (the strategy pillar's
// demand slots) takes the engine's lock once. Bounds that are not UTC
// midnights, a reversed range, one longer than MaxVolumeDays, or another
// unit are ErrInvalid.
func (e *Engine) DailyVolumes(ctx context.Context, serviceID, unit string, from, to time.Time) ([]int64, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("kpi engine: nil context")
	}
	k, err := volumeKPI(unit, from, to)
	if err != nil {
		return nil, err
	}
	lo, hi := dayOf(from), dayOf(to)
	if hi < lo || int64(hi)-int64(lo) > MaxVolumeDays {
		return nil, itsm.Invalidf("kpi engine: daily volumes from %s to %s: want a range of 0 to %d days", from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), MaxVolumeDays)
	}
	out := make([]int64, hi-lo)
	if lo == hi {
		return out, nil
	}
	res, err := e.Compute(Query{KPI: k, Service: serviceID, From: from, To: to, Period: PeriodDay})
	if err != nil {
		return nil, err
	}
	for _, r := range res.Rows {
		out[dayOf(r.Start)-lo] += r.Count
	}
	return out, nil
}

// volumeKPI checks a volume query's unit and whole-day bounds and returns
// the KPI counting the unit.
func volumeKPI(unit string, from, to time.Time) (KPI, error) {
	k := map[string]KPI{"incidents": IncidentVolume, "requests": RequestVolume, "changes": ChangeVolume}[unit]
	if k == "" {
		return "", itsm.Invalidf("kpi engine: volume of %q, want incidents, requests or changes", unit)
	}
	if !dayStart(dayOf(from)).Equal(from) || !dayStart(dayOf(to)).Equal(to) {
		return "", itsm.Invalidf("kpi engine: volume from %s to %s: the engine counts whole UTC days", from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	}
	return k, nil
}

// KPIValue returns a KPI's value for one service (empty: every service)
// over [from, to), in the KPI's unit, and whether there were measurements.
// It lets the strategy pillar refresh an objective's measures from the
// engine. An unknown KPI is ErrInvalid.
func (e *Engine) KPIValue(kpi, serviceID string, from, to time.Time) (float64, bool, error) {
	res, err := e.Compute(Query{KPI: KPI(kpi), Service: serviceID, From: from, To: to})
	if err != nil || len(res.Rows) == 0 {
		return 0, false, err
	}
	return res.Rows[0].Value, true, nil
}
