package strategy_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/strategy"
)

var (
	agent = itsm.WithActor(context.Background(), itsm.Actor{ID: "sam", Roles: []string{"agent"}})
	jan   = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
)

type fixture struct {
	store *memory.Store
	clock *itsm.FakeClock
	s     *strategy.Strategy
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	store := memory.New()
	clock := itsm.NewFakeClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	s, err := strategy.New(context.Background(), store, strategy.Config{Clock: clock})
	require.NoError(t, err)
	return fixture{store, clock, s}
}

// catalogued proposes a service and publishes it with catalogue id catID,
// the id its incidents carry.
func (f fixture) catalogued(t *testing.T, name, catID string) *strategy.Service {
	t.Helper()
	svc := f.service(t, name)
	svc, err := f.s.PublishService(agent, svc.ID, catID, storage.Command{Reason: "live"})
	require.NoError(t, err)
	return svc
}

func (f fixture) service(t *testing.T, name string) *strategy.Service {
	t.Helper()
	svc := &strategy.Service{Name: name, Owner: "olga", BusinessCase: strategy.BusinessCase{Summary: "staff need " + name,
		ExpectedBenefit: strategy.M(500000_00, "EUR"), ExpectedCost: strategy.M(120000_00, "EUR")}}
	require.NoError(t, f.s.ProposeService(agent, svc, storage.Command{}))
	return svc
}

// snapshot is every strategy document and the whole event log.
func (f fixture) snapshot(t *testing.T) ([][]storage.Document, []itsm.Event) {
	t.Helper()
	var docs [][]storage.Document
	for _, kind := range []string{strategy.ServiceKind, strategy.ObjectiveKind, strategy.DemandKind, strategy.CostModelKind,
		strategy.BudgetKind, strategy.CustomerKind} {
		page, err := f.store.Query(context.Background(), storage.Query{Kind: kind, Limit: storage.MaxLimit})
		require.NoError(t, err)
		docs = append(docs, page.Docs)
	}
	evs, err := f.store.ReadEvents(context.Background(), 0, 100000)
	require.NoError(t, err)
	return docs, evs
}

func TestPortfolioLifecycle(t *testing.T) {
	f := newFixture(t)
	svc := f.service(t, "email")
	assert.Equal(t, "SVC0000001", svc.Number)
	assert.Equal(t, strategy.Pipeline, svc.State)

	got, err := f.s.PublishService(agent, svc.ID, "cat-42", storage.Command{Reason: "pilot succeeded"})
	require.NoError(t, err)
	assert.Equal(t, strategy.Catalogue, got.State)
	assert.Equal(t, "cat-42", got.CatalogueID)

	list, next, err := f.s.Portfolio(agent, strategy.Catalogue, storage.Paging{})
	require.NoError(t, err)
	assert.Empty(t, next)
	require.Len(t, list, 1)
	assert.Equal(t, "email", list[0].Name)

	got, err = f.s.RetireService(agent, svc.ID, storage.Command{Reason: "replaced by the collaboration suite"})
	require.NoError(t, err)
	assert.Equal(t, strategy.Retired, got.State)
	got, err = f.s.ReviveService(agent, svc.ID, storage.Command{Reason: "the suite was cancelled"})
	require.NoError(t, err)
	assert.Equal(t, strategy.Pipeline, got.State)

	evs, err := f.store.History(context.Background(), strategy.ServiceKind, svc.ID)
	require.NoError(t, err)
	require.Len(t, evs, 4)
	assert.Equal(t, "pilot succeeded", evs[1].Reason)
	assert.Equal(t, "replaced by the collaboration suite", evs[2].Reason)
	require.NoError(t, itsm.Verify(evs, got.Head))
}

