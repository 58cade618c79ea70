package improvement

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// ItemKind is the record kind of CSI register items; their numbers read
// CSI0000001.
const ItemKind = "improvement"

// The states of a CSI item's default lifecycle.
const (
	ItemIdentified = "identified"  // an opportunity, with the KPI, its baseline and a target
	ItemApproved   = "approved"    // the improvement is agreed and funded
	ItemInProgress = "in_progress" // the improvement is being implemented
	ItemMeasured   = "measured"    // the KPI was measured again after the change
	ItemClosed     = "closed"      // done; the result is on record
	ItemCanceled   = "canceled"    // dropped before it was measured
)

// The events of a CSI item's default lifecycle.
const (
	EventApprove = "approve" // identified -> approved
	EventStart   = "start"   // approved -> in_progress
	EventMeasure = "measure" // in_progress -> measured; needs a measured result
	EventClose   = "close"   // measured -> closed; needs a measured result
	EventCancel  = "cancel"  // identified, approved or in_progress -> canceled
)

// Direction says which way a KPI improves.
type Direction string

// The directions of improvement.
const (
	Lower  Direction = "lower"  // durations, backlog, breach and reopen rates
	Higher Direction = "higher" // compliance, success and first-contact rates
)

// Better returns the direction in which the KPI improves.
func (k KPI) Better() Direction {
	switch k {
	case SLACompliance, FirstContactResolution, ChangeSuccessRate, MTBF:
		return Higher
	}
	return Lower
}

// Step is one step of the seven-step improvement process and the lifecycle
// state an item is in while the step is done.
type Step struct {
	Number int
	Name   string
	State  string
	What   string
}

// SevenSteps returns ITIL's seven-step improvement process, the default path of
// a CSI item: Item.Step records where the item is, Register.Advance moves it
// on within the step's state, and each lifecycle event moves it to the
// first step of its new state.
func SevenSteps() []Step {
	return []Step{
		{1, "Identify the strategy for improvement", ItemIdentified, "name the vision, the business need and the service concerned"},
		{2, "Define what you will measure", ItemIdentified, "choose the KPI and slice, capture its baseline, set the target"},
		{3, "Gather the data", ItemApproved, "the KPI engine reads the event log of the four other pillars"},
		{4, "Process the data", ItemApproved, "slice the KPI by service, group, priority and period"},
		{5, "Analyse the information and data", ItemApproved, "find trends and causes in the KPI tables and charts"},
		{6, "Present and use the information", ItemApproved, "report to the service owner and agree the change"},
		{7, "Implement improvement", ItemInProgress, "carry the change out, then measure the KPI again against the target"},
	}
}

// firstStep is the step an item enters with each state.
func firstStep(state string) int {
	for _, s := range SevenSteps() {
		if s.State == state {
			return s.Number
		}
	}
	return len(SevenSteps())
}

