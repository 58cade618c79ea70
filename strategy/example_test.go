package strategy_test

import (
	"context"
	"fmt"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/strategy"
)

// Example puts a service through the portfolio, prices it and charges its
// cost back to two business units.
func Example() {
	ctx := context.Background()
	clock := itsm.NewFakeClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	s, _ := strategy.New(ctx, memory.New(), strategy.Config{Clock: clock})
	owner := itsm.WithActor(ctx, itsm.Actor{ID: "olga", Roles: []string{"agent"}})

	svc := &strategy.Service{Name: "Email", Owner: "olga", BusinessCase: strategy.BusinessCase{
		Summary: "every employee needs mail", ExpectedBenefit: strategy.M(90000_00, "EUR"), ExpectedCost: strategy.M(40000_00, "EUR")}}
	_ = s.ProposeService(owner, svc, storage.Command{})
	_, err := s.PublishService(owner, svc.ID, "", storage.Command{})
	fmt.Println("without a reason:", err)
	svc, _ = s.PublishService(owner, svc.ID, "", storage.Command{Reason: "pilot with 50 users succeeded"})
	fmt.Println(svc.Number, svc.Name, "is in the", svc.State)

	model := &strategy.CostModel{ServiceID: svc.ID, Name: "Email 2027", Currency: "EUR", Unit: "mailboxes", Items: []strategy.CostItem{
		{Name: "servers and staff", Type: strategy.Fixed, Amount: strategy.M(3000_00, "EUR")},
		{Name: "licence", Type: strategy.Variable, Amount: strategy.M(4_50, "EUR")},
	}}
	_ = s.DefineCostModel(owner, model, storage.Command{})
	cost, _ := model.Cost(700)
	fmt.Println("monthly cost for 700 mailboxes:", cost.Total, "- per mailbox:", cost.PerUnit)

	sales := &strategy.Customer{Name: "Sales", Services: []string{svc.ID}}
	ops := &strategy.Customer{Name: "Operations", Services: []string{svc.ID}}
	_ = s.AddCustomer(owner, sales, storage.Command{})
	_ = s.AddCustomer(owner, ops, storage.Command{})
	charges, _, _ := s.ChargeBack(owner, model.ID, []strategy.Usage{{CustomerID: sales.ID, Volume: 500}, {CustomerID: ops.ID, Volume: 200}})
	for i, c := range charges {
		fmt.Printf("%-10s %4d mailboxes: %s\n", []string{"Sales", "Operations"}[i], c.Volume, c.Total)
	}
	// Output:
	// without a reason: portfolio_service SVC0000001: event "publish" refused in state "pipeline" by guard needs_reason: a reason for the move is required
	// SVC0000001 Email is in the catalogue
	// monthly cost for 700 mailboxes: 6150.00 EUR - per mailbox: 8.79 EUR
	// Sales       500 mailboxes: 4392.86 EUR
	// Operations  200 mailboxes: 1757.14 EUR
}
