package itsm_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/pillars-itsm/pillars/itsm"
)

type order struct{ Paid bool }

// A lifecycle is declared once, compiled (and validated) once, and shared by
// every record of its kind; Decide is a lookup plus the event's guards.
func ExampleLifecycle() {
	machine, err := itsm.NewLifecycle[*order]("order").
		Initial("open").
		Final("shipped", "canceled").
		Event("ship", "shipped", "open").
		Event("cancel", "canceled", "open").
		Guard("ship", "must_be_paid", func(_ context.Context, o *order, _ itsm.Transition) error {
			if !o.Paid {
				return errors.New("the order is not paid")
			}
			return nil
		}).
		Compile()
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	_, err = machine.Decide(ctx, &order{}, itsm.Transition{Event: "ship", From: "open"})
	fmt.Println(err)
	fmt.Println(errors.Is(err, itsm.ErrInvalidTransition))
	tr, _ := machine.Decide(ctx, &order{Paid: true}, itsm.Transition{Event: "ship", From: "open"})
	fmt.Println(tr.From, "->", tr.To)
	fmt.Print(machine.Mermaid())
	// Output:
	// order: event "ship" refused in state "open" by guard must_be_paid: the order is not paid
	// true
	// open -> shipped
	// stateDiagram-v2
	//     [*] --> open
	//     open --> shipped: ship [must_be_paid]
	//     open --> canceled: cancel
	//     shipped --> [*]
	//     canceled --> [*]
}

// Compile refuses a broken definition and names every culprit.
func ExampleLifecycle_Compile() {
	_, err := itsm.NewLifecycle[*order]("order").
		Initial("open").
		States("limbo").
		Final("shipped").
		Event("ship", "shipped", "open").
		Event("ship", "shiped", "open").
		Compile()
	fmt.Println(err)
	// Output:
	// lifecycle order: event "ship": unknown destination state "shiped"; state "limbo" is unreachable from initial state "open"; state "limbo" is a dead end: no event leaves it and it is not final
}

// The default authorizer grants by role; a command without an actor is
// always forbidden.
func ExampleRoleAuthorizer() {
	az := itsm.DefaultAuthorizer()
	ctx := itsm.WithActor(context.Background(), itsm.Actor{ID: "carl", Roles: []string{"caller"}})
	fmt.Println(itsm.Authorize(ctx, az, "incident", itsm.ActionCreate, nil))
	fmt.Println(itsm.Authorize(ctx, az, "incident", "resolve", nil))
	fmt.Println(itsm.Authorize(context.Background(), az, "incident", itsm.ActionCreate, nil))
	// Output:
	// <nil>
	// forbidden: carl may not resolve incident: no role grants incident:resolve
	// forbidden: create incident: no actor in context
}
