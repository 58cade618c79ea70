package design

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pillars-itsm/pillars/design/calendar"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// AgreementType says whom a service level definition binds: a customer
// (SLA), an internal group (OLA) or a supplier (UC). All three run on the
// same clock engine.
type AgreementType string

// The agreement types.
const (
	SLA AgreementType = "sla" // service level agreement, with a customer
	OLA AgreementType = "ola" // operational level agreement, with an internal group
	UC  AgreementType = "uc"  // underpinning contract, with a supplier
)

// Metric is what a definition measures.
type Metric string

// The metrics: time to respond (the first response to the caller, see
// Definition.RespondOn) and time to resolve (the record is resolved or
// closed).
const (
	Response   Metric = "response"
	Resolution Metric = "resolution"
)

// PauseRule pauses a clock while the record is in State and, when
// HoldReasons is not empty, its hold_reason is one of them.
type PauseRule struct {
	State       string   `json:"state"`
	HoldReasons []string `json:"hold_reasons,omitempty"`
}

// DefaultPause returns the pause rules of a Resolution clock left with
// none: it pauses on hold while awaiting the caller or a vendor, as
// ServiceNow and Jira Service Management do by default. It applies to
// Resolution clocks; a Response clock never pauses.
func DefaultPause() []PauseRule {
	return []PauseRule{{State: "on_hold", HoldReasons: []string{"awaiting_caller", "awaiting_vendor"}}}
}

// ResponseSignal names a change of a record, other than a state change,
// that is a first response to the caller and so stops a Response clock.
type ResponseSignal string

// The response signals the engine reads from the domain events.
const (
	// RespondComment: a comment visible to the caller (a note added to the
	// record's "comments" field) written by someone other than the caller
	// ("caller_id"). Internal work notes do not count.
	RespondComment ResponseSignal = "comment"
	// RespondAssignee: the record is assigned to a person ("assigned_to"
	// becomes non-empty); assignment to a group alone does not count.
	RespondAssignee ResponseSignal = "assignee"
)

// DefaultRespondOn returns the signals that stop a Response clock besides its
// stop states: the first comment to the caller and the assignment to a
// person. With the default stop states (every state but "new"), a Response
// clock stops at the first of: work starting (the record leaving New), the
// first comment visible to the caller, and assignment to a person.
func DefaultRespondOn() []ResponseSignal {
	return []ResponseSignal{RespondComment, RespondAssignee}
}

// DefaultWarnings returns the percentages of the target at which a clock warns.
func DefaultWarnings() []int {
	return []int{50, 75, 90}
}

