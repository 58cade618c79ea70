package strategy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// DemandKind is the record kind of demand records, numbered DMD0000001.
const DemandKind = "demand"

// Demand is the expected volume of a service's use over one period, from a
// pattern of business activity: Activity gives its structure (the volume
// expected per slot, by hour, weekday or month), Pattern a note in words
// ("month-end close doubles ERP tickets"). Records written before Activity
// existed have only the note; they read and compare as before, without
// slots.
type Demand struct {
	itsm.Record
	ServiceID   string           `json:"service_id"`         // the portfolio service
	Pattern     string           `json:"pattern,omitempty"`  // the pattern of business activity in words
	Activity    *ActivityPattern `json:"activity,omitempty"` // the pattern as expected volume per slot
	Unit        string           `json:"unit"`               // what is counted: "incidents", "requests", "orders"
	PeriodStart time.Time        `json:"period_start"`       // first instant of the period, UTC
	PeriodEnd   time.Time        `json:"period_end"`         // first instant after it
	// Expected is the volume expected over the period. With an Activity
	// it is the pattern's total over the period (RecordDemand fills it in
	// when zero).
	Expected int64 `json:"expected"`

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// Validate checks the demand record's fields.
func (d *Demand) Validate() error {
	v := &itsm.ValidationError{Kind: DemandKind, ID: d.ID}
	if d.ServiceID == "" {
		v.Add("service_id", "is required")
	}
	if strings.TrimSpace(d.Unit) == "" {
		v.Add("unit", "is required")
	}
	checkNames(v, "service_id", d.ServiceID, "unit", d.Unit)
	checkFree(v, "pattern", d.Pattern)
	checkPeriod(v, d.PeriodStart, d.PeriodEnd)
	if d.PeriodStart.IsZero() || !d.PeriodStart.Before(d.PeriodEnd) {
		v.Add("period_end", "must be after a non-zero period_start")
	}
	if d.Expected < 0 {
		v.Add("expected", "must not be negative")
	}
	if a := d.Activity; a != nil {
		before := len(v.Fields)
		a.check(d.PeriodStart, d.PeriodEnd, func(field, msg string) { v.Add(field, msg) })
		if len(v.Fields) == before && d.PeriodStart.Before(d.PeriodEnd) {
			if total := a.total(d.PeriodStart, d.PeriodEnd); d.Expected != total {
				v.Add("expected", fmt.Sprintf("is %d but the pattern %q expects %d over the period", d.Expected, a.Name, total))
			}
		}
	}
	return v.Err()
}

// VolumeCounter measures how much a service was used: the number of units
// (incidents, requests, orders) in [from, to). The service is named by its
// catalogue id, the design pillar's service that the portfolio entry
// records in Service.CatalogueID once published: the id incidents,
// requests and changes carry in their service_id. The improvement pillar's
// Engine satisfies it as it is; hosts may also implement it over the event
// log or their own systems.
type VolumeCounter interface {
	Volume(ctx context.Context, catalogueID, unit string, from, to time.Time) (int64, error)
}

// DailyVolumeCounter is a VolumeCounter that also measures a range day by
// day in one call: element i counts the UTC day from+i days, for every day
// in [from, to). CompareDemand uses it, when the counter has it, for the
// slots of patterns whose slots are whole days (weekday, day of month,
// month), asking once per record instead of once per slot occurrence. The
// improvement pillar's Engine satisfies it (DailyVolumes); the daily
// figures must add up to what Volume counts.
type DailyVolumeCounter interface {
	VolumeCounter
	DailyVolumes(ctx context.Context, catalogueID, unit string, from, to time.Time) ([]int64, error)
}

// catalogueID returns the catalogue id a portfolio service records, which
// VolumeCounter counts by. A service never catalogued has no measured
// volume: ErrInvalid, saying so.
func (s *Strategy) catalogueID(ctx context.Context, serviceID string) (string, error) {
	svc, err := s.services.Get(ctx, serviceID)
	if err != nil {
		return "", err
	}
	if svc.CatalogueID == "" {
		return "", itsm.Invalidf("%s %s (%s) has no catalogue entry, so no measured volume: publish it with its catalogue id",
			ServiceKind, svc.Number, svc.Name)
	}
	return svc.CatalogueID, nil
}

// DemandComparison sets a demand record against the measured volume.
type DemandComparison struct {
	Demand   *Demand
	Measured int64
	Variance int64   // Measured - Expected
	Ratio    float64 // Measured / Expected; 0 when nothing was expected
	// Slots compares each slot of the record's Activity, in slot order;
	// nil for a record without one.
	Slots []SlotComparison
}

// RecordDemand records expected demand for a portfolio service. With an
// Activity and no Expected, Expected becomes the pattern's total over the
// period.
func (s *Strategy) RecordDemand(ctx context.Context, d *Demand, cmd storage.Command) error {
	if d == nil {
		return itsm.Invalidf("%s: nil record", DemandKind)
	}
	d.PeriodStart, d.PeriodEnd = itsm.NormalizeTime(d.PeriodStart), itsm.NormalizeTime(d.PeriodEnd)
	if a := d.Activity; a != nil && d.Expected == 0 && a.Granularity.Slots() == len(a.Expected) &&
		d.PeriodStart.Before(d.PeriodEnd) && a.occurrences(d.PeriodStart, d.PeriodEnd, MaxOccurrences+1) <= MaxOccurrences {
		d.Expected = a.total(d.PeriodStart, d.PeriodEnd)
	}
	return s.backend.Update(ctx, func(tx storage.Tx) error {
		if d.ServiceID != "" {
			if err := s.servicesExist(ctx, tx, []string{d.ServiceID}); err != nil {
				return err
			}
		}
		return s.demands.CreateTx(ctx, tx, d, cmd)
	})
}

// CompareDemand compares every demand record of the portfolio service whose
// period starts in [from, to) with the volume the counter measures over the
// same period, in period order; a record with an Activity is also compared
// slot by slot, the counter measuring each slot occurrence (an hourly
// pattern needs a counter that counts by the hour). The counter is asked by the service's
// catalogue id (see VolumeCounter); a service without one is ErrInvalid. No
// records give an empty result.
func (s *Strategy) CompareDemand(ctx context.Context, serviceID string, from, to time.Time, counter VolumeCounter) ([]DemandComparison, error) {
	if counter == nil {
		return nil, itsm.Invalidf("%s: compare without a volume counter", DemandKind)
	}
	if !from.Before(to) {
		return nil, itsm.Invalidf("%s: range from %s to %s is empty", DemandKind, from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	catalogueID, err := s.catalogueID(ctx, serviceID)
	if err != nil {
		return nil, err
	}
	demands, err := activeStarting(ctx, s.demands, serviceID, from, to)
	if err != nil {
		return nil, err
	}
	out := []DemandComparison{}
	for _, d := range demands {
		n, err := counter.Volume(ctx, catalogueID, d.Unit, d.PeriodStart, d.PeriodEnd)
		if err != nil {
			return nil, fmt.Errorf("%s %s: measuring volume: %w", DemandKind, d.Number, err)
		}
		c := DemandComparison{Demand: d, Measured: n, Variance: n - d.Expected}
		if d.Expected > 0 {
			c.Ratio = float64(n) / float64(d.Expected)
		}
		if d.Activity != nil {
			if c.Slots, err = compareSlots(ctx, d, catalogueID, counter); err != nil {
				return nil, fmt.Errorf("%s %s: measuring volume per slot: %w", DemandKind, d.Number, err)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// activeStarting returns a service's active records (budgets, demand
// records) whose period starts in [from, to), by period start.
func activeStarting[T any, P interface {
	*T
	itsm.Entity
}](ctx context.Context, recs *storage.Records[T, P], serviceID string, from, to time.Time) ([]P, error) {
	all, err := recs.All(ctx, storage.Query{
		Filters: []storage.Filter{storage.Eq("service_id", storage.String(serviceID)),
			storage.Gte("period_start", storage.Time(from)), storage.Lt("period_start", storage.Time(to))},
		Sort:  []storage.Sort{{Field: "period_start"}},
		Limit: storage.MaxLimit,
	})
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(r P) bool { return r.Meta().State != "active" }), nil
}

// compareSlots measures every occurrence of every slot of the record's
// pattern within its period.
func compareSlots(ctx context.Context, d *Demand, catalogueID string, counter VolumeCounter) ([]SlotComparison, error) {
	a := d.Activity
	n := a.Granularity.Slots()
	if n == 0 || len(a.Expected) != n {
		return nil, itsm.Invalidf("%s %s: pattern %q is not a valid %s pattern", DemandKind, d.Number, a.Name, a.Granularity)
	}
	out := make([]SlotComparison, n)
	for i := range out {
		out[i] = SlotComparison{Slot: i, Label: a.Granularity.Label(i)}
	}
	if a.occurrences(d.PeriodStart, d.PeriodEnd, MaxOccurrences+1) > MaxOccurrences {
		return nil, itsm.Invalidf("%s %s: the period holds more than %d %s slots", DemandKind, d.Number, MaxOccurrences, a.Granularity)
	}
	// Slots of whole days are measured from one daily series when the
	// counter has it.
	var days []int64
	g := a.Granularity
	if dc, ok := counter.(DailyVolumeCounter); ok && g.wholeDays() && g.start(d.PeriodStart).Equal(d.PeriodStart) && g.start(d.PeriodEnd).Equal(d.PeriodEnd) {
		var err error
		if days, err = dc.DailyVolumes(ctx, catalogueID, d.Unit, d.PeriodStart, d.PeriodEnd); err != nil {
			return nil, err
		}
		if want := int(d.PeriodEnd.Sub(d.PeriodStart) / (24 * time.Hour)); len(days) != want {
			return nil, fmt.Errorf("the counter gave %d daily volumes for %d days", len(days), want)
		}
	}
	for t := d.PeriodStart; t.Before(d.PeriodEnd); t = a.Granularity.next(t) {
		end := a.Granularity.next(t)
		var m int64
		if days != nil {
			// The period is aligned: every occurrence ends within it.
			lo, hi := int(t.Sub(d.PeriodStart)/(24*time.Hour)), int(end.Sub(d.PeriodStart)/(24*time.Hour))
			for _, n := range days[lo:hi] {
				m += n
			}
		} else {
			var err error
			if m, err = counter.Volume(ctx, catalogueID, d.Unit, t, end); err != nil {
				return nil, err
			}
		}
		sc := &out[a.Granularity.slotOf(t)]
		sc.Occurrences++
		sc.Expected += a.Expected[sc.Slot]
		sc.Measured += m
	}
	for i := range out {
		sc := &out[i]
		sc.Variance = sc.Measured - sc.Expected
		if sc.Expected > 0 {
			sc.Ratio = float64(sc.Measured) / float64(sc.Expected)
		}
	}
	return out, nil
}
