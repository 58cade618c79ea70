package improvement

import (
	"fmt"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
)

// KPI names one key performance indicator the Engine computes. Each constant's
// comment is the indicator's definition: which population it measures, what
// starts and stops its clock, what is excluded, and to which slice and day a
// measurement is attributed. Durations are measured on event occurrence times
// (itsm.Event.At) in whole milliseconds; a negative interval (possible only
// when history was imported out of order) counts as zero.
//
// Slice values (service, group, priority) are read from the record's event
// Changes under the cross-pillar field names: service_id, assignment_group
// and priority for incidents, changes and requests. A measurement takes the
// slice values the record holds at the moment the measurement is taken.
type KPI string

const (
	// MTTA, mean time to acknowledge. Population: incidents. The clock
	// starts at the incident's creation and stops at the first event that
	// either moves it out of state "new" to any state but "canceled", or
	// sets assigned_to to a non-empty value. Excluded: incidents canceled
	// before acknowledgement and incidents not yet acknowledged. Attributed
	// to the day of acknowledgement. Value: mean hours.
	MTTA KPI = "mtta"

	// MTTR, mean time to resolve, in calendar time. Population: incidents in
	// state "resolved" or "closed". The clock starts at creation and stops at
	// the latest resolution (entering "resolved", or "closed" straight from
	// an open state); time on hold is included, as in ServiceNow's
	// "duration" (SLA clocks, which pause, are measured by SLACompliance). A
	// reopening withdraws the measurement, so a reopened incident counts
	// once, at its final resolution; the engine keeps closed incidents, so
	// a reopen after closure (and the resolution after it) is applied too.
	// Repeated events into the same resolved state keep the first one.
	// Excluded: canceled and open incidents. Attributed to the day of the
	// final resolution. Value: mean hours.
	MTTR KPI = "mttr"

	// MTTRFirst, mean time to the first resolution: the MTTR clock stopped
	// at the incident's first resolution and never withdrawn, whatever
	// reopens follow. Population: incidents resolved at least once.
	// Attributed to the day of the first resolution, in the slice the
	// incident held then. Value: mean hours.
	MTTRFirst KPI = "mttr_first"

	// MTTRBusiness is MTTR measured in business time: the same population
	// and clock, with each interval measured by the Engine's Calendar
	// (Config.Calendar); an interval the calendar cannot measure (outside
	// its horizon) is left out. Asking for it without a calendar is
	// ErrInvalid.
	// Value: mean business hours.
	MTTRBusiness KPI = "mttr_business"

	// MTBF, mean time between failures, per service (ITIL: the mean time a
	// service works without interruption). A service is down while at least
	// one open incident (new, in_progress, on_hold) names it in service_id,
	// up otherwise. Each measurement is one uptime: from the moment the
	// service's last open incident was resolved or canceled to the moment an
	// incident opens (or reopens) against it again. The first failure of a
	// service, which has no known start of uptime, gives no measurement;
	// incidents without a service are excluded. Attributed to the day the
	// uptime ended. Sliced by service and period only: slicing it by group
	// or priority is ErrInvalid. Value: mean hours.
	MTBF KPI = "mtbf"

	// SLACompliance is the share of SLA clocks (records of kind "task_sla",
	// see SLAInput for the fields read) met. A clock is measured when its
	// stage becomes "completed"; it is met when has_breached is false then.
	// A clock that leaves "completed" again (its ticket reopened) withdraws
	// its measurement, as long as its ticket is open or resolved; once the
	// ticket is closed (or when it is not an incident or request) the
	// measurement is final. Excluded: cancelled ("canceled") and running
	// clocks; a clock restarted after cancellation counts when it
	// completes. Slice values
	// come from the task_sla record's own service_id, assignment_group and
	// priority when it has them, otherwise from its ticket (task_id) as the
	// engine knows it. SLAInput.Metrics narrows it to response or
	// resolution clocks. Attributed to the day of completion. Value: ratio
	// met/measured (0..1).
	SLACompliance KPI = "sla_compliance"

	// ReopenRate is the share of resolved incidents (the MTTR population)
	// that were reopened at least once before their final resolution: an
	// incident counts once however often it was reopened, and a reopen
	// after closure counts like one after resolution. Numerator: incidents
	// reopened at least once; denominator: incidents resolved (final
	// resolution in the range). Attributed to the day of final resolution.
	// Value: ratio (0..1).
	ReopenRate KPI = "reopen_rate"

	// FirstContactResolution is the share of resolved incidents (the MTTR
	// population) resolved by the first group they were assigned to. By
	// default (Config.FirstContact zero): never reassigned to another group,
	// never reopened and never put on hold; FirstContactRule relaxes the
	// reopen and hold conditions or adds "by the first agent". Attributed
	// to the day of final resolution. Value: ratio (0..1).
	FirstContactResolution KPI = "first_contact_resolution"

	// Backlog is the number of open incidents (new, in_progress, on_hold) at
	// the end of each period, or at the end of the query range when no
	// period is asked, up to the query's AsOf (default: now, from the
	// engine's clock): periods after AsOf's day give no row. An incident
	// enters the backlog at creation or reopening and leaves it at
	// resolution, closure or cancellation; a change of service, group or
	// priority moves it between slices. Entries and exits are counted by
	// UTC day, so the backlog of AsOf's day is the one at the end of that
	// day. A period or slice with nothing open gives no row. Value: count.
	Backlog KPI = "backlog"

	// BacklogAge is the mean age of the Backlog's incidents: the time from
	// each open incident's creation (a reopened incident keeps its creation
	// time) to the end of the period, or to AsOf for the period holding it
	// (the backlog as of now is aged to now, not to the end of the day).
	// Value: mean hours.
	BacklogAge KPI = "backlog_age"

	// GroupReassignmentRate is the share of resolved incidents (the MTTR
	// population) reassigned to another group at least once: their
	// assignment_group changed from one non-empty group to another. The
	// first assignment is not a reassignment, and neither is a change of
	// assignee within a group (operation.Incident.ReassignmentCount counts
	// both, hence the different name). Value: ratio (0..1).
	GroupReassignmentRate KPI = "group_reassignment_rate"

	// ChangeSuccessRate is the share of closed changes whose review_outcome
	// is "successful". Population: changes entering state "closed" with a
	// non-empty review_outcome; changes closed without an outcome and
	// canceled changes are excluded. Attributed to the day of closure.
	// Value: ratio (0..1).
	ChangeSuccessRate KPI = "change_success_rate"

	// EmergencyChangeRatio is the share of closed changes (every change
	// entering "closed", with or without an outcome) whose type is
	// "emergency" at closure. Canceled changes are excluded. Attributed to
	// the day of closure. Value: ratio (0..1).
	EmergencyChangeRatio KPI = "emergency_change_ratio"

	// ChangesCausingIncidents is the share of closed changes (the
	// EmergencyChangeRatio population) named by at least one incident's
	// caused_by_change_id, whenever the link was made (before or after the
	// change closed). A change counts once however many incidents name it;
	// links from canceled incidents, or removed again, do not count.
	// Attributed to the change's day of closure. Value: ratio (0..1); Hits
	// is the number of such changes.
	ChangesCausingIncidents KPI = "changes_causing_incidents"

	// RequestFulfilmentTime is the mean time to fulfil a service request
	// (kind "request"). The clock starts at the request's creation and stops
	// when it enters a fulfilled state ("closed_complete" by default, see
	// Config.RequestFulfilled). A request leaving the fulfilled state
	// (reopened, or closed another way) withdraws its measurement, so it
	// counts once, at its last fulfilment; repeated events into a fulfilled
	// state keep the first. Excluded: requests closed incomplete, rejected
	// or canceled, and open requests. Attributed to the day of fulfilment.
	// Value: mean hours.
	RequestFulfilmentTime KPI = "request_fulfilment_time"
)