func TestObjectivesAndMeasures(t *testing.T) {
	f := newFixture(t)
	email, vpn := f.service(t, "email"), f.service(t, "vpn")
	o := &strategy.Objective{Title: "Keep remote staff productive", Outcome: "staff work from anywhere", ServiceIDs: []string{email.ID},
		Measures: []strategy.Measure{{Name: "mail MTTR", KPI: "mttr", Service: email.ID, Target: 4}, {Name: "VPN availability", Target: 0.995, Higher: true}}}
	require.NoError(t, f.s.AddObjective(agent, o, storage.Command{}))
	got, err := f.s.LinkService(agent, o.ID, vpn.ID, storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, []string{email.ID, vpn.ID}, got.ServiceIDs)

	_, err = f.s.FireObjective(agent, o.ID, "achieve", storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalidTransition, "no measure is met yet")
	_, err = f.s.RecordMeasure(agent, o.ID, "mail MTTR", 3.5, storage.Command{})
	require.NoError(t, err)
	_, err = f.s.RecordMeasure(agent, o.ID, "VPN availability", 0.999, storage.Command{})
	require.NoError(t, err)
	got, err = f.s.FireObjective(agent, o.ID, "achieve", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, strategy.ObjectiveAchieved, got.State)
	assert.True(t, got.Measures[0].Met())
}

type volumes map[string]int64

func (v volumes) Volume(_ context.Context, service, unit string, from, _ time.Time) (int64, error) {
	n, ok := v[service+"/"+unit+"/"+from.Format("2006-01")]
	if !ok {
		return 0, itsm.Invalidf("no volume for %s", service)
	}
	return n, nil
}

func TestDemandAgainstMeasuredVolume(t *testing.T) {
	f := newFixture(t)
	erp := f.catalogued(t, "erp", "cat-erp")
	for m, expected := range []int64{100, 250, 120} {
		start := jan.AddDate(0, m, 0)
		require.NoError(t, f.s.RecordDemand(agent, &strategy.Demand{ServiceID: erp.ID, Unit: "incidents", Pattern: "quarter-end close",
			PeriodStart: start, PeriodEnd: start.AddDate(0, 1, 0), Expected: expected}, storage.Command{}))
	}
	// The counter is asked by the catalogue id, the one incidents carry.
	counter := volumes{"cat-erp/incidents/2027-01": 90, "cat-erp/incidents/2027-02": 300, "cat-erp/incidents/2027-03": 120}
	cmp, err := f.s.CompareDemand(agent, erp.ID, jan, jan.AddDate(0, 3, 0), counter)
	require.NoError(t, err)
	require.Len(t, cmp, 3)
	assert.Equal(t, int64(-10), cmp[0].Variance)
	assert.Equal(t, int64(50), cmp[1].Variance)
	assert.InDelta(t, 1.2, cmp[1].Ratio, 1e-9)
	assert.InDelta(t, 1.0, cmp[2].Ratio, 1e-9)
	assert.Nil(t, cmp[0].Slots, "a pattern in words only has no slots")

	none, err := f.s.CompareDemand(agent, erp.ID, jan.AddDate(1, 0, 0), jan.AddDate(2, 0, 0), counter)
	require.NoError(t, err)
	assert.Empty(t, none, "an empty period gives an empty result")
	_, err = f.s.CompareDemand(agent, erp.ID, jan, jan.AddDate(0, 3, 0), volumes{})
	require.ErrorIs(t, err, itsm.ErrInvalid, "the counter's error is passed on")

	pipeline := f.service(t, "hr")
	require.NoError(t, f.s.RecordDemand(agent, &strategy.Demand{ServiceID: pipeline.ID, Unit: "incidents",
		PeriodStart: jan, PeriodEnd: jan.AddDate(0, 1, 0), Expected: 5}, storage.Command{}))
	_, err = f.s.CompareDemand(agent, pipeline.ID, jan, jan.AddDate(0, 1, 0), counter)
	require.ErrorIs(t, err, itsm.ErrInvalid, "a service never catalogued has no measured volume")
	assert.Contains(t, err.Error(), "no catalogue entry")
	_, err = f.s.CompareDemand(agent, itsm.NewID(), jan, jan.AddDate(0, 1, 0), counter)
	require.ErrorIs(t, err, itsm.ErrNotFound)
}