// Item is an entry of the CSI register: an improvement opportunity tied to a
// KPI, with its baseline, target and, once measured, the result.
type Item struct {
	itsm.Record
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	ServiceID   string `json:"service_id,omitempty"`
	Owner       string `json:"owner,omitempty"`
	// Step is the current step of SevenSteps (1..7).
	Step int `json:"step"`
	// KPI is the measure the improvement targets.
	KPI KPI `json:"kpi"`
	// The slice the KPI is measured on; empty or zero means any.
	SliceService  string `json:"slice_service,omitempty"`
	SliceGroup    string `json:"slice_group,omitempty"`
	SlicePriority int    `json:"slice_priority,omitempty"`
	// Baseline is the KPI value before the improvement, in the KPI's unit,
	// as measured over [BaselineFrom, BaselineTo).
	Baseline     float64   `json:"baseline"`
	BaselineFrom time.Time `json:"baseline_from,omitempty"`
	BaselineTo   time.Time `json:"baseline_to,omitempty"`
	// Target is the value the improvement aims for.
	Target float64 `json:"target"`
	// Measured is the KPI value after the improvement; nil until measured.
	Measured     *float64  `json:"measured,omitempty"`
	MeasuredFrom time.Time `json:"measured_from,omitempty"`
	MeasuredTo   time.Time `json:"measured_to,omitempty"`
	// Achieved is set with Measured: whether it reached the target in the
	// KPI's direction of improvement.
	Achieved bool `json:"achieved"`

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// Bounds of an item's fields: its names and references are NUL-free UTF-8
// of at most MaxItemText bytes (the store's bound on an indexed string), and
// its baseline and measurement ranges lie within MinItemYear..MaxItemYear.
const (
	MaxItemText = storage.MaxStringValue
	MinItemYear = 1900
	MaxItemYear = 2300
)

// Validate checks the item's fields.
func (it *Item) Validate() error {
	v := &itsm.ValidationError{Kind: ItemKind, ID: it.ID}
	if it.Title == "" {
		v.Add("title", "is required")
	}
	for _, f := range []struct{ name, v string }{{"title", it.Title}, {"service_id", it.ServiceID}, {"owner", it.Owner},
		{"slice_service", it.SliceService}, {"slice_group", it.SliceGroup}} {
		if len(f.v) > MaxItemText || !utf8.ValidString(f.v) || strings.IndexByte(f.v, 0) >= 0 {
			v.Add(f.name, fmt.Sprintf("must be NUL-free UTF-8 of at most %d bytes", MaxItemText))
		}
	}
	for _, r := range []struct {
		name     string
		from, to time.Time
	}{{"baseline_to", it.BaselineFrom, it.BaselineTo}, {"measured_to", it.MeasuredFrom, it.MeasuredTo}} {
		if r.from.IsZero() && r.to.IsZero() {
			continue
		}
		switch {
		case !r.from.Before(r.to):
			v.Add(r.name, "the range must end after it starts")
		case r.from.Year() < MinItemYear || r.to.Year() > MaxItemYear:
			v.Add(r.name, fmt.Sprintf("the range must lie within the years %d..%d", MinItemYear, MaxItemYear))
		}
	}
	if it.KPI.Unit() == "" {
		v.Add("kpi", fmt.Sprintf("%q is not a known KPI", it.KPI))
	}
	for name, x := range map[string]float64{"baseline": it.Baseline, "target": it.Target} {
		if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
			v.Add(name, "must be a finite, non-negative number")
		}
	}
	if it.Measured != nil && (math.IsNaN(*it.Measured) || math.IsInf(*it.Measured, 0) || *it.Measured < 0) {
		v.Add("measured", "must be a finite, non-negative number")
	}
	if it.Step < 1 || it.Step > len(SevenSteps()) {
		v.Add("step", fmt.Sprintf("must be 1..%d", len(SevenSteps())))
	}
	if it.SlicePriority < 0 {
		v.Add("slice_priority", "must not be negative")
	}
	if it.KPI == MTBF && (it.SliceGroup != "" || it.SlicePriority != 0) {
		v.Add("slice_group", "MTBF is measured per service only")
	}
	return v.Err()
}

// query returns the KPI query of the item's slice over [from, to).
func (it *Item) query(from, to time.Time) Query {
	return Query{KPI: it.KPI, Service: it.SliceService, Group: it.SliceGroup, Priority: it.SlicePriority, From: from, To: to}
}

func needsMeasurement(_ context.Context, it *Item, _ itsm.Transition) error {
	if it.Measured == nil {
		return errors.New("a measured result is required: measure the KPI after the improvement first")
	}
	return nil
}

// ItemLifecycle returns the default CSI item lifecycle, for a host to extend
// before passing it to NewRegister.
func ItemLifecycle() *itsm.Lifecycle[*Item] {
	return itsm.NewLifecycle[*Item](ItemKind).
		Initial(ItemIdentified).States(ItemApproved, ItemInProgress, ItemMeasured).
		Final(ItemClosed, ItemCanceled).
		Event(EventApprove, ItemApproved, ItemIdentified).
		Event(EventStart, ItemInProgress, ItemApproved).
		Event(EventMeasure, ItemMeasured, ItemInProgress).
		Event(EventClose, ItemClosed, ItemMeasured).
		Event(EventCancel, ItemCanceled, ItemIdentified, ItemApproved, ItemInProgress).
		Guard(EventMeasure, "needs_measured_result", needsMeasurement).
		Guard(EventClose, "needs_measured_result", needsMeasurement).
		Effect(EventApprove, "enter_step", enterStep).
		Effect(EventStart, "enter_step", enterStep)
}

