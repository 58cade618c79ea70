package strategy

import (
	"context"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// Config configures the strategy pillar.
type Config struct {
	Clock      itsm.Clock      // system clock when nil
	Authorizer itsm.Authorizer // itsm.DefaultAuthorizer() when nil
	// ServiceLifecycle replaces ServiceLifecycle(); hosts extend the
	// default with Clone.
	ServiceLifecycle *itsm.Lifecycle[*Service]
	// Dictionary declares the host's custom fields on services, objectives,
	// demand records, cost models, budgets and customers, per tenant;
	// nil declares none. See storage.Dictionary.
	Dictionary *storage.Dictionary
	// Telemetry, when set, observes every command of the pillar's records
	// (storage.RecordsConfig.Observer): a *telemetry.Telemetry (package
	// storage/telemetry) gives spans, metrics and logs. Nil: none.
	Telemetry storage.Observer
}

// Strategy is the Service Strategy pillar on one store: the service
// portfolio, business objectives, demand records, the financial model and
// business relationships. Every record goes through storage.Records, so
// each change writes one domain event. It is safe for concurrent use.
type Strategy struct {
	backend    storage.Backend
	clock      itsm.Clock
	services   *storage.Records[Service, *Service]
	objectives *storage.Records[Objective, *Objective]
	demands    *storage.Records[Demand, *Demand]
	models     *storage.Records[CostModel, *CostModel]
	budgets    *storage.Records[Budget, *Budget]
	customers  *storage.Records[Customer, *Customer]
}

// New declares the strategy kinds on b and returns the pillar.
func New(ctx context.Context, b storage.Backend, cfg Config) (*Strategy, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("strategy: nil context")
	}
	if b == nil {
		return nil, itsm.Invalidf("strategy: nil backend")
	}
	if cfg.Clock == nil {
		cfg.Clock = itsm.SystemClock{}
	}
	rc := storage.RecordsConfig{Clock: cfg.Clock, Authorizer: cfg.Authorizer, Observer: cfg.Telemetry}
	s := &Strategy{backend: b, clock: cfg.Clock}
	var err error
	sl := cfg.ServiceLifecycle
	if sl == nil {
		sl = ServiceLifecycle()
	}
	if s.services, err = build(ctx, b, rc, cfg.Dictionary, "SVC", sl, storage.NewCollection[Service](ServiceKind,
		storage.StringField("name", func(x *Service) string { return x.Name }),
		storage.StringField("owner", func(x *Service) string { return x.Owner }),
	).WithIndex("by_stage_name", "state", "name")); err != nil {
		return nil, err
	}
	if s.objectives, err = build(ctx, b, rc, cfg.Dictionary, "OBJ", ObjectiveLifecycle(), storage.NewCollection[Objective](ObjectiveKind,
		storage.StringField("owner", func(x *Objective) string { return x.Owner }),
	)); err != nil {
		return nil, err
	}
	if s.demands, err = build(ctx, b, rc, cfg.Dictionary, "DMD", simpleLifecycle[*Demand](DemandKind), storage.NewCollection[Demand](DemandKind,
		storage.StringField("service_id", func(x *Demand) string { return x.ServiceID }),
		storage.TimeField("period_start", func(x *Demand) time.Time { return x.PeriodStart }),
	).WithIndex("by_service_period", "service_id", "period_start")); err != nil {
		return nil, err
	}
	if s.models, err = build(ctx, b, rc, cfg.Dictionary, "CM", simpleLifecycle[*CostModel](CostModelKind), storage.NewCollection[CostModel](CostModelKind,
		storage.StringField("service_id", func(x *CostModel) string { return x.ServiceID }),
	)); err != nil {
		return nil, err
	}
	if s.budgets, err = build(ctx, b, rc, cfg.Dictionary, "BUD", simpleLifecycle[*Budget](BudgetKind), storage.NewCollection[Budget](BudgetKind,
		storage.StringField("service_id", func(x *Budget) string { return x.ServiceID }),
		storage.TimeField("period_start", func(x *Budget) time.Time { return x.PeriodStart }),
	).WithIndex("by_service_period", "service_id", "period_start")); err != nil {
		return nil, err
	}
	if s.customers, err = build(ctx, b, rc, cfg.Dictionary, "CUST", simpleLifecycle[*Customer](CustomerKind), storage.NewCollection[Customer](CustomerKind,
		storage.StringField("name", func(x *Customer) string { return x.Name }),
	)); err != nil {
		return nil, err
	}
	if err := b.Register(ctx, lockSchema); err != nil {
		return nil, err
	}
	return s, nil
}

func build[T any, P interface {
	*T
	itsm.Entity
}](ctx context.Context, b storage.Backend, rc storage.RecordsConfig, dict *storage.Dictionary, prefix string, l *itsm.Lifecycle[P], coll *storage.Collection[T, P]) (*storage.Records[T, P], error) {
	m, err := l.Compile()
	if err != nil {
		return nil, err
	}
	if err := coll.WithDictionary(dict).Register(ctx, b); err != nil {
		return nil, err
	}
	rc.Prefix = prefix
	return storage.NewRecords(b, coll, m, rc)
}

// simpleLifecycle is the lifecycle of reference records: active until
// archived.
func simpleLifecycle[P any](kind string) *itsm.Lifecycle[P] {
	return itsm.NewLifecycle[P](kind).Initial("active").Final("archived").Event("archive", "archived", "active")
}

// lockSchema declares the documents that serialise writers of one
// service's budgets, so two overlapping budgets cannot be created at once.
var lockSchema = storage.Schema{Kind: "strategy_lock"}

// Archive retires a reference record (a demand record, cost model, budget
// or customer) with a reason (cmd.Reason): it stays on record but no longer counts (an
// archived budget frees its period, an archived demand record is left out
// of comparisons). Another kind is ErrInvalid.
func (s *Strategy) Archive(ctx context.Context, kind, id string, cmd storage.Command) error {
	var err error
	switch kind {
	case DemandKind:
		_, err = s.demands.Fire(ctx, id, "archive", cmd, nil)
	case CostModelKind:
		_, err = s.models.Fire(ctx, id, "archive", cmd, nil)
	case BudgetKind:
		_, err = s.budgets.Fire(ctx, id, "archive", cmd, nil)
	case CustomerKind:
		_, err = s.customers.Fire(ctx, id, "archive", cmd, nil)
	default:
		return itsm.Invalidf("strategy: cannot archive a %q (want demand, cost_model, budget or customer)", kind)
	}
	return err
}