func TestCostModelBudgetAndChargeBack(t *testing.T) {
	f := newFixture(t)
	svc := f.service(t, "email")
	m := &strategy.CostModel{ServiceID: svc.ID, Name: "email 2027", Currency: "EUR", Unit: "mailboxes", Items: []strategy.CostItem{
		{Name: "licences", Type: strategy.Variable, Amount: strategy.M(4_50, "EUR")},
		{Name: "servers", Type: strategy.Fixed, Amount: strategy.M(1000_00, "EUR")},
		{Name: "staff", Type: strategy.Fixed, Amount: strategy.M(3000_00, "EUR")},
	}}
	require.NoError(t, f.s.DefineCostModel(agent, m, storage.Command{}))
	c, err := m.Cost(3)
	require.NoError(t, err)
	assert.Equal(t, strategy.M(4000_00, "EUR"), c.Fixed)
	assert.Equal(t, strategy.M(13_50, "EUR"), c.Variable)
	assert.Equal(t, strategy.M(4013_50, "EUR"), c.Total)
	assert.Equal(t, strategy.M(1337_83, "EUR"), c.PerUnit, "401350 / 3 = 133783.33, rounded")
	zero, err := m.Cost(0)
	require.NoError(t, err)
	assert.False(t, zero.HasPerUnit, "no demand, no cost per unit, no division by zero")
	assert.Equal(t, "4000.00 EUR", zero.Total.String())

	require.NoError(t, f.s.SetBudget(agent, &strategy.Budget{ServiceID: svc.ID, PeriodStart: jan, PeriodEnd: jan.AddDate(0, 3, 0), Amount: strategy.M(15000_00, "EUR")}, storage.Command{}))
	require.NoError(t, f.s.SetBudget(agent, &strategy.Budget{ServiceID: svc.ID, PeriodStart: jan.AddDate(0, 3, 0), PeriodEnd: jan.AddDate(0, 6, 0), Amount: strategy.M(15000_00, "EUR")}, storage.Command{}),
		"adjacent periods do not overlap")

	sales := &strategy.Customer{Name: "Sales", Services: []string{svc.ID}}
	ops := &strategy.Customer{Name: "Operations", Services: []string{svc.ID}}
	hr := &strategy.Customer{Name: "HR", Services: []string{svc.ID}}
	for _, c := range []*strategy.Customer{sales, ops, hr} {
		require.NoError(t, f.s.AddCustomer(agent, c, storage.Command{}))
	}
	charges, cost, err := f.s.ChargeBack(agent, m.ID, []strategy.Usage{{sales.ID, 1}, {ops.ID, 1}, {hr.ID, 1}})
	require.NoError(t, err)
	require.Len(t, charges, 3)
	sum := strategy.M(0, "EUR")
	for _, ch := range charges {
		sum, err = sum.Add(ch.Total)
		require.NoError(t, err)
		assert.Equal(t, strategy.M(4_50, "EUR"), ch.Variable)
	}
	assert.Equal(t, cost.Total, sum, "the charges add up to the cost exactly")
	assert.Equal(t, strategy.M(1333_34, "EUR"), charges[0].Fixed, "the remainder cent goes to the first of equal shares")
	assert.Equal(t, strategy.M(1333_33, "EUR"), charges[2].Fixed)
}

func TestSatisfaction(t *testing.T) {
	f := newFixture(t)
	email, vpn := f.service(t, "email"), f.service(t, "vpn")
	c := &strategy.Customer{Name: "Sales", Services: []string{email.ID}}
	require.NoError(t, f.s.AddCustomer(agent, c, storage.Command{}))
	_, err := f.s.Consume(agent, c.ID, vpn.ID, storage.Command{})
	require.NoError(t, err)
	for _, score := range []int{4, 5, 3} {
		_, err := f.s.RecordSatisfaction(agent, c.ID, email.ID, score, "Q1 survey", storage.Command{})
		require.NoError(t, err)
	}
	got, err := f.s.Customer(agent, c.ID)
	require.NoError(t, err)
	assert.Equal(t, []strategy.Satisfaction{{ServiceID: email.ID, Responses: 3, Mean: 4}, {ServiceID: vpn.ID}}, got.Satisfaction())
	assert.Equal(t, f.clock.Now(), got.Scores[0].At)
}

