package strategy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// The record kinds of the financial model.
const (
	CostModelKind = "cost_model" // numbered CM0000001
	BudgetKind    = "budget"     // numbered BUD0000001
)

// The types of cost items.
const (
	Fixed    = "fixed"    // a cost per period, whatever the demand
	Variable = "variable" // a cost per unit of demand
)

// CostItem is one line of a cost model: a fixed amount per period, or a
// variable amount per unit of demand.
type CostItem struct {
	Name   string `json:"name"`
	Type   string `json:"type"` // Fixed or Variable
	Amount Money  `json:"amount"`
}

// CostModel is what one service costs to run per period: fixed and
// variable items in one currency, against a unit of demand ("incidents",
// "users", "orders").
type CostModel struct {
	itsm.Record
	ServiceID string     `json:"service_id"`
	Name      string     `json:"name"`
	Currency  string     `json:"currency"`
	Unit      string     `json:"unit"`
	Items     []CostItem `json:"items"`

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// Validate checks the model: a valid currency shared by every item (a cost
// in another currency is refused: convert it first), known item types,
// non-negative amounts, unique item names.
func (m *CostModel) Validate() error {
	v := &itsm.ValidationError{Kind: CostModelKind, ID: m.ID}
	if m.ServiceID == "" {
		v.Add("service_id", "is required")
	}
	if strings.TrimSpace(m.Name) == "" {
		v.Add("name", "is required")
	}
	if strings.TrimSpace(m.Unit) == "" {
		v.Add("unit", "is required (the unit of demand variable costs are counted in)")
	}
	if !validCurrency(m.Currency) {
		v.Add("currency", fmt.Sprintf("%q is not a three-letter ISO 4217 code", m.Currency))
	}
	checkNames(v, "service_id", m.ServiceID, "name", m.Name, "unit", m.Unit)
	names := map[string]bool{}
	for i, it := range m.Items {
		f := fmt.Sprintf("items[%d]", i)
		checkNames(v, f+".name", it.Name)
		switch {
		case strings.TrimSpace(it.Name) == "" || names[it.Name]:
			v.Add(f, "needs a unique name")
		case it.Type != Fixed && it.Type != Variable:
			v.Add(f, fmt.Sprintf("type %q, want fixed or variable", it.Type))
		case it.Amount.Currency != m.Currency:
			v.Add(f, fmt.Sprintf("%s costs %s but the model is in %s (mixed currencies)", it.Name, it.Amount.Currency, m.Currency))
		case it.Amount.Amount < 0:
			v.Add(f, "amount must not be negative")
		}
		names[it.Name] = true
	}
	return v.Err()
}

// Cost is a cost model applied to a volume of demand for one period.
type Cost struct {
	Volume   int64
	Fixed    Money
	Variable Money
	Total    Money
	// PerUnit is Total / Volume rounded half away from zero; zero (and
	// HasPerUnit false) when the volume is zero.
	PerUnit    Money
	HasPerUnit bool
}

// Cost applies the model to a period's volume of demand. A negative volume
// or an overflow is ErrInvalid.
func (m *CostModel) Cost(volume int64) (Cost, error) {
	if volume < 0 {
		return Cost{}, itsm.Invalidf("%s %s: volume %d is negative", CostModelKind, m.Number, volume)
	}
	c := Cost{Volume: volume, Fixed: M(0, m.Currency), Variable: M(0, m.Currency), PerUnit: M(0, m.Currency)}
	for _, it := range m.Items {
		amount := it.Amount
		var err error
		if it.Type == Variable {
			if amount, err = amount.Mul(volume); err != nil {
				return Cost{}, err
			}
			c.Variable, err = c.Variable.Add(amount)
		} else {
			c.Fixed, err = c.Fixed.Add(amount)
		}
		if err != nil {
			return Cost{}, err
		}
	}
	total, err := c.Fixed.Add(c.Variable)
	if err != nil {
		return Cost{}, err
	}
	c.Total = total
	if volume > 0 {
		c.PerUnit, _ = total.Div(volume)
		c.HasPerUnit = true
	}
	return c, nil
}

// Budget is the money set aside for a service over one period. The
// periods of one service's budgets never overlap.
type Budget struct {
	itsm.Record
	ServiceID   string    `json:"service_id"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	Amount      Money     `json:"amount"`

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// Validate checks the budget's fields.
func (b *Budget) Validate() error {
	v := &itsm.ValidationError{Kind: BudgetKind, ID: b.ID}
	if b.ServiceID == "" {
		v.Add("service_id", "is required")
	}
	checkNames(v, "service_id", b.ServiceID)
	checkPeriod(v, b.PeriodStart, b.PeriodEnd)
	if b.PeriodStart.IsZero() || !b.PeriodStart.Before(b.PeriodEnd) {
		v.Add("period_end", "must be after a non-zero period_start")
	}
	if err := b.Amount.Check(); err != nil {
		v.Add("amount", err.Error())
	} else if b.Amount.Amount < 0 {
		v.Add("amount", "must not be negative")
	}
	return v.Err()
}

// DefineCostModel records a service's cost model.
func (s *Strategy) DefineCostModel(ctx context.Context, m *CostModel, cmd storage.Command) error {
	if m == nil {
		return itsm.Invalidf("%s: nil record", CostModelKind)
	}
	return s.backend.Update(ctx, func(tx storage.Tx) error {
		if m.ServiceID != "" {
			if err := s.servicesExist(ctx, tx, []string{m.ServiceID}); err != nil {
				return err
			}
		}
		return s.models.CreateTx(ctx, tx, m, cmd)
	})
}

// CostModel returns a cost model.
func (s *Strategy) CostModel(ctx context.Context, id string) (*CostModel, error) {
	return s.models.Get(ctx, id)
}

// SetBudget records a budget for a service's period. A period overlapping
// another budget of the service is refused with an error matching
// itsm.ErrConflict that names the other budget; concurrent writers of one
// service's budgets are serialised, so two overlapping budgets can never
// both be written.
func (s *Strategy) SetBudget(ctx context.Context, b *Budget, cmd storage.Command) error {
	if b == nil {
		return itsm.Invalidf("%s: nil record", BudgetKind)
	}
	b.PeriodStart, b.PeriodEnd = itsm.NormalizeTime(b.PeriodStart), itsm.NormalizeTime(b.PeriodEnd)
	if err := b.Validate(); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		err := s.setBudget(ctx, b, cmd)
		var overlap *OverlapError
		if err == nil || !errors.Is(err, itsm.ErrConflict) || errors.As(err, &overlap) || attempt >= 10 {
			return err
		}
		// Another writer of this service's budgets committed first: read
		// again and decide on the new state.
		b.ID, b.Version, b.Number = "", 0, ""
	}
}

// OverlapError names the budget a new budget's period overlaps. It matches
// itsm.ErrConflict.
type OverlapError struct {
	ServiceID string
	Start     time.Time
	End       time.Time
	Other     string // number of the budget already holding the period
	OtherFrom time.Time
	OtherTo   time.Time
}

// Error names both budgets and their periods.
func (e *OverlapError) Error() string {
	return fmt.Sprintf("%s for service %s from %s to %s overlaps %s (%s to %s)", BudgetKind, e.ServiceID,
		e.Start.Format(time.DateOnly), e.End.Format(time.DateOnly), e.Other, e.OtherFrom.Format(time.DateOnly), e.OtherTo.Format(time.DateOnly))
}

// Is makes an OverlapError match itsm.ErrConflict.
func (e *OverlapError) Is(target error) bool { return target == itsm.ErrConflict }

func (s *Strategy) setBudget(ctx context.Context, b *Budget, cmd storage.Command) error {
	return s.backend.Update(ctx, func(tx storage.Tx) error {
		if err := s.servicesExist(ctx, tx, []string{b.ServiceID}); err != nil {
			return err
		}
		if err := bumpLock(ctx, tx, "budget."+b.ServiceID); err != nil {
			return err
		}
		cursor := ""
		for {
			page, next, err := s.budgets.Collection().Query(ctx, tx, storage.Query{
				Filters: []storage.Filter{storage.Eq("service_id", storage.String(b.ServiceID)),
					storage.Lt("period_start", storage.Time(b.PeriodEnd))},
				Sort:   []storage.Sort{{Field: "period_start"}},
				Cursor: cursor, Limit: storage.MaxLimit,
			})
			if err != nil {
				return err
			}
			for _, o := range page {
				if o.State == "active" && o.PeriodEnd.After(b.PeriodStart) {
					return &OverlapError{ServiceID: b.ServiceID, Start: b.PeriodStart, End: b.PeriodEnd,
						Other: o.Number, OtherFrom: o.PeriodStart, OtherTo: o.PeriodEnd}
				}
			}
			if next == "" {
				break
			}
			cursor = next
		}
		return s.budgets.CreateTx(ctx, tx, b, cmd)
	})
}

// bumpLock writes the lock document id, so that units of work bumping the
// same lock conflict at commit and only one of them commits.
func bumpLock(ctx context.Context, tx storage.Tx, id string) error {
	var version int64
	d, err := tx.Get(ctx, lockSchema.Kind, id)
	switch {
	case err == nil:
		version = d.Version
	case !errors.Is(err, itsm.ErrNotFound):
		return err
	}
	return tx.Put(ctx, storage.Document{Kind: lockSchema.Kind, ID: id, Version: version + 1, Data: []byte("{}")}, version)
}

// Usage is one customer's consumption of a service over a period, in the
// cost model's unit.
type Usage struct {
	CustomerID string
	Volume     int64
}

// Charge is one line of a charge-back: what a customer pays for its use of
// a service over a period.
type Charge struct {
	CustomerID string
	Volume     int64
	Fixed      Money // the customer's share of the fixed costs, by volume
	Variable   Money // variable costs × the customer's volume
	Total      Money
}

// ChargeBack splits a period's cost of a service among its customers: each
// pays the variable costs of its own volume and a share of the fixed costs
// in proportion to its volume. The shares add up exactly to the fixed cost
// (remainders go to the largest fractions). Customers must be known and
// listed once; a total volume of zero is ErrInvalid (no basis to share the
// fixed costs).
func (s *Strategy) ChargeBack(ctx context.Context, modelID string, usage []Usage) ([]Charge, Cost, error) {
	m, err := s.models.Get(ctx, modelID)
	if err != nil {
		return nil, Cost{}, err
	}
	seen := map[string]bool{}
	weights := make([]int64, len(usage))
	var volume int64
	for i, u := range usage {
		if seen[u.CustomerID] {
			return nil, Cost{}, itsm.Invalidf("charge-back: customer %s listed twice", u.CustomerID)
		}
		seen[u.CustomerID] = true
		if u.Volume < 0 {
			return nil, Cost{}, itsm.Invalidf("charge-back: customer %s has a negative volume", u.CustomerID)
		}
		if _, err := s.customers.Get(ctx, u.CustomerID); err != nil {
			return nil, Cost{}, fmt.Errorf("charge-back: customer %s: %w", u.CustomerID, err)
		}
		if volume+u.Volume < volume {
			return nil, Cost{}, itsm.Invalidf("charge-back: volumes overflow")
		}
		volume += u.Volume
		weights[i] = u.Volume
	}
	if volume == 0 {
		return nil, Cost{}, itsm.Invalidf("charge-back %s: no usage to share the costs by", m.Number)
	}
	cost, err := m.Cost(volume)
	if err != nil {
		return nil, Cost{}, err
	}
	shares, err := cost.Fixed.Split(weights)
	if err != nil {
		return nil, Cost{}, err
	}
	unitCost, err := m.Cost(1)
	if err != nil {
		return nil, Cost{}, err
	}
	out := make([]Charge, len(usage))
	for i, u := range usage {
		variable, err := unitCost.Variable.Mul(u.Volume)
		if err != nil {
			return nil, Cost{}, err
		}
		total, err := shares[i].Add(variable)
		if err != nil {
			return nil, Cost{}, err
		}
		out[i] = Charge{CustomerID: u.CustomerID, Volume: u.Volume, Fixed: shares[i], Variable: variable, Total: total}
	}
	return out, cost, nil
}

// BudgetLine compares one budget period with what the service cost in it:
// the cost model applied to the volume of demand measured for the period.
type BudgetLine struct {
	Budget   *Budget
	Volume   int64
	Cost     Cost
	Variance Money // Budget.Amount - Cost.Total: negative when overspent
}

// BudgetStatus compares every active budget of the portfolio service whose
// period starts in [from, to) with the cost of the period: the cost model
// applied to the volume the counter measures in the model's unit, asked by
// the service's catalogue id (see VolumeCounter; a service without one is
// ErrInvalid). The budget and the model must share a currency; a mismatch
// is ErrInvalid. No budgets give an empty result.
func (s *Strategy) BudgetStatus(ctx context.Context, serviceID, modelID string, counter VolumeCounter, from, to time.Time) ([]BudgetLine, error) {
	if counter == nil {
		return nil, itsm.Invalidf("%s: status without a volume counter", BudgetKind)
	}
	if !from.Before(to) {
		return nil, itsm.Invalidf("%s: range from %s to %s is empty", BudgetKind, from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	m, err := s.models.Get(ctx, modelID)
	if err != nil {
		return nil, err
	}
	if m.ServiceID != serviceID {
		return nil, itsm.Invalidf("%s %s prices service %s, not %s", CostModelKind, m.Number, m.ServiceID, serviceID)
	}
	catalogueID, err := s.catalogueID(ctx, serviceID)
	if err != nil {
		return nil, err
	}
	budgets, err := activeStarting(ctx, s.budgets, serviceID, from, to)
	if err != nil {
		return nil, err
	}
	out := []BudgetLine{}
	for _, b := range budgets {
		if b.Amount.Currency != m.Currency {
			return nil, itsm.Invalidf("%s %s is in %s but %s %s is in %s (mixed currencies)", BudgetKind, b.Number,
				b.Amount.Currency, CostModelKind, m.Number, m.Currency)
		}
		n, err := counter.Volume(ctx, catalogueID, m.Unit, b.PeriodStart, b.PeriodEnd)
		if err != nil {
			return nil, fmt.Errorf("%s %s: measuring volume: %w", BudgetKind, b.Number, err)
		}
		cost, err := m.Cost(n)
		if err != nil {
			return nil, err
		}
		variance, err := b.Amount.Sub(cost.Total)
		if err != nil {
			return nil, err
		}
		out = append(out, BudgetLine{Budget: b, Volume: n, Cost: cost, Variance: variance})
	}
	return out, nil
}
