package strategy

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// ObjectiveKind is the record kind of business objectives, numbered
// OBJ0000001.
const ObjectiveKind = "business_objective"

// The states of a business objective.
const (
	ObjectiveActive    = "active"
	ObjectiveAchieved  = "achieved"
	ObjectiveAbandoned = "abandoned"
)

// Objective is a business objective (an outcome the business wants) with
// the services that support it and the measures that show progress.
type Objective struct {
	itsm.Record
	Title      string    `json:"title"`
	Outcome    string    `json:"outcome,omitempty"` // the outcome in the business's words
	Owner      string    `json:"owner,omitempty"`
	ServiceIDs []string  `json:"service_ids,omitempty"` // portfolio services that support it
	Measures   []Measure `json:"measures,omitempty"`
	Notes      string    `json:"notes,omitempty"` // value and outcome notes

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// Measure shows an objective's progress: a named figure with a target, or
// a KPI of the improvement pillar ("mttr", "sla_compliance") whose value a
// host copies in with RecordMeasure.
type Measure struct {
	Name    string  `json:"name"`
	KPI     string  `json:"kpi,omitempty"`
	Service string  `json:"service,omitempty"` // the KPI's service slice
	Target  float64 `json:"target"`
	Higher  bool    `json:"higher_is_better"`
	Current float64 `json:"current"`
	Has     bool    `json:"measured"` // Current holds a measurement
}

// Met reports whether the measure has reached its target.
func (m Measure) Met() bool {
	if !m.Has {
		return false
	}
	if m.Higher {
		return m.Current >= m.Target
	}
	return m.Current <= m.Target
}

// Validate checks the objective's fields.
func (o *Objective) Validate() error {
	v := &itsm.ValidationError{Kind: ObjectiveKind, ID: o.ID}
	if strings.TrimSpace(o.Title) == "" {
		v.Add("title", "is required")
	}
	checkNames(v, "title", o.Title, "owner", o.Owner)
	checkFree(v, "outcome", o.Outcome, "notes", o.Notes)
	for i, id := range o.ServiceIDs {
		if id == "" || slices.Contains(o.ServiceIDs[:i], id) {
			v.Add("service_ids", fmt.Sprintf("entry %d is empty or repeated", i+1))
		}
		checkNames(v, fmt.Sprintf("service_ids[%d]", i), id)
	}
	names := map[string]bool{}
	for i, m := range o.Measures {
		f := fmt.Sprintf("measures[%d]", i)
		switch {
		case strings.TrimSpace(m.Name) == "":
			v.Add(f, "needs a name")
		case names[m.Name]:
			v.Add(f, fmt.Sprintf("name %q is repeated", m.Name))
		case math.IsNaN(m.Target) || math.IsInf(m.Target, 0) || math.IsNaN(m.Current) || math.IsInf(m.Current, 0):
			v.Add(f, "target and current value must be finite")
		}
		names[m.Name] = true
		checkNames(v, f+".name", m.Name, f+".kpi", m.KPI, f+".service", m.Service)
	}
	return v.Err()
}

// ObjectiveLifecycle returns the lifecycle of business objectives: active
// until achieved (every measure met) or abandoned (with a reason).
func ObjectiveLifecycle() *itsm.Lifecycle[*Objective] {
	return itsm.NewLifecycle[*Objective](ObjectiveKind).
		Initial(ObjectiveActive).Final(ObjectiveAchieved, ObjectiveAbandoned).
		Event("achieve", ObjectiveAchieved, ObjectiveActive).
		Event("abandon", ObjectiveAbandoned, ObjectiveActive).
		Guard("achieve", "every_measure_met", func(_ context.Context, o *Objective, _ itsm.Transition) error {
			if len(o.Measures) == 0 {
				return fmt.Errorf("an objective needs at least one measure to be achieved")
			}
			for _, m := range o.Measures {
				if !m.Met() {
					return fmt.Errorf("measure %q has not met its target", m.Name)
				}
			}
			return nil
		}).
		Guard("abandon", "needs_reason", itsm.NeedsReason[*Objective]("a reason is required"))
}

// AddObjective records a business objective. Its services must be in the
// portfolio.
func (s *Strategy) AddObjective(ctx context.Context, o *Objective, cmd storage.Command) error {
	if o == nil {
		return itsm.Invalidf("%s: nil objective", ObjectiveKind)
	}
	return s.backend.Update(ctx, func(tx storage.Tx) error {
		if err := s.servicesExist(ctx, tx, o.ServiceIDs); err != nil {
			return err
		}
		return s.objectives.CreateTx(ctx, tx, o, cmd)
	})
}

func (s *Strategy) servicesExist(ctx context.Context, tx storage.Tx, ids []string) error {
	for _, id := range ids {
		if _, err := s.services.Collection().Get(ctx, tx, id); err != nil {
			return fmt.Errorf("%s: supporting service %s: %w", ObjectiveKind, id, err)
		}
	}
	return nil
}

// LinkService records that a portfolio service supports the objective.
func (s *Strategy) LinkService(ctx context.Context, objectiveID, serviceID string, cmd storage.Command) (*Objective, error) {
	var out *Objective
	err := s.backend.Update(ctx, func(tx storage.Tx) error {
		if err := s.servicesExist(ctx, tx, []string{serviceID}); err != nil {
			return err
		}
		var err error
		out, err = s.objectives.ChangeTx(ctx, tx, objectiveID, cmd, func(o *Objective) error {
			if !slices.Contains(o.ServiceIDs, serviceID) {
				o.ServiceIDs = append(o.ServiceIDs, serviceID)
			}
			return nil
		})
		return err
	})
	return out, err
}

// RecordMeasure sets the current value of one of the objective's measures
// (a KPI value read from the improvement pillar, or any figure).
func (s *Strategy) RecordMeasure(ctx context.Context, objectiveID, measure string, value float64, cmd storage.Command) (*Objective, error) {
	return s.objectives.Change(ctx, objectiveID, cmd, func(o *Objective) error {
		for i := range o.Measures {
			if o.Measures[i].Name == measure {
				o.Measures[i].Current, o.Measures[i].Has = value, true
				return nil
			}
		}
		return &itsm.NotFoundError{Kind: ObjectiveKind + " measure", ID: measure}
	})
}

// FireObjective applies "achieve" or "abandon" to an objective.
func (s *Strategy) FireObjective(ctx context.Context, id, event string, cmd storage.Command) (*Objective, error) {
	if event == "" {
		// storage.Records takes an empty event for a change without a
		// mutation, which writes nothing and reports success.
		return nil, itsm.Invalidf("%s %s: an event is required (achieve or abandon)", ObjectiveKind, id)
	}
	return s.objectives.Fire(ctx, id, event, cmd, nil)
}

// Objective returns a business objective.
func (s *Strategy) Objective(ctx context.Context, id string) (*Objective, error) {
	return s.objectives.Get(ctx, id)
}

// KPISource gives the value of a KPI (by its name in the improvement
// pillar: "mttr", "sla_compliance", ...) for one service over [from, to),
// and whether it was measured. The improvement pillar's Engine satisfies
// it.
type KPISource interface {
	KPIValue(kpi, service string, from, to time.Time) (float64, bool, error)
}

// RefreshMeasures reads every KPI measure of the objective from src over
// [from, to) and records the values in one change. Measures without
// measurements keep their previous value; an error from src writes nothing.
func (s *Strategy) RefreshMeasures(ctx context.Context, objectiveID string, src KPISource, from, to time.Time, cmd storage.Command) (*Objective, error) {
	if src == nil {
		return nil, itsm.Invalidf("%s %s: refresh without a KPI source", ObjectiveKind, objectiveID)
	}
	return s.objectives.Change(ctx, objectiveID, cmd, func(o *Objective) error {
		for i := range o.Measures {
			m := &o.Measures[i]
			if m.KPI == "" {
				continue
			}
			v, ok, err := src.KPIValue(m.KPI, m.Service, from, to)
			if err != nil {
				return fmt.Errorf("%s %s: measure %q: %w", ObjectiveKind, o.Number, m.Name, err)
			}
			if ok {
				m.Current, m.Has = v, true
			}
		}
		return nil
	})
}