// TestRefusalsWriteNothing: every bad input is refused with an error
// matching a kernel sentinel, and the store is as it was.
func TestRefusalsWriteNothing(t *testing.T) {
	f := newFixture(t)
	svc := f.service(t, "email")
	bare := &strategy.Service{Name: "bare"}
	require.NoError(t, f.s.ProposeService(agent, bare, storage.Command{}))
	m := &strategy.CostModel{ServiceID: svc.ID, Name: "m", Currency: "EUR", Unit: "users",
		Items: []strategy.CostItem{{Name: "base", Type: strategy.Fixed, Amount: strategy.M(100, "EUR")}}}
	require.NoError(t, f.s.DefineCostModel(agent, m, storage.Command{}))
	first := &strategy.Budget{ServiceID: svc.ID, PeriodStart: jan, PeriodEnd: jan.AddDate(0, 3, 0), Amount: strategy.M(100, "EUR")}
	require.NoError(t, f.s.SetBudget(agent, first, storage.Command{}))
	cust := &strategy.Customer{Name: "Sales", Services: []string{svc.ID}}
	require.NoError(t, f.s.AddCustomer(agent, cust, storage.Command{}))
	obj := &strategy.Objective{Title: "o", Measures: []strategy.Measure{{Name: "x", Target: 1}}}
	require.NoError(t, f.s.AddObjective(agent, obj, storage.Command{}))
	docs, evs := f.snapshot(t)

	budget := func(start, end time.Time, amount strategy.Money) func() error {
		return func() error {
			return f.s.SetBudget(agent, &strategy.Budget{ServiceID: svc.ID, PeriodStart: start, PeriodEnd: end, Amount: amount}, storage.Command{})
		}
	}
	tests := []struct {
		name string
		run  func() error
		is   error
	}{
		{"service without a name", func() error { return f.s.ProposeService(agent, &strategy.Service{}, storage.Command{}) }, itsm.ErrInvalid},
		{"business case in two currencies", func() error {
			return f.s.ProposeService(agent, &strategy.Service{Name: "x", BusinessCase: strategy.BusinessCase{
				ExpectedBenefit: strategy.M(1, "EUR"), ExpectedCost: strategy.M(1, "USD")}}, storage.Command{})
		}, itsm.ErrInvalid},
		{"publish without a reason", func() error { _, err := f.s.PublishService(agent, svc.ID, "", storage.Command{}); return err }, itsm.ErrInvalidTransition},
		{"publish without owner or business case", func() error {
			_, err := f.s.PublishService(agent, bare.ID, "", storage.Command{Reason: "go"})
			return err
		}, itsm.ErrInvalidTransition},
		{"revive a live service", func() error { _, err := f.s.ReviveService(agent, svc.ID, storage.Command{Reason: "why"}); return err }, itsm.ErrInvalidTransition},
		{"retire an unknown service", func() error {
			_, err := f.s.RetireService(agent, itsm.NewID(), storage.Command{Reason: "gone"})
			return err
		}, itsm.ErrNotFound},
		{"retire without an actor", func() error {
			_, err := f.s.RetireService(context.Background(), svc.ID, storage.Command{Reason: "gone"})
			return err
		}, itsm.ErrForbidden},
		{"unknown portfolio stage", func() error { _, _, err := f.s.Portfolio(agent, "limbo", storage.Paging{}); return err }, itsm.ErrInvalid},
		{"cost in a mixed currency", func() error {
			return f.s.DefineCostModel(agent, &strategy.CostModel{ServiceID: svc.ID, Name: "m2", Currency: "EUR", Unit: "users",
				Items: []strategy.CostItem{{Name: "a", Type: strategy.Fixed, Amount: strategy.M(1, "EUR")}, {Name: "b", Type: strategy.Variable, Amount: strategy.M(1, "USD")}}}, storage.Command{})
		}, itsm.ErrInvalid},
		{"cost item of an unknown type", func() error {
			return f.s.DefineCostModel(agent, &strategy.CostModel{ServiceID: svc.ID, Name: "m3", Currency: "EUR", Unit: "users",
				Items: []strategy.CostItem{{Name: "a", Type: "sometimes", Amount: strategy.M(1, "EUR")}}}, storage.Command{})
		}, itsm.ErrInvalid},
		{"cost model of an unknown service", func() error {
			return f.s.DefineCostModel(agent, &strategy.CostModel{ServiceID: itsm.NewID(), Name: "m4", Currency: "EUR", Unit: "users"}, storage.Command{})
		}, itsm.ErrNotFound},
		{"budget overlapping another", budget(jan.AddDate(0, 2, 0), jan.AddDate(0, 5, 0), strategy.M(5, "EUR")), itsm.ErrConflict},
		{"budget inside another", budget(jan.AddDate(0, 1, 0), jan.AddDate(0, 2, 0), strategy.M(5, "EUR")), itsm.ErrConflict},
		{"budget around another", budget(jan.AddDate(0, -1, 0), jan.AddDate(0, 4, 0), strategy.M(5, "EUR")), itsm.ErrConflict},
		{"budget with an empty period", budget(jan, jan, strategy.M(5, "EUR")), itsm.ErrInvalid},
		{"budget in a bad currency", budget(jan.AddDate(1, 0, 0), jan.AddDate(2, 0, 0), strategy.M(5, "euro")), itsm.ErrInvalid},
		{"negative budget", budget(jan.AddDate(1, 0, 0), jan.AddDate(2, 0, 0), strategy.M(-5, "EUR")), itsm.ErrInvalid},
		{"demand with a reversed period", func() error {
			return f.s.RecordDemand(agent, &strategy.Demand{ServiceID: svc.ID, Unit: "x", PeriodStart: jan, PeriodEnd: jan.AddDate(0, -1, 0)}, storage.Command{})
		}, itsm.ErrInvalid},
		{"demand for an unknown service", func() error {
			return f.s.RecordDemand(agent, &strategy.Demand{ServiceID: itsm.NewID(), Unit: "x", PeriodStart: jan, PeriodEnd: jan.AddDate(0, 1, 0)}, storage.Command{})
		}, itsm.ErrNotFound},
		{"compare demand over an empty range", func() error {
			_, err := f.s.CompareDemand(agent, svc.ID, jan, jan, volumes{})
			return err
		}, itsm.ErrInvalid},
		{"charge-back without usage", func() error { _, _, err := f.s.ChargeBack(agent, m.ID, []strategy.Usage{{cust.ID, 0}}); return err }, itsm.ErrInvalid},
		{"charge-back of an unknown customer", func() error {
			_, _, err := f.s.ChargeBack(agent, m.ID, []strategy.Usage{{itsm.NewID(), 3}})
			return err
		}, itsm.ErrNotFound},
		{"charge-back listing a customer twice", func() error {
			_, _, err := f.s.ChargeBack(agent, m.ID, []strategy.Usage{{cust.ID, 1}, {cust.ID, 2}})
			return err
		}, itsm.ErrInvalid},
		{"score outside 1..5", func() error {
			_, err := f.s.RecordSatisfaction(agent, cust.ID, svc.ID, 6, "", storage.Command{})
			return err
		}, itsm.ErrInvalid},
		{"score for a service not consumed", func() error {
			_, err := f.s.RecordSatisfaction(agent, cust.ID, bare.ID, 4, "", storage.Command{})
			return err
		}, itsm.ErrInvalid},
		{"customer consuming an unknown service", func() error {
			return f.s.AddCustomer(agent, &strategy.Customer{Name: "x", Services: []string{itsm.NewID()}}, storage.Command{})
		}, itsm.ErrNotFound},
		{"objective with an unknown service", func() error {
			return f.s.AddObjective(agent, &strategy.Objective{Title: "x", ServiceIDs: []string{itsm.NewID()}}, storage.Command{})
		}, itsm.ErrNotFound},
		{"objective with a repeated measure", func() error {
			return f.s.AddObjective(agent, &strategy.Objective{Title: "x", Measures: []strategy.Measure{{Name: "a"}, {Name: "a"}}}, storage.Command{})
		}, itsm.ErrInvalid},
		{"unknown measure", func() error { _, err := f.s.RecordMeasure(agent, obj.ID, "nope", 1, storage.Command{}); return err }, itsm.ErrNotFound},
		{"abandon without a reason", func() error { _, err := f.s.FireObjective(agent, obj.ID, "abandon", storage.Command{}); return err }, itsm.ErrInvalidTransition},
		{"nil records", func() error {
			return errorsJoin(f.s.ProposeService(agent, nil, storage.Command{}), f.s.AddObjective(agent, nil, storage.Command{}), f.s.RecordDemand(agent, nil, storage.Command{}),
				f.s.DefineCostModel(agent, nil, storage.Command{}), f.s.SetBudget(agent, nil, storage.Command{}), f.s.AddCustomer(agent, nil, storage.Command{}))
		}, itsm.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorIs(t, tt.run(), tt.is)
			d, e := f.snapshot(t)
			assert.Equal(t, docs, d, "documents unchanged")
			assert.Equal(t, evs, e, "event log unchanged")
		})
	}
}