func enterStep(_ context.Context, it *Item, tr itsm.Transition) error {
	it.Step = firstStep(tr.To)
	return nil
}

// RegisterConfig configures a Register.
type RegisterConfig struct {
	Clock      itsm.Clock      // system clock when nil
	Authorizer itsm.Authorizer // itsm.DefaultAuthorizer() when nil
	// Lifecycle replaces ItemLifecycle(); a host extends the default with
	// Clone and passes it here.
	Lifecycle *itsm.Lifecycle[*Item]
	// Dictionary declares the host's custom fields on CSI register items, per tenant;
	// nil declares none. See storage.Dictionary.
	Dictionary *storage.Dictionary
	// Telemetry, when set, observes every command of the pillar's records
	// (storage.RecordsConfig.Observer): a *telemetry.Telemetry (package
	// storage/telemetry) gives spans, metrics and logs. Nil: none.
	Telemetry storage.Observer
}

// Register is the CSI register: improvement items stored through
// storage.Records, so each step writes one domain event.
type Register struct {
	records *storage.Records[Item, *Item]
	clock   itsm.Clock
}

// NewRegister declares the item kind on b and returns the register.
func NewRegister(ctx context.Context, b storage.Backend, cfg RegisterConfig) (*Register, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("csi register: nil context")
	}
	l := cfg.Lifecycle
	if l == nil {
		l = ItemLifecycle()
	}
	m, err := l.Compile()
	if err != nil {
		return nil, err
	}
	coll := storage.NewCollection[Item](ItemKind,
		storage.StringField("kpi", func(it *Item) string { return string(it.KPI) }),
		storage.StringField("service_id", func(it *Item) string { return it.ServiceID }),
	).WithIndex("by_service", "service_id", "state").WithDictionary(cfg.Dictionary)
	if err := coll.Register(ctx, b); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = itsm.SystemClock{}
	}
	r, err := storage.NewRecords(b, coll, m, storage.RecordsConfig{Prefix: "CSI", Clock: cfg.Clock, Authorizer: cfg.Authorizer, Observer: cfg.Telemetry})
	if err != nil {
		return nil, err
	}
	return &Register{records: r, clock: cfg.Clock}, nil
}

// Records returns the register's command runner, for queries and history.
func (r *Register) Records() *storage.Records[Item, *Item] { return r.records }

// Get returns an item.
func (r *Register) Get(ctx context.Context, id string) (*Item, error) { return r.records.Get(ctx, id) }

// Identify records a new improvement opportunity at step 2 of SevenSteps:
// its KPI, slice, baseline and target are set by the caller.
func (r *Register) Identify(ctx context.Context, it *Item, cmd storage.Command) error {
	if it == nil {
		return itsm.Invalidf("csi register: nil item")
	}
	if it.Step == 0 {
		it.Step = 2
	}
	return r.records.Create(ctx, it, cmd)
}

// IdentifyFromKPI records a new opportunity whose baseline is the item's KPI
// measured by the engine on its slice over [from, to). A slice without
// measurements in the range is ErrInvalid: there is no baseline to improve
// on.
func (r *Register) IdentifyFromKPI(ctx context.Context, e *Engine, it *Item, from, to time.Time, cmd storage.Command) error {
	if it == nil || e == nil {
		return itsm.Invalidf("csi register: nil item or engine")
	}
	v, err := measureOne(e, it.query(from, to))
	if err != nil {
		return err
	}
	it.Baseline, it.BaselineFrom, it.BaselineTo = v, itsm.NormalizeTime(from), itsm.NormalizeTime(to)
	return r.Identify(ctx, it, cmd)
}

