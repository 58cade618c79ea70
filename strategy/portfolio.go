package strategy

import (
	"context"
	"errors"
	"strings"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// ServiceKind is the record kind of service portfolio entries, numbered
// SVC0000001. (The design pillar's catalogue describes how a catalogued
// service is offered; the portfolio records why it exists and where it is in
// its life.)
const ServiceKind = "portfolio_service"

// The portfolio stages of a service.
const (
	Pipeline  = "pipeline"  // proposed or being built; not yet offered
	Catalogue = "catalogue" // live and offered to customers
	Retired   = "retired"   // withdrawn; kept for the record
)

// The events that move a service through the portfolio. Each needs a reason
// (storage.Command.Reason), which the event log keeps.
const (
	EventPublish = "publish" // pipeline -> catalogue: the service goes live
	EventRetire  = "retire"  // pipeline or catalogue -> retired
	EventRevive  = "revive"  // retired -> pipeline: brought back for redesign
)

// BusinessCase justifies a service: the need, the expected benefit per year
// and the expected cost per year, in one currency.
type BusinessCase struct {
	Summary         string `json:"summary"`
	ExpectedBenefit Money  `json:"expected_benefit"`
	ExpectedCost    Money  `json:"expected_cost"`
}

// Service is an entry of the service portfolio.
type Service struct {
	itsm.Record
	Name         string       `json:"name"`
	Description  string       `json:"description,omitempty"`
	Owner        string       `json:"owner,omitempty"` // the service owner, accountable for it
	Category     string       `json:"category,omitempty"`
	BusinessCase BusinessCase `json:"business_case"`
	// CatalogueID is the design pillar's catalogue entry once published.
	CatalogueID string `json:"catalogue_id,omitempty"`

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// Validate checks the service's fields: a name, and a business case whose
// amounts are valid money in one currency when given.
func (s *Service) Validate() error {
	v := &itsm.ValidationError{Kind: ServiceKind, ID: s.ID}
	if strings.TrimSpace(s.Name) == "" {
		v.Add("name", "is required")
	}
	checkNames(v, "name", s.Name, "owner", s.Owner, "category", s.Category, "catalogue_id", s.CatalogueID)
	checkFree(v, "description", s.Description, "business_case.summary", s.BusinessCase.Summary)
	bc := s.BusinessCase
	if bc.ExpectedBenefit != (Money{}) || bc.ExpectedCost != (Money{}) {
		switch {
		case bc.ExpectedBenefit.Check() != nil:
			v.Add("business_case.expected_benefit", bc.ExpectedBenefit.Check().Error())
		case bc.ExpectedCost.Check() != nil:
			v.Add("business_case.expected_cost", bc.ExpectedCost.Check().Error())
		case bc.ExpectedBenefit.Currency != bc.ExpectedCost.Currency:
			v.Add("business_case", "benefit and cost are in different currencies ("+bc.ExpectedBenefit.Currency+", "+bc.ExpectedCost.Currency+")")
		case bc.ExpectedBenefit.Amount < 0 || bc.ExpectedCost.Amount < 0:
			v.Add("business_case", "amounts must not be negative")
		}
	}
	return v.Err()
}

var needsReason = itsm.NeedsReason[*Service]("a reason for the move is required")

func readyForCatalogue(_ context.Context, s *Service, _ itsm.Transition) error {
	switch {
	case s.Owner == "":
		return errors.New("a service owner is required before the service enters the catalogue")
	case strings.TrimSpace(s.BusinessCase.Summary) == "":
		return errors.New("a business case is required before the service enters the catalogue")
	}
	return nil
}

// ServiceLifecycle returns the default portfolio lifecycle: pipeline →
// catalogue → retired, every move with a reason, and entry to the catalogue
// only with an owner and a business case.
func ServiceLifecycle() *itsm.Lifecycle[*Service] {
	return itsm.NewLifecycle[*Service](ServiceKind).
		Initial(Pipeline).States(Catalogue, Retired).
		Event(EventPublish, Catalogue, Pipeline).
		Event(EventRetire, Retired, Pipeline, Catalogue).
		Event(EventRevive, Pipeline, Retired).
		Guard(EventPublish, "needs_reason", needsReason).
		Guard(EventPublish, "needs_owner_and_business_case", readyForCatalogue).
		Guard(EventRetire, "needs_reason", needsReason).
		Guard(EventRevive, "needs_reason", needsReason)
}

// ProposeService enters a service in the pipeline.
func (s *Strategy) ProposeService(ctx context.Context, svc *Service, cmd storage.Command) error {
	return s.services.Create(ctx, svc, cmd)
}

// PublishService moves a pipeline service into the catalogue (live),
// optionally recording its catalogue entry id.
func (s *Strategy) PublishService(ctx context.Context, id, catalogueID string, cmd storage.Command) (*Service, error) {
	return s.services.Fire(ctx, id, EventPublish, cmd, func(svc *Service) error {
		if catalogueID != "" {
			svc.CatalogueID = catalogueID
		}
		return nil
	})
}

// RetireService retires a service from the pipeline or the catalogue;
// publishing, retiring and reviving need a reason in cmd.Reason.
func (s *Strategy) RetireService(ctx context.Context, id string, cmd storage.Command) (*Service, error) {
	return s.services.Fire(ctx, id, EventRetire, cmd, nil)
}

// ReviveService brings a retired service back into the pipeline.
func (s *Strategy) ReviveService(ctx context.Context, id string, cmd storage.Command) (*Service, error) {
	return s.services.Fire(ctx, id, EventRevive, cmd, nil)
}

// UpdateService changes a service's fields (owner, business case, ...).
func (s *Strategy) UpdateService(ctx context.Context, id string, cmd storage.Command, mutate func(*Service) error) (*Service, error) {
	return s.services.Change(ctx, id, cmd, mutate)
}

// Service returns a portfolio entry.
func (s *Strategy) Service(ctx context.Context, id string) (*Service, error) {
	return s.services.Get(ctx, id)
}

// Portfolio lists the services in one stage (Pipeline, Catalogue,
// Retired), by name, one page at a time (p's zero value asks for the first
// page of storage.DefaultLimit services).
func (s *Strategy) Portfolio(ctx context.Context, stage string, p storage.Paging) ([]*Service, string, error) {
	switch stage {
	case Pipeline, Catalogue, Retired:
	default:
		return nil, "", itsm.Invalidf("portfolio: unknown stage %q (want pipeline, catalogue or retired)", stage)
	}
	return s.services.Query(ctx, storage.Query{
		Filters: []storage.Filter{storage.Eq("state", storage.String(stage))},
		Sort:    []storage.Sort{{Field: "name"}},
		Cursor:  p.Cursor, Limit: p.Limit,
	})
}