// errorsJoin returns the first error, or an error saying which call
// succeeded when one did.
func errorsJoin(errs ...error) error {
	for i, err := range errs {
		if err == nil {
			return fmt.Errorf("call %d accepted a nil record", i+1)
		}
	}
	return errs[0]
}

// TestConcurrentOverlappingBudgets: of many writers racing to budget
// overlapping periods for one service, exactly one wins.
func TestConcurrentOverlappingBudgets(t *testing.T) {
	f := newFixture(t)
	svc := f.service(t, "email")
	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := jan.AddDate(0, 0, w)
			errs[w] = f.s.SetBudget(agent, &strategy.Budget{ServiceID: svc.ID, PeriodStart: start, PeriodEnd: start.AddDate(0, 1, 0), Amount: strategy.M(1, "EUR")}, storage.Command{})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			require.ErrorIs(t, err, itsm.ErrConflict)
		}
	}
	assert.Equal(t, 1, ok)
	page, err := f.store.Query(context.Background(), storage.Query{Kind: strategy.BudgetKind})
	require.NoError(t, err)
	assert.Len(t, page.Docs, 1)
	var overlap *strategy.OverlapError
	for _, err := range errs {
		if err != nil {
			require.ErrorAs(t, err, &overlap)
			assert.Contains(t, err.Error(), "overlaps BUD0000")
		}
	}

	// Writers of disjoint periods of one service all succeed: a writer that
	// loses the race reads again and finds no overlap.
	next := jan.AddDate(1, 0, 0)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := next.AddDate(0, w, 0)
			errs[w] = f.s.SetBudget(agent, &strategy.Budget{ServiceID: svc.ID, PeriodStart: start, PeriodEnd: start.AddDate(0, 1, 0), Amount: strategy.M(1, "EUR")}, storage.Command{})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	page, err = f.store.Query(context.Background(), storage.Query{Kind: strategy.BudgetKind})
	require.NoError(t, err)
	assert.Len(t, page.Docs, 1+writers)
}

