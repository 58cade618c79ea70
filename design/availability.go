package design

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/pillars-itsm/pillars/design/calendar"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// OutageKind is the record kind of service outages.
const OutageKind = "outage"

// Outage types: planned (maintenance, agreed beforehand) or unplanned.
const (
	Planned   = "planned"
	Unplanned = "unplanned"
)

// Outage states: an outage is ongoing until it is ended.
const (
	OutageOngoing = "ongoing"
	OutageEnded   = "ended"
)

// Outage is a period during which a service (or one CI of it) was down,
// recorded directly or from a major incident (ServiceNow's cmdb_ci_outage).
type Outage struct {
	itsm.Record
	ServiceID   string    `json:"service_id"`
	CIID        string    `json:"ci_id,omitempty"`
	Type        string    `json:"type"` // planned or unplanned
	Begin       time.Time `json:"begin"`
	End         time.Time `json:"end,omitzero"` // zero while ongoing
	IncidentID  string    `json:"incident_id,omitempty"`
	Description string    `json:"description,omitempty"`

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// Validate checks the outage's fields.
func (o *Outage) Validate() error {
	verr := &itsm.ValidationError{Kind: OutageKind, ID: o.ID}
	checkTexts(verr, "service_id", o.ServiceID, "ci_id", o.CIID, "incident_id", o.IncidentID)
	for _, t := range []struct {
		name string
		at   time.Time
	}{{"begin", o.Begin}, {"end", o.End}} {
		if p := timeProblem(t.at); !t.at.IsZero() && p != "" {
			verr.Add(t.name, p)
		}
	}
	if o.ServiceID == "" {
		verr.Add("service_id", "is required")
	}
	if o.Type != Planned && o.Type != Unplanned {
		verr.Add("type", fmt.Sprintf("%q is not planned or unplanned", o.Type))
	}
	if o.Begin.IsZero() {
		verr.Add("begin", "is required")
	}
	if !o.End.IsZero() && !o.End.After(o.Begin) {
		verr.Add("end", "must be after begin")
	}
	if o.State == OutageEnded && o.End.IsZero() {
		verr.Add("end", "an ended outage needs its end")
	}
	return verr.Err()
}

// Availability records outages, directly or from major incidents
// (SyncMajorIncidents), and measures services against their availability
// targets.
type Availability struct {
	outages *storage.Records[Outage, *Outage]
	clock   itsm.Clock
}

// AvailabilityConfig configures Availability. The zero value works.
type AvailabilityConfig struct {
	Clock      itsm.Clock      // tells the time of outage events; the system clock when nil
	Authorizer itsm.Authorizer // checks every command; itsm.DefaultAuthorizer() when nil
	Prefix     string          // of outage numbers; "OUT" when empty
	// Retries is how many times a command re-reads an outage and tries
	// again after a version conflict (0: storage.Records' default of 3;
	// negative disables).
	Retries int
	// Dictionary declares the host's custom fields on outages, per tenant;
	// nil declares none. See storage.Dictionary.
	Dictionary *storage.Dictionary
	// Telemetry, when set, observes every command of the pillar's records
	// (storage.RecordsConfig.Observer): a *telemetry.Telemetry (package
	// storage/telemetry) gives spans, metrics and logs. Nil: none.
	Telemetry storage.Observer
}

// NewAvailability registers the outage kind with the backend.
func NewAvailability(ctx context.Context, b storage.Backend, cfg AvailabilityConfig) (*Availability, error) {
	if ctx == nil || b == nil {
		return nil, itsm.Invalidf("availability: context and backend are required")
	}
	m, err := itsm.NewLifecycle[*Outage](OutageKind).
		Initial(OutageOngoing).Final(OutageEnded).
		Event("end", OutageEnded, OutageOngoing).
		Compile()
	if err != nil {
		return nil, err
	}
	coll := storage.NewCollection[Outage](OutageKind,
		storage.StringField("service_id", func(o *Outage) string { return o.ServiceID }),
		storage.TimeField("begin", func(o *Outage) time.Time { return o.Begin }),
	).WithIndex("by_service_begin", "service_id", "begin").WithDictionary(cfg.Dictionary)
	if err := coll.Register(ctx, b); err != nil {
		return nil, err
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "OUT"
	}
	recs, err := storage.NewRecords(b, coll, m, storage.RecordsConfig{Prefix: cfg.Prefix, Clock: cfg.Clock,
		Authorizer: cfg.Authorizer, Observer: cfg.Telemetry, Retries: cfg.Retries})
	if err != nil {
		return nil, err
	}
	clock := cfg.Clock
	if clock == nil {
		clock = itsm.SystemClock{}
	}
	return &Availability{outages: recs, clock: clock}, nil
}

// Outages returns the command runner of outages.
func (a *Availability) Outages() *storage.Records[Outage, *Outage] { return a.outages }

// RecordOutage stores an outage; one given with its end is stored ended, in
// the same unit of work.
func (a *Availability) RecordOutage(ctx context.Context, o *Outage, cmd storage.Command) error {
	if o == nil {
		return itsm.Invalidf("%s: nil record", OutageKind)
	}
	if ctx == nil {
		return itsm.Invalidf("%s: nil context", OutageKind)
	}
	end := o.End
	return a.outages.Backend().Update(ctx, func(tx storage.Tx) error {
		if err := a.outages.CreateTx(ctx, tx, o, cmd); err != nil {
			return err
		}
		if end.IsZero() {
			return nil
		}
		ended, err := a.outages.FireTx(ctx, tx, o.ID, "end", cmd, nil)
		if err == nil {
			*o = *ended
		}
		return err
	})
}

// EndOutage ends an ongoing outage at end.
func (a *Availability) EndOutage(ctx context.Context, id string, end time.Time, cmd storage.Command) (*Outage, error) {
	return a.outages.Fire(ctx, id, "end", cmd, func(o *Outage) error {
		o.End = end.UTC()
		return nil
	})
}

// AvailabilityReport is a service's measured availability over a period,
// in calendar time and in agreed service time (the hours of a business
// calendar). Planned outages are taken out of the agreed time, as ITIL
// measures availability; unplanned ones are downtime.
type AvailabilityReport struct {
	ServiceID string
	From, To  time.Time

	CalendarTime     time.Duration // To - From
	CalendarPlanned  time.Duration // planned outage within the period
	CalendarDowntime time.Duration // unplanned outage within the period
	CalendarPercent  float64       // (time - planned - downtime) / (time - planned) * 100

	AgreedTime     time.Duration // service time per the calendar
	AgreedPlanned  time.Duration
	AgreedDowntime time.Duration
	AgreedPercent  float64

	Failures int           // unplanned outages within the period, overlapping ones merged
	MTRS     time.Duration // mean time to restore service: calendar downtime / failures
	MTBF     time.Duration // mean time between failures: calendar uptime / failures
}

// Measure computes a service's availability over [from, to), reading its
// outages by the (service_id, begin) index; an ongoing outage counts until
// to. cal gives the agreed service time; nil means round the clock.
func (a *Availability) Measure(ctx context.Context, serviceID string, from, to time.Time, cal *calendar.Calendar) (AvailabilityReport, error) {
	r := AvailabilityReport{ServiceID: serviceID, From: from.UTC(), To: to.UTC()}
	verr := &itsm.ValidationError{Kind: "availability_report"}
	if serviceID == "" {
		verr.Add("service_id", "is required")
	}
	if !to.After(from) {
		verr.Add("to", "must be after from")
	}
	if err := verr.Err(); err != nil {
		return r, err
	}
	if ctx == nil {
		return r, itsm.Invalidf("availability: nil context")
	}
	type span struct{ a, b time.Time }
	var planned, unplanned []span
	cursor := ""
	for {
		page, next, err := a.outages.Query(ctx, storage.Query{
			Filters: []storage.Filter{storage.Eq("service_id", storage.String(serviceID)), storage.Lt("begin", storage.Time(to))},
			Sort:    []storage.Sort{{Field: "begin"}}, Limit: storage.MaxLimit, Cursor: cursor})
		if err != nil {
			return r, err
		}
		for _, o := range page {
			end := o.End
			if end.IsZero() || end.After(to) {
				end = to
			}
			begin := o.Begin
			if begin.Before(from) {
				begin = from
			}
			if !end.After(begin) {
				continue
			}
			if o.Type == Planned {
				planned = append(planned, span{begin, end})
			} else {
				unplanned = append(unplanned, span{begin, end})
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	merge := func(ss []span) []span {
		slices.SortFunc(ss, func(x, y span) int { return x.a.Compare(y.a) })
		var out []span
		for _, s := range ss {
			if n := len(out); n > 0 && !s.a.After(out[n-1].b) {
				if s.b.After(out[n-1].b) {
					out[n-1].b = s.b
				}
				continue
			}
			out = append(out, s)
		}
		return out
	}
	planned, unplanned = merge(planned), merge(unplanned)
	// Downtime during planned maintenance is not counted twice.
	var down []span
	for _, u := range unplanned {
		cur := []span{u}
		for _, p := range planned {
			var nextCur []span
			for _, c := range cur {
				if !p.b.After(c.a) || !c.b.After(p.a) {
					nextCur = append(nextCur, c)
					continue
				}
				if p.a.After(c.a) {
					nextCur = append(nextCur, span{c.a, p.a})
				}
				if c.b.After(p.b) {
					nextCur = append(nextCur, span{p.b, c.b})
				}
			}
			cur = nextCur
		}
		down = append(down, cur...)
	}
	if cal == nil {
		var all [7][]calendar.Range
		for d := range all {
			all[d] = []calendar.Range{{Start: 0, End: calendar.MinutesPerDay}}
		}
		c, err := calendar.Compile(calendar.Config{Name: "24x7", Week: all, FromYear: from.UTC().Year(), ToYear: to.UTC().Year()})
		if err != nil {
			return r, err
		}
		cal = c
	}
	r.CalendarTime = to.Sub(from)
	agreed, err := cal.Between(from, to)
	if err != nil {
		return r, err
	}
	r.AgreedTime = agreed
	for _, p := range planned {
		r.CalendarPlanned += p.b.Sub(p.a)
		d, err := cal.Between(p.a, p.b)
		if err != nil {
			return r, err
		}
		r.AgreedPlanned += d
	}
	for _, u := range down {
		r.CalendarDowntime += u.b.Sub(u.a)
		d, err := cal.Between(u.a, u.b)
		if err != nil {
			return r, err
		}
		r.AgreedDowntime += d
	}
	r.Failures = len(unplanned)
	percent := func(total, planned, down time.Duration) float64 {
		base := total - planned
		if base <= 0 {
			return 100
		}
		return float64(base-down) / float64(base) * 100
	}
	r.CalendarPercent = percent(r.CalendarTime, r.CalendarPlanned, r.CalendarDowntime)
	r.AgreedPercent = percent(r.AgreedTime, r.AgreedPlanned, r.AgreedDowntime)
	if r.Failures > 0 {
		r.MTRS = r.CalendarDowntime / time.Duration(r.Failures)
		r.MTBF = (r.CalendarTime - r.CalendarPlanned - r.CalendarDowntime) / time.Duration(r.Failures)
	}
	return r, nil
}