// The volumes: how many incidents, requests and changes were opened
// (created), attributed to the day of creation and the slice they were
// created in. Value: count.
const (
	IncidentVolume KPI = "incident_volume"
	RequestVolume  KPI = "request_volume"
	ChangeVolume   KPI = "change_volume"
)

// KPIs returns every KPI the Engine computes, in report order.
func KPIs() []KPI {
	return []KPI{MTTA, MTTR, MTTRFirst, MTTRBusiness, MTBF, SLACompliance, ReopenRate, FirstContactResolution,
		Backlog, BacklogAge, GroupReassignmentRate, ChangeSuccessRate, EmergencyChangeRatio, ChangesCausingIncidents,
		RequestFulfilmentTime, IncidentVolume, RequestVolume, ChangeVolume}
}

// Unit is how a KPI's Row.Value reads.
type Unit string

// The units of KPI values.
const (
	UnitHours Unit = "hours" // a mean duration in hours
	UnitRatio Unit = "ratio" // a share between 0 and 1
	UnitCount Unit = "count" // a number of records
)

// Unit returns the unit of the KPI's values, or "" for an unknown KPI.
func (k KPI) Unit() Unit {
	switch k {
	case MTTA, MTTR, MTTRFirst, MTTRBusiness, MTBF, BacklogAge, RequestFulfilmentTime:
		return UnitHours
	case SLACompliance, ReopenRate, FirstContactResolution, GroupReassignmentRate, ChangeSuccessRate,
		EmergencyChangeRatio, ChangesCausingIncidents:
		return UnitRatio
	case Backlog, IncidentVolume, RequestVolume, ChangeVolume:
		return UnitCount
	}
	return ""
}