type kpis map[string]float64

func (k kpis) KPIValue(kpi, service string, _, _ time.Time) (float64, bool, error) {
	if kpi == "broken" {
		return 0, false, itsm.Invalidf("unknown KPI %q", kpi)
	}
	v, ok := k[kpi+"/"+service]
	return v, ok, nil
}

func TestRefreshMeasuresFromKPIs(t *testing.T) {
	f := newFixture(t)
	email := f.service(t, "email")
	o := &strategy.Objective{Title: "Fast mail support", ServiceIDs: []string{email.ID}, Measures: []strategy.Measure{
		{Name: "MTTR", KPI: "mttr", Service: email.ID, Target: 4},
		{Name: "SLA", KPI: "sla_compliance", Service: email.ID, Target: 0.95, Higher: true},
		{Name: "NPS", Target: 30, Higher: true},
	}}
	require.NoError(t, f.s.AddObjective(agent, o, storage.Command{}))
	got, err := f.s.RefreshMeasures(agent, o.ID, kpis{"mttr/" + email.ID: 3.2}, jan, jan.AddDate(0, 1, 0), storage.Command{})
	require.NoError(t, err)
	assert.True(t, got.Measures[0].Has)
	assert.InDelta(t, 3.2, got.Measures[0].Current, 1e-9)
	assert.True(t, got.Measures[0].Met())
	assert.False(t, got.Measures[1].Has, "no SLA measurement yet")

	bad := &strategy.Objective{Title: "b", Measures: []strategy.Measure{{Name: "x", KPI: "broken"}}}
	require.NoError(t, f.s.AddObjective(agent, bad, storage.Command{}))
	docs, evs := f.snapshot(t)
	_, err = f.s.RefreshMeasures(agent, o.ID, nil, jan, jan, storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalid, "no source")
	_, err = f.s.RefreshMeasures(agent, bad.ID, kpis{}, jan, jan.AddDate(0, 1, 0), storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalid, "the source's error")
	d, e := f.snapshot(t)
	assert.Equal(t, docs, d, "nothing written")
	assert.Equal(t, evs, e, "nothing logged")
}