func measureOne(e *Engine, q Query) (float64, error) {
	res, err := e.Compute(q)
	if err != nil {
		return 0, err
	}
	switch len(res.Rows) {
	case 0:
		return 0, itsm.Invalidf("kpi %s: no measurements for service %q, group %q, priority %d in the range", q.KPI, q.Service, q.Group, q.Priority)
	case 1:
		return res.Rows[0].Value, nil
	}
	// Backlog without a period yields one row per slice; sum them.
	if q.KPI == Backlog {
		var n float64
		for _, row := range res.Rows {
			n += row.Value
		}
		return n, nil
	}
	return 0, itsm.Invalidf("kpi %s: %d rows, want one", q.KPI, len(res.Rows))
}

// Fire moves an item through its lifecycle (approve, start, cancel), with
// cmd.Reason recorded on the event.
func (r *Register) Fire(ctx context.Context, id, event string, cmd storage.Command) (*Item, error) {
	if event == "" {
		// storage.Records would take an empty event for a change
		// without a mutation, and write nothing.
		return nil, itsm.Invalidf("csi register: an event is required")
	}
	return r.records.Fire(ctx, id, event, cmd, nil)
}

// Advance moves the item to the next step of SevenSteps when that step
// belongs to the item's current state; otherwise the next lifecycle event is
// due and Advance is ErrInvalidTransition.
func (r *Register) Advance(ctx context.Context, id string, cmd storage.Command) (*Item, error) {
	return r.records.Change(ctx, id, cmd, func(it *Item) error {
		next := it.Step + 1
		if next > len(SevenSteps()) || SevenSteps()[next-1].State != it.State {
			return &itsm.TransitionError{Kind: ItemKind, ID: it.ID, Number: it.Number, From: it.State, Event: "advance",
				Reason: fmt.Sprintf("step %d is the last of state %s", it.Step, it.State)}
		}
		it.Step = next
		return nil
	})
}

// Measure records the KPI value after the improvement and moves the item to
// "measured". A negative or non-finite value is ErrInvalid.
func (r *Register) Measure(ctx context.Context, id string, value float64, from, to time.Time, cmd storage.Command) (*Item, error) {
	return r.records.Fire(ctx, id, EventMeasure, cmd, func(it *Item) error {
		v := value
		it.Measured, it.MeasuredFrom, it.MeasuredTo = &v, itsm.NormalizeTime(from), itsm.NormalizeTime(to)
		it.Achieved = achieved(it.KPI, v, it.Target)
		return nil
	})
}

// MeasureFromKPI measures the item's KPI on its slice over [from, to) with
// the engine and records it as Measure does. A range without measurements is
// ErrInvalid and changes nothing.
func (r *Register) MeasureFromKPI(ctx context.Context, e *Engine, id string, from, to time.Time, cmd storage.Command) (*Item, error) {
	if e == nil {
		return nil, itsm.Invalidf("csi register: nil engine")
	}
	it, err := r.records.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	v, err := measureOne(e, it.query(from, to))
	if err != nil {
		return nil, err
	}
	return r.Measure(ctx, id, v, from, to, cmd)
}

// Close closes a measured item; an item without a measured result is
// refused by the lifecycle. cmd.Reason is recorded on the event.
func (r *Register) Close(ctx context.Context, id string, cmd storage.Command) (*Item, error) {
	return r.records.Fire(ctx, id, EventClose, cmd, nil)
}

func achieved(k KPI, measured, target float64) bool {
	if k.Better() == Higher {
		return measured >= target
	}
	return measured <= target
}

// Items lists the register's items in one state (any state when empty), by
// number, one page at a time (p's zero value asks for the first page of
// storage.DefaultLimit items); the returned cursor is "" on the last page.
func (r *Register) Items(ctx context.Context, state string, p storage.Paging) ([]*Item, string, error) {
	q := storage.Query{Sort: []storage.Sort{{Field: "number"}}, Cursor: p.Cursor, Limit: p.Limit}
	if state != "" {
		if !r.records.Machine().HasState(state) {
			return nil, "", itsm.Invalidf("csi register: unknown state %q", state)
		}
		q.Filters = []storage.Filter{storage.Eq("state", storage.String(state))}
	}
	return r.records.Query(ctx, q)
}