// Dimension is a slice a KPI can be broken down by.
type Dimension string

// The dimensions of KPI slices.
const (
	ByService  Dimension = "service"
	ByGroup    Dimension = "group"
	ByPriority Dimension = "priority"
)

// Period is the width of a KPI's time buckets. Weeks are ISO weeks starting
// on Monday; every period is in UTC.
type Period string

// The periods of KPI time buckets. PeriodNone (the zero value) gives one row
// per slice for the whole query range.
const (
	PeriodNone  Period = ""
	PeriodDay   Period = "day"
	PeriodWeek  Period = "week"
	PeriodMonth Period = "month"
)

// Query asks the Engine for one KPI.
type Query struct {
	KPI    KPI
	By     []Dimension // breakdown; empty gives one row per period
	Period Period      // time buckets; PeriodNone for the whole range
	// From and To bound the measurements to [From, To) by the day they are
	// attributed to; both are truncated to UTC days. A zero From is
	// unbounded; a zero To is unbounded for rate and duration KPIs and
	// "AsOf" for Backlog and BacklogAge.
	From, To time.Time
	// AsOf is the instant Backlog and BacklogAge are measured at: the
	// backlog is not known after it, and the period holding it is aged to
	// it. Zero means now, from the engine's clock (Config.Clock). Other
	// KPIs ignore it.
	AsOf time.Time
	// Filters: only measurements of this service, group or priority. Empty
	// or zero means any.
	Service, Group string
	Priority       int
	// Percentiles fills Row.P50, P90 and P95 of a KPI that has them
	// (HasPercentiles). They are exact, by the nearest-rank method: Pp is
	// the smallest sample with at least p% of the samples at or below it
	// (the ceil(p/100*n)-th smallest). They are read from the per-record
	// facts the engine keeps (a few bytes per record, no sketch), so a
	// query with them scans the records followed: milliseconds per 100,000.
	Percentiles bool
}

// HasPercentiles tells whether Query.Percentiles fills a KPI's rows: MTTA,
// MTTR, MTTRFirst, MTTRBusiness and RequestFulfilmentTime.
func (k KPI) HasPercentiles() bool {
	switch k {
	case MTTA, MTTR, MTTRFirst, MTTRBusiness, RequestFulfilmentTime:
		return true
	}
	return false
}