// Definition is an SLA, OLA or underpinning contract: which records it
// applies to, the target per priority, the calendar its time runs on, and
// when its clock starts, pauses, stops and is canceled.
//
// A clock starts when a record of Kind matches the conditions (priority,
// service, group) and is in neither a stop nor a cancel state; it pauses
// while a PauseRule matches; it completes on a StopState, and is canceled
// on a CancelState or when the record stops matching. A record reopened
// from a stop state resumes its clock, or restarts it from zero when
// ResetOnReopen is set.
type Definition struct {
	ID         string        `json:"id"` // stable name, "p1-resolution"
	Name       string        `json:"name"`
	Type       AgreementType `json:"type"`
	Metric     Metric        `json:"metric"`
	Kind       string        `json:"kind"`                 // record kind, "incident"
	Priorities []int         `json:"priorities,omitempty"` // empty: every priority with a target
	Services   []string      `json:"services,omitempty"`   // service_id values; empty: any
	Groups     []string      `json:"groups,omitempty"`     // assignment_group values; empty: any
	// Conditions narrow the records further: each must hold (see
	// Condition), on the tenant, the built-in fields or custom fields.
	Conditions []Condition           `json:"conditions,omitempty"`
	Targets    map[int]time.Duration `json:"targets"`            // business time allowed, per priority
	Calendar   string                `json:"calendar,omitempty"` // name of a calendar given to the engine; empty: round the clock
	// StopStates complete the clock; by default every state but "new" for
	// Response, and "resolved" and "closed" for Resolution.
	StopStates []string `json:"stop_states,omitempty"`
	// RespondOn lists the signals besides StopStates that complete a
	// Response clock (the first response to the caller); nil means
	// DefaultRespondOn, an empty non-nil slice leaves the stop states
	// alone. A Response clock completes once: a first response is not
	// given twice, so it neither reopens nor starts after one. Resolution
	// definitions take no signals.
	RespondOn []ResponseSignal `json:"respond_on,omitempty"`
	// CancelStates cancel the clock; by default "canceled".
	CancelStates []string `json:"cancel_states,omitempty"`
	// Pause holds the pause rules of a Resolution clock; nil means
	// DefaultPause, an empty non-nil slice never pauses. A Response clock
	// stops at the first response and never pauses: its Pause may be nil,
	// empty or DefaultPause (all meaning no pause, so one set of defaults
	// serves both metrics), and other rules are refused as they would never
	// apply.
	Pause         []PauseRule `json:"pause,omitempty"`
	ResetOnReopen bool        `json:"reset_on_reopen,omitempty"`
	// Warnings are percentages of the target, ascending within 1..99; nil
	// means DefaultWarnings.
	Warnings []int `json:"warnings,omitempty"`
}

// MaxPriority is the largest priority a target may name (1 is highest).
const MaxPriority = 5

// MaxText bounds every name the design pillar takes, in bytes: those a
// definition or engine configuration holds (ids, kinds, states, services,
// groups, calendar and instance names), and the names and references of
// services, offerings, items, outages, suppliers, contracts and capacity
// samples. It is the store's bound on an indexed string, since they are
// stored in clocks, leases, records and events. Each must also be valid
// UTF-8 without NUL.
const MaxText = storage.MaxStringValue

// timeProblem says what is wrong with a time a design record holds (an
// outage's begin and end, a contract's term, a capacity sample), or returns
// "" when it is fine: it must lie within the years calendars answer for,
// calendar.MinYear..calendar.MaxYear, so that year 9999 or year 1 is a
// mistake refused, not a record kept.
func timeProblem(t time.Time) string {
	if y := t.UTC().Year(); y < calendar.MinYear || y > calendar.MaxYear {
		return fmt.Sprintf("%s is outside the years %d..%d", t.UTC().Format(time.RFC3339), calendar.MinYear, calendar.MaxYear)
	}
	return ""
}

// checkTexts adds to verr a problem for each named text that is too long,
// not UTF-8 or holds NUL (see MaxText).
func checkTexts(verr *itsm.ValidationError, texts ...string) {
	for i := 0; i+1 < len(texts); i += 2 {
		if p := textProblem(texts[i+1]); p != "" {
			verr.Add(texts[i], p)
		}
	}
}

// textProblem says what is wrong with a name the engine would store, or
// returns "" when it is fine.
func textProblem(s string) string {
	switch {
	case len(s) > MaxText:
		return fmt.Sprintf("is %d bytes, more than %d", len(s), MaxText)
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case strings.IndexByte(s, 0) >= 0:
		return "holds a NUL byte"
	}
	return ""
}

// normalize fills the defaults and checks the definition; calendars holds
// the names the engine knows.
func (d Definition) normalize(calendars map[string]bool) (Definition, error) {
	return d.normalizeWith(calendars, nil)
}

