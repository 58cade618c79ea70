package stream_test

import (
	"context"
	"fmt"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/stream"
)

// A subscription to the resolution of priority-1 incidents, run as its own
// consumer: of two incidents resolved, only the critical one reaches the
// handler, and a condition that is not a lower-case field of the kind is
// refused when the subscription is made.
func ExampleSubscribe() {
	ctx := context.Background()
	store := memory.New()
	desk, err := operation.New(ctx, store, operation.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	kinds := stream.Kinds{operation.KindIncident: stream.FieldsOf(operation.Incident{})}
	sub := stream.Subscription{
		Name:  "p1_resolved",
		Actor: itsm.Actor{ID: "pager-bot"},
		Kinds: []string{operation.KindIncident},
		Where: []stream.Condition{
			{Field: "priority", Op: stream.OpEq, Value: 1},
			{Field: "state", Op: stream.OpBecame, Value: operation.StateResolved},
		},
	}
	page := stream.HandlerFunc(func(_ context.Context, events []itsm.Event) error {
		for _, ev := range events {
			fmt.Printf("page: %s %s -> %s\n", ev.Number, ev.From, ev.To)
		}
		return nil
	})
	c, err := stream.Subscribe(ctx, store, sub, kinds, page, stream.ConsumerConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}

	agent := itsm.WithActor(ctx, itsm.Actor{ID: "ann", Roles: []string{"agent"}})
	for _, impact := range []int{1, 3} {
		inc := &operation.Incident{ShortDescription: "mail down", CallerID: "carl", Impact: impact, Urgency: impact}
		if err := desk.OpenIncident(agent, inc, storage.Command{}); err != nil {
			fmt.Println(err)
			return
		}
		if _, err := desk.ResolveIncident(agent, inc.ID, operation.ResolvedWorkaround, "restarted", storage.Command{}); err != nil {
			fmt.Println(err)
			return
		}
	}
	for {
		n, err := c.RunOnce(ctx) // a host calls c.Start(ctx) instead
		if err != nil {
			fmt.Println(err)
			return
		}
		if n == 0 {
			break
		}
	}

	sub.Where = []stream.Condition{{Field: "Priority", Op: stream.OpEq, Value: 1}}
	_, err = stream.Subscribe(ctx, store, sub, kinds, page, stream.ConsumerConfig{})
	fmt.Println(err)
	// Output:
	// page: INC0000001 new -> resolved
	// invalid: subscription p1_resolved: condition 0 names unknown field "Priority" (not a member of incident)
}
