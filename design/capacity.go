package design

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// CapacityKind is the record kind of capacity watches: one per threshold
// and target, whose state is the level the last sample reached.
const CapacityKind = "capacity_watch"

// Capacity levels, the states of a watch.
const (
	LevelNormal   = "normal"
	LevelWarning  = "warning"
	LevelCritical = "critical"
)

// Threshold sets the warning and critical levels of a named metric
// ("cpu_percent", "disk_free_gb") for the services or CIs listed in
// Targets (every target when empty). Above true means high values are bad;
// false means low values are.
type Threshold struct {
	ID       string   `json:"id"`
	Metric   string   `json:"metric"`
	Targets  []string `json:"targets,omitempty"`
	Warning  float64  `json:"warning"`
	Critical float64  `json:"critical"`
	Above    bool     `json:"above"`
}

// Sample is one measurement pushed by the host.
type Sample struct {
	Metric   string    // metric name
	TargetID string    // the service or CI measured
	At       time.Time // when it was measured
	Value    float64
}

// Watch is the level of one metric of one target against one threshold.
// A crossing moves it with the events warn, escalate or clear, each a
// domain event the operation pillar turns into an alert.
type Watch struct {
	itsm.Record
	ThresholdID string    `json:"threshold_id"`
	Metric      string    `json:"metric"`
	TargetID    string    `json:"target_id"`
	Value       float64   `json:"value"`
	SampledAt   time.Time `json:"sampled_at"`
	Warning     float64   `json:"warning"`
	Critical    float64   `json:"critical"`

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// Capacity checks pushed samples against thresholds.
type Capacity struct {
	thresholds map[string][]Threshold // by metric
	watches    *storage.Records[Watch, *Watch]
}

// CapacityConfig configures Capacity. The zero value works, with no
// thresholds (every sample passes unchecked).
type CapacityConfig struct {
	// Thresholds are the levels samples are checked against; each needs a
	// unique ID, a Metric, and finite levels with Critical beyond Warning.
	Thresholds []Threshold
	Clock      itsm.Clock      // tells the time of watch events; the system clock when nil
	Authorizer itsm.Authorizer // checks every command; itsm.DefaultAuthorizer() when nil
	// Retries is how many times a command re-reads a watch and tries again
	// after a version conflict (0: storage.Records' default of 3; negative
	// disables).
	Retries int
	// Dictionary declares the host's custom fields on capacity watches, per tenant;
	// nil declares none. See storage.Dictionary.
	Dictionary *storage.Dictionary
	// Telemetry, when set, observes every command of the pillar's records
	// (storage.RecordsConfig.Observer): a *telemetry.Telemetry (package
	// storage/telemetry) gives spans, metrics and logs. Nil: none.
	Telemetry storage.Observer
}

// NewCapacity validates the thresholds and registers the watch kind.
func NewCapacity(ctx context.Context, b storage.Backend, cfg CapacityConfig) (*Capacity, error) {
	if ctx == nil || b == nil {
		return nil, itsm.Invalidf("capacity: context and backend are required")
	}
	c := &Capacity{thresholds: map[string][]Threshold{}}
	ids := map[string]bool{}
	for i, t := range cfg.Thresholds {
		verr := &itsm.ValidationError{Kind: "capacity_threshold", ID: t.ID}
		if t.ID == "" || ids[t.ID] {
			verr.Add("id", "is required and must be unique")
		}
		ids[t.ID] = true
		if t.Metric == "" {
			verr.Add("metric", "is required")
		}
		if !finite(t.Warning) || !finite(t.Critical) {
			verr.Add("warning", "levels must be finite numbers")
		} else if (t.Above && t.Warning > t.Critical) || (!t.Above && t.Warning < t.Critical) {
			verr.Add("critical", fmt.Sprintf("threshold %d: the critical level must lie beyond the warning level", i))
		}
		if err := verr.Err(); err != nil {
			return nil, err
		}
		c.thresholds[t.Metric] = append(c.thresholds[t.Metric], t)
	}
	m, err := itsm.NewLifecycle[*Watch](CapacityKind).
		Initial(LevelNormal).States(LevelWarning, LevelCritical).
		Event("warn", LevelWarning, LevelNormal, LevelCritical).
		Event("escalate", LevelCritical, LevelNormal, LevelWarning).
		Event("clear", LevelNormal, LevelWarning, LevelCritical).
		Compile()
	if err != nil {
		return nil, err
	}
	coll := storage.NewCollection[Watch](CapacityKind,
		storage.StringField("target_id", func(w *Watch) string { return w.TargetID })).WithDictionary(cfg.Dictionary)
	if err := coll.Register(ctx, b); err != nil {
		return nil, err
	}
	if c.watches, err = storage.NewRecords(b, coll, m, storage.RecordsConfig{Clock: cfg.Clock,
		Authorizer: cfg.Authorizer, Observer: cfg.Telemetry, Retries: cfg.Retries}); err != nil {
		return nil, err
	}
	return c, nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// Watches returns the command runner of watches.
func (c *Capacity) Watches() *storage.Records[Watch, *Watch] { return c.watches }

// WatchID returns the id of the watch of a threshold on a target.
func WatchID(thresholdID, targetID string) string {
	return uuid.NewSHA1(idSpace, []byte("capacity/"+thresholdID+"/"+targetID)).String()
}

func level(t Threshold, v float64) string {
	beyond := func(limit float64) bool {
		if t.Above {
			return v >= limit
		}
		return v <= limit
	}
	switch {
	case beyond(t.Critical):
		return LevelCritical
	case beyond(t.Warning):
		return LevelWarning
	}
	return LevelNormal
}

// Push checks a sample against every threshold of its metric. A sample
// that changes a watch's level writes it (warn, escalate or clear); one
// that does not writes nothing. It returns the levels reached, one per
// threshold. A sample with no metric or target, or a NaN or infinite
// value, is refused naming the field. Thresholds whose Targets do not
// list the sample's target are skipped.
func (c *Capacity) Push(ctx context.Context, s Sample) ([]string, error) {
	verr := &itsm.ValidationError{Kind: "capacity_sample"}
	if s.Metric == "" {
		verr.Add("metric", "is required")
	} else if p := textProblem(s.Metric); p != "" {
		verr.Add("metric", p)
	}
	if s.TargetID == "" {
		verr.Add("target_id", "is required")
	} else if p := textProblem(s.TargetID); p != "" {
		verr.Add("target_id", p)
	}
	if !finite(s.Value) {
		verr.Add("value", fmt.Sprintf("%v is not a finite number", s.Value))
	}
	if s.At.IsZero() {
		verr.Add("at", "is required")
	} else if p := timeProblem(s.At); p != "" {
		verr.Add("at", p)
	}
	if err := verr.Err(); err != nil {
		return nil, err
	}
	if ctx == nil {
		return nil, itsm.Invalidf("capacity: nil context")
	}
	var levels []string
	for _, t := range c.thresholds[s.Metric] {
		if len(t.Targets) > 0 && !slices.Contains(t.Targets, s.TargetID) {
			continue
		}
		lv := level(t, s.Value)
		levels = append(levels, lv)
		id := WatchID(t.ID, s.TargetID)
		w, err := c.watches.Get(ctx, id)
		if errors.Is(err, itsm.ErrNotFound) {
			if lv == LevelNormal {
				continue
			}
			w = &Watch{Record: itsm.Record{ID: id}, ThresholdID: t.ID, Metric: t.Metric, TargetID: s.TargetID,
				Value: s.Value, SampledAt: s.At.UTC(), Warning: t.Warning, Critical: t.Critical}
			if err := c.watches.Create(ctx, w, storage.Command{}); err != nil {
				return nil, err
			}
		} else if err != nil {
			return nil, err
		}
		if w.State == lv {
			continue
		}
		event := map[string]string{LevelNormal: "clear", LevelWarning: "warn", LevelCritical: "escalate"}[lv]
		if _, err := c.watches.Fire(ctx, id, event, storage.Command{Reason: fmt.Sprintf("%s = %g", s.Metric, s.Value)}, func(w *Watch) error {
			w.Value, w.SampledAt = s.Value, s.At.UTC()
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return levels, nil
}