// Row is one line of a KPI result: one period and slice.
type Row struct {
	Start    time.Time `json:"start"`              // first instant of the period (or of the range)
	End      time.Time `json:"end"`                // first instant after the period
	Service  string    `json:"service,omitempty"`  // set when broken down by service
	Group    string    `json:"group,omitempty"`    // set when broken down by group
	Priority int       `json:"priority,omitempty"` // set when broken down by priority
	// Count is the population measured: samples for durations, the
	// denominator for ratios, open records for Backlog and BacklogAge.
	Count int64 `json:"count"`
	// Hits is the numerator of a ratio KPI; zero otherwise.
	Hits int64 `json:"hits,omitempty"`
	// Mean is the mean duration of a duration KPI; zero otherwise.
	Mean time.Duration `json:"mean,omitempty"`
	// Value is the KPI's value in its Unit: mean hours, a ratio or a count.
	Value float64 `json:"value"`
	// P50 (the median), P90 and P95 of the row's durations, set when the
	// query asked for Percentiles (nearest rank, see Query.Percentiles).
	P50 time.Duration `json:"p50,omitempty"`
	P90 time.Duration `json:"p90,omitempty"`
	P95 time.Duration `json:"p95,omitempty"`
}

// Result is a KPI's answer: its rows ordered by period start, then service,
// group and priority. A range without measurements gives no rows, never a
// division by zero.
type Result struct {
	KPI    KPI         `json:"kpi"`
	Unit   Unit        `json:"unit"`
	Period Period      `json:"period,omitempty"`
	By     []Dimension `json:"by,omitempty"`
	Rows   []Row       `json:"rows"`
}

// Check validates the query: a known KPI, known and non-repeated dimensions
// allowed for the KPI, a known period and an ordered range. Every failure
// matches itsm.ErrInvalid.
func (q Query) Check() error {
	if q.KPI.Unit() == "" {
		return itsm.Invalidf("kpi query: unknown KPI %q", q.KPI)
	}
	seen := map[Dimension]bool{}
	for _, d := range q.By {
		switch d {
		case ByService, ByGroup, ByPriority:
		default:
			return itsm.Invalidf("kpi query %s: unknown slice %q (want service, group or priority)", q.KPI, d)
		}
		if seen[d] {
			return itsm.Invalidf("kpi query %s: slice %q asked twice", q.KPI, d)
		}
		seen[d] = true
		if q.KPI == MTBF && d != ByService {
			return itsm.Invalidf("kpi query %s: MTBF is measured per service and cannot be sliced by %s", q.KPI, d)
		}
	}
	if q.KPI == MTBF && (q.Group != "" || q.Priority != 0) {
		return itsm.Invalidf("kpi query %s: MTBF cannot be filtered by group or priority", q.KPI)
	}
	switch q.Period {
	case PeriodNone, PeriodDay, PeriodWeek, PeriodMonth:
	default:
		return itsm.Invalidf("kpi query %s: unknown period %q (want day, week or month)", q.KPI, q.Period)
	}
	if q.Percentiles && !q.KPI.HasPercentiles() {
		return itsm.Invalidf("kpi query %s: no percentiles for this KPI (MTTA, MTTR, MTTRFirst, MTTRBusiness and RequestFulfilmentTime have them)", q.KPI)
	}
	if q.Priority < 0 {
		return itsm.Invalidf("kpi query %s: priority %d is negative", q.KPI, q.Priority)
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return itsm.Invalidf("kpi query %s: range from %s to %s is empty or reversed", q.KPI,
			q.From.UTC().Format(time.RFC3339), q.To.UTC().Format(time.RFC3339))
	}
	return nil
}

// String names the query for error messages and report titles.
func (q Query) String() string {
	s := string(q.KPI)
	if len(q.By) > 0 {
		s += fmt.Sprintf(" by %v", q.By)
	}
	if q.Period != PeriodNone {
		s += " per " + string(q.Period)
	}
	return s
}