// normalizeWith is normalize with the custom fields of the definition's
// kind its conditions may name (none when custom is nil).
func (d Definition) normalizeWith(calendars map[string]bool, custom func(name string) bool) (Definition, error) {
	if custom == nil {
		custom = func(string) bool { return false }
	}
	verr := &itsm.ValidationError{Kind: "sla_definition", ID: d.ID}
	if d.ID == "" {
		verr.Add("id", "is required")
	}
	if p := textProblem(d.ID); p != "" {
		// The error names the definition; quote it so that a NUL or a
		// broken byte shows, and cut it so that the error stays small.
		verr.ID = fmt.Sprintf("%.64q", d.ID)
		verr.Add("id", p)
	}
	texts := []struct {
		name string
		vals []string
	}{{"name", []string{d.Name}}, {"kind", []string{d.Kind}}, {"calendar", []string{d.Calendar}},
		{"services", d.Services}, {"groups", d.Groups}, {"stop_states", d.StopStates}, {"cancel_states", d.CancelStates}}
	for i, r := range d.Pause {
		texts = append(texts, struct {
			name string
			vals []string
		}{fmt.Sprintf("pause[%d]", i), append([]string{r.State}, r.HoldReasons...)})
	}
	for _, f := range texts {
		for _, v := range f.vals {
			if p := textProblem(v); p != "" {
				verr.Add(f.name, fmt.Sprintf("%.64q %s", v, p))
				break
			}
		}
	}
	switch d.Type {
	case SLA, OLA, UC:
	case "":
		d.Type = SLA
	default:
		verr.Add("type", fmt.Sprintf("%q is not sla, ola or uc", d.Type))
	}
	switch d.Metric {
	case Response:
		if d.StopStates == nil {
			d.StopStates = []string{"in_progress", "on_hold", "resolved", "closed"}
		}
		if d.RespondOn == nil {
			d.RespondOn = DefaultRespondOn()
		}
		for i, r := range d.RespondOn {
			if r != RespondComment && r != RespondAssignee {
				verr.Add(fmt.Sprintf("respond_on[%d]", i), fmt.Sprintf("%q is not %q or %q", r, RespondComment, RespondAssignee))
			}
		}
		if len(d.Pause) > 0 && !slices.EqualFunc(d.Pause, DefaultPause(), equalRule) {
			verr.Add("pause", "a response clock stops at the first response and never pauses; leave pause empty")
		}
		d.Pause = []PauseRule{}
	case Resolution:
		if d.StopStates == nil {
			d.StopStates = []string{"resolved", "closed"}
		}
		if len(d.RespondOn) > 0 {
			verr.Add("respond_on", "only a response definition stops on a response")
		}
		d.RespondOn = nil
	default:
		verr.Add("metric", fmt.Sprintf("%q is not response or resolution", d.Metric))
	}
	if d.Kind == "" {
		verr.Add("kind", "is required")
	}
	if len(d.Targets) == 0 {
		verr.Add("targets", "at least one priority needs a target")
	}
	for p, t := range d.Targets {
		if p < 1 || p > MaxPriority {
			verr.Add(fmt.Sprintf("targets[%d]", p), fmt.Sprintf("priority outside 1..%d", MaxPriority))
		}
		if t <= 0 {
			verr.Add(fmt.Sprintf("targets[%d]", p), fmt.Sprintf("target %s must be positive", t))
		}
	}
	if len(d.Priorities) > 0 && len(d.Targets) > 0 {
		hit := false
		for _, p := range d.Priorities {
			if _, ok := d.Targets[p]; ok {
				hit = true
			}
		}
		if !hit {
			verr.Add("priorities", fmt.Sprintf("none of %v has a target, so the definition matches nothing", d.Priorities))
		}
	}
	for _, field := range []struct {
		name string
		vals []string
	}{{"services", d.Services}, {"groups", d.Groups}, {"stop_states", d.StopStates}, {"cancel_states", d.CancelStates}} {
		if slices.Contains(field.vals, "") {
			verr.Add(field.name, "an empty value matches nothing")
		}
	}
	if d.CancelStates == nil {
		d.CancelStates = []string{"canceled"}
	}
	for _, s := range d.StopStates {
		if slices.Contains(d.CancelStates, s) {
			verr.Add("stop_states", fmt.Sprintf("%q is also a cancel state", s))
		}
	}
	if d.Pause == nil {
		d.Pause = DefaultPause()
	}
	for i, r := range d.Pause {
		if r.State == "" {
			verr.Add(fmt.Sprintf("pause[%d]", i), "state is required")
		}
		if slices.Contains(d.StopStates, r.State) || slices.Contains(d.CancelStates, r.State) {
			verr.Add(fmt.Sprintf("pause[%d]", i), fmt.Sprintf("state %q also stops or cancels the clock", r.State))
		}
	}
	if d.Warnings == nil {
		d.Warnings = DefaultWarnings()
	}
	for i, w := range d.Warnings {
		if w < 1 || w > 99 || (i > 0 && w <= d.Warnings[i-1]) {
			verr.Add("warnings", fmt.Sprintf("%v must ascend within 1..99", d.Warnings))
			break
		}
	}
	if d.Calendar != "" && !calendars[d.Calendar] {
		verr.Add("calendar", fmt.Sprintf("no calendar named %q was given to the engine", d.Calendar))
	}
	d.checkConditions(verr, custom)
	return d, verr.Err()
}