func TestBudgetStatus(t *testing.T) {
	f := newFixture(t)
	svc := f.catalogued(t, "erp", "cat-erp")
	m := &strategy.CostModel{ServiceID: svc.ID, Name: "erp", Currency: "EUR", Unit: "incidents", Items: []strategy.CostItem{
		{Name: "platform", Type: strategy.Fixed, Amount: strategy.M(1000_00, "EUR")},
		{Name: "handling", Type: strategy.Variable, Amount: strategy.M(25_00, "EUR")},
	}}
	require.NoError(t, f.s.DefineCostModel(agent, m, storage.Command{}))
	for i := 0; i < 2; i++ {
		start := jan.AddDate(0, i, 0)
		require.NoError(t, f.s.SetBudget(agent, &strategy.Budget{ServiceID: svc.ID, PeriodStart: start, PeriodEnd: start.AddDate(0, 1, 0), Amount: strategy.M(5000_00, "EUR")}, storage.Command{}))
	}
	counter := volumes{"cat-erp/incidents/2027-01": 100, "cat-erp/incidents/2027-02": 200}
	lines, err := f.s.BudgetStatus(agent, svc.ID, m.ID, counter, jan, jan.AddDate(1, 0, 0))
	require.NoError(t, err)
	require.Len(t, lines, 2)
	assert.Equal(t, strategy.M(3500_00, "EUR"), lines[0].Cost.Total)
	assert.Equal(t, strategy.M(1500_00, "EUR"), lines[0].Variance, "under budget")
	assert.Equal(t, strategy.M(-1000_00, "EUR"), lines[1].Variance, "overspent")

	empty, err := f.s.BudgetStatus(agent, svc.ID, m.ID, counter, jan.AddDate(2, 0, 0), jan.AddDate(3, 0, 0))
	require.NoError(t, err)
	assert.Empty(t, empty)

	usd := &strategy.CostModel{ServiceID: svc.ID, Name: "erp usd", Currency: "USD", Unit: "incidents"}
	require.NoError(t, f.s.DefineCostModel(agent, usd, storage.Command{}))
	_, err = f.s.BudgetStatus(agent, svc.ID, usd.ID, counter, jan, jan.AddDate(1, 0, 0))
	require.ErrorIs(t, err, itsm.ErrInvalid, "EUR budgets against a USD model")
	other := f.service(t, "crm")
	_, err = f.s.BudgetStatus(agent, other.ID, m.ID, counter, jan, jan.AddDate(1, 0, 0))
	require.ErrorIs(t, err, itsm.ErrInvalid, "the model prices another service")
	_, err = f.s.BudgetStatus(agent, svc.ID, m.ID, nil, jan, jan.AddDate(1, 0, 0))
	require.ErrorIs(t, err, itsm.ErrInvalid)
}

func TestArchivedBudgetFreesItsPeriod(t *testing.T) {
	f := newFixture(t)
	svc := f.service(t, "email")
	b := &strategy.Budget{ServiceID: svc.ID, PeriodStart: jan, PeriodEnd: jan.AddDate(0, 3, 0), Amount: strategy.M(100, "EUR")}
	require.NoError(t, f.s.SetBudget(agent, b, storage.Command{}))
	again := func() *strategy.Budget {
		return &strategy.Budget{ServiceID: svc.ID, PeriodStart: jan.AddDate(0, 1, 0), PeriodEnd: jan.AddDate(0, 2, 0), Amount: strategy.M(50, "EUR")}
	}
	require.ErrorIs(t, f.s.SetBudget(agent, again(), storage.Command{}), itsm.ErrConflict)
	require.NoError(t, f.s.Archive(agent, strategy.BudgetKind, b.ID, storage.Command{Reason: "re-planned by quarter"}))
	require.NoError(t, f.s.SetBudget(agent, again(), storage.Command{}), "the archived budget no longer holds the period")
	require.ErrorIs(t, f.s.Archive(agent, strategy.BudgetKind, b.ID, storage.Command{Reason: "twice"}), itsm.ErrInvalidTransition)
	require.ErrorIs(t, f.s.Archive(agent, strategy.ServiceKind, svc.ID, storage.Command{Reason: "no"}), itsm.ErrInvalid, "services retire through the portfolio")
	require.ErrorIs(t, f.s.Archive(agent, strategy.DemandKind, itsm.NewID(), storage.Command{Reason: "x"}), itsm.ErrNotFound)
}