func equalRule(a, b PauseRule) bool {
	return a.State == b.State && slices.Equal(a.HoldReasons, b.HoldReasons)
}

// Condition holds when the record's Field has one of Values. Field is
// "tenant" (the record's tenant, itsm.DefaultTenant for default data),
// "priority", "service_id", "assignment_group", or "custom.<name>" for a
// custom field the engine's dictionary (EngineConfig.Dictionary) declares
// on the definition's kind; a custom value is compared as its text (a
// string value unquoted, any other value as its JSON). A record without
// the field has the empty value.
type Condition struct {
	Field  string   `json:"field"`
	Values []string `json:"values"`
}

// The fields a Condition may name besides "custom.<name>".
const (
	FieldTenant   = "tenant"
	FieldPriority = "priority"
	FieldService  = "service_id"
	FieldGroup    = "assignment_group"
)

// CustomPrefix starts the name of a Condition on a custom field.
const CustomPrefix = "custom."

// value returns the subject's value of a condition field.
func (s *subject) value(field string) string {
	switch field {
	case FieldTenant:
		return s.tenant
	case FieldPriority:
		return strconv.Itoa(s.priority)
	case FieldService:
		return s.service
	case FieldGroup:
		return s.group
	}
	raw := s.custom[strings.TrimPrefix(field, CustomPrefix)]
	if raw == "" || raw == "null" {
		return ""
	}
	if str := jsonString(raw); str != "" || raw == `""` {
		return str
	}
	return raw
}

// checkConditions adds to verr what is wrong with the definition's
// conditions: an unknown field, a custom field fields does not declare,
// an empty value list, a field given twice, or a condition that no record
// the rest of the definition takes can meet.
func (d *Definition) checkConditions(verr *itsm.ValidationError, custom func(name string) bool) {
	seen := map[string]bool{}
	for i, c := range d.Conditions {
		name := fmt.Sprintf("conditions[%d]", i)
		if p := textProblem(c.Field); p != "" {
			verr.Add(name, fmt.Sprintf("field %.64q %s", c.Field, p))
			continue
		}
		switch {
		case c.Field == FieldTenant || c.Field == FieldPriority || c.Field == FieldService || c.Field == FieldGroup:
		case strings.HasPrefix(c.Field, CustomPrefix):
			if !custom(strings.TrimPrefix(c.Field, CustomPrefix)) {
				verr.Add(name, fmt.Sprintf("%q is not a custom field declared on %q", c.Field, d.Kind))
				continue
			}
		default:
			verr.Add(name, fmt.Sprintf("unknown field %q (tenant, priority, service_id, assignment_group or custom.<name>)", c.Field))
			continue
		}
		if len(c.Values) == 0 {
			verr.Add(name, fmt.Sprintf("%s has no values, so the definition matches nothing", c.Field))
		}
		for _, v := range c.Values {
			if p := textProblem(v); p != "" {
				verr.Add(name, fmt.Sprintf("value %.64q %s", v, p))
				break
			}
		}
		if seen[c.Field] {
			verr.Add(name, fmt.Sprintf("%s is given twice: contradictory or redundant, give it once", c.Field))
		}
		seen[c.Field] = true
		var allowed []string
		switch c.Field {
		case FieldPriority:
			for p := range d.Targets {
				if len(d.Priorities) == 0 || slices.Contains(d.Priorities, p) {
					allowed = append(allowed, strconv.Itoa(p))
				}
			}
		case FieldService:
			allowed = d.Services
		case FieldGroup:
			allowed = d.Groups
		}
		if allowed != nil && !slices.ContainsFunc(c.Values, func(v string) bool { return slices.Contains(allowed, v) }) {
			verr.Add(name, fmt.Sprintf("%s in %v contradicts the definition's own %v: it matches nothing", c.Field, c.Values, allowed))
		}
	}
}

// overlaps reports whether the definitions could both run a clock of the
// same type and metric on one record: same kind, type and metric, a
// priority both give a target, and conditions that can hold together.
func (d *Definition) overlaps(o *Definition) bool {
	if d.Kind != o.Kind || d.Type != o.Type || d.Metric != o.Metric {
		return false
	}
	shared := false
	for p := range d.Targets {
		if _, ok := o.Targets[p]; ok && (len(d.Priorities) == 0 || slices.Contains(d.Priorities, p)) &&
			(len(o.Priorities) == 0 || slices.Contains(o.Priorities, p)) {
			shared = true
		}
	}
	meet := func(a, b []string) bool {
		return len(a) == 0 || len(b) == 0 || slices.ContainsFunc(a, func(v string) bool { return slices.Contains(b, v) })
	}
	if !shared || !meet(d.Services, o.Services) || !meet(d.Groups, o.Groups) {
		return false
	}
	for _, c := range d.Conditions {
		for _, oc := range o.Conditions {
			if c.Field == oc.Field && !meet(c.Values, oc.Values) {
				return false
			}
		}
	}
	return true
}

// subject is what the engine knows of a record from its events.
type subject struct {
	state, service, group, holdReason, caller string
	tenant                                    string
	custom                                    map[string]string // raw JSON of custom fields, by name
	priority                                  int
	// commented and assigned say whether the last event added a comment by
	// someone other than the caller, and assigned the record to a person.
	commented, assigned bool
}

// responded reports whether the subject's last event carries one of the
// definition's response signals.
func (d *Definition) responded(s subject) bool {
	return s.commented && slices.Contains(d.RespondOn, RespondComment) ||
		s.assigned && slices.Contains(d.RespondOn, RespondAssignee)
}

// target returns the definition's target for the subject, and false when
// the definition does not apply to it.
func (d *Definition) target(s subject) (time.Duration, bool) {
	t, ok := d.Targets[s.priority]
	if !ok {
		return 0, false
	}
	if len(d.Priorities) > 0 && !slices.Contains(d.Priorities, s.priority) {
		return 0, false
	}
	if len(d.Services) > 0 && !slices.Contains(d.Services, s.service) {
		return 0, false
	}
	if len(d.Groups) > 0 && !slices.Contains(d.Groups, s.group) {
		return 0, false
	}
	for _, c := range d.Conditions {
		if !slices.Contains(c.Values, s.value(c.Field)) {
			return 0, false
		}
	}
	return t, true
}

func (d *Definition) paused(s subject) bool {
	for _, r := range d.Pause {
		if r.State == s.state && (len(r.HoldReasons) == 0 || slices.Contains(r.HoldReasons, s.holdReason)) {
			return true
		}
	}
	return false
}
