// Command quickstart is the main Pillars demo: it declares a service-desk
// lifecycle, moves an incident through it on the in-memory store, shows a
// refused transition with the lifecycle's reason, and verifies the
// hash-chained audit log.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// Incident is a minimal service-desk ticket for the demo.
type Incident struct {
	itsm.Record
	ShortDescription string `json:"short_description"`
	Priority         int64  `json:"priority"`
	AssignmentGroup  string `json:"assignment_group,omitempty"`
	HoldReason       string `json:"hold_reason,omitempty"`
	ResolutionCode   string `json:"resolution_code,omitempty"`
	ResolutionNotes  string `json:"resolution_notes,omitempty"`
}

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func lifecycle() *itsm.Lifecycle[*Incident] {
	return itsm.NewLifecycle[*Incident]("incident").
		Initial("new").
		States("in_progress", "on_hold", "resolved").
		Final("closed", "canceled").
		Event("start", "in_progress", "new").
		Event("hold", "on_hold", "new", "in_progress", "on_hold").
		Event("resume", "in_progress", "on_hold").
		Event("resolve", "resolved", "new", "in_progress", "on_hold").
		Event("reopen", "in_progress", "resolved").
		Event("close", "closed", "resolved").
		Event("cancel", "canceled", "new", "in_progress", "on_hold").
		Guard("hold", "needs_hold_reason", func(_ context.Context, inc *Incident, _ itsm.Transition) error {
			if inc.HoldReason == "" {
				return errors.New("a hold reason is required")
			}
			return nil
		}).
		Guard("resolve", "needs_resolution", func(_ context.Context, inc *Incident, _ itsm.Transition) error {
			if inc.ResolutionCode == "" || inc.ResolutionNotes == "" {
				return errors.New("resolving requires a resolution code and notes")
			}
			return nil
		}).
		Effect("resume", "clear_hold_reason", func(_ context.Context, inc *Incident, _ itsm.Transition) error {
			inc.HoldReason = ""
			return nil
		})
}

func run(ctx context.Context, out io.Writer) error {
	machine, err := lifecycle().Compile()
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "== The incident lifecycle (Mermaid) ==")
	fmt.Fprint(out, machine.Mermaid())

	store := memory.New()
	defer store.Close()
	incidents := storage.NewCollection[Incident]("incident",
		storage.IntField("priority", func(i *Incident) int64 { return i.Priority }),
		storage.StringField("assignment_group", func(i *Incident) string { return i.AssignmentGroup }),
	).WithIndex("queue", "assignment_group", "state", "priority")
	if err := incidents.Register(ctx, store); err != nil {
		return err
	}
	clock := itsm.NewFakeClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	records, err := storage.NewRecords(store, incidents, machine, storage.RecordsConfig{Prefix: "INC", Clock: clock})
	if err != nil {
		return err
	}

	agent := itsm.WithActor(ctx, itsm.Actor{ID: "ann", Name: "Ann Agent", Roles: []string{"agent"}, Groups: []string{"network"}})
	caller := itsm.WithActor(ctx, itsm.Actor{ID: "carl", Name: "Carl Caller", Roles: []string{"caller"}})

	fmt.Fprintln(out, "\n== Carl raises an incident ==")
	inc := &Incident{ShortDescription: "VPN drops every ten minutes", Priority: 2, AssignmentGroup: "network"}
	if err := records.Create(caller, inc, storage.Command{}); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s %q is %s\n", inc.Number, inc.ShortDescription, inc.State)

	step := func(who context.Context, event, reason string, mutate func(*Incident) error) error {
		clock.Advance(15 * time.Minute)
		got, err := records.Fire(who, inc.ID, event, storage.Command{Reason: reason}, mutate)
		if err != nil {
			fmt.Fprintf(out, "  %-8s refused: %v\n", event, err)
			return err
		}
		fmt.Fprintf(out, "  %-8s -> %s\n", event, got.State)
		return nil
	}
	fmt.Fprintln(out, "\n== Ann works it ==")
	if err := step(agent, "start", "", nil); err != nil {
		return err
	}
	err = step(caller, "resolve", "", nil)
	if !errors.Is(err, itsm.ErrForbidden) {
		return fmt.Errorf("a caller resolving should be forbidden, got %v", err)
	}
	if err := step(agent, "hold", "waiting for the caller's logs", func(i *Incident) error {
		i.HoldReason = "awaiting_caller"
		return nil
	}); err != nil {
		return err
	}
	if err := step(agent, "resume", "logs received", nil); err != nil {
		return err
	}
	err = step(agent, "resolve", "", nil)
	var te *itsm.TransitionError
	if !errors.As(err, &te) {
		return fmt.Errorf("resolving without a code should be refused by a guard, got %v", err)
	}
	fmt.Fprintf(out, "           (guard %s, errors.Is(err, itsm.ErrInvalidTransition) = %t)\n", te.Guard, errors.Is(err, itsm.ErrInvalidTransition))
	if err := step(agent, "resolve", "", func(i *Incident) error {
		i.ResolutionCode, i.ResolutionNotes = "solved_workaround", "MTU lowered on the VPN gateway"
		return nil
	}); err != nil {
		return err
	}

	fmt.Fprintln(out, "\n== Audit log ==")
	events, err := records.History(ctx, inc.ID)
	if err != nil {
		return err
	}
	for _, e := range events {
		var fields []string
		for _, c := range e.Changes {
			fields = append(fields, c.Field)
		}
		fmt.Fprintf(out, "  #%d %s %-7s %-11s -> %-11s by %-5s changed %s  hash %s…\n",
			e.Seq, e.At.Format("15:04"), e.Name, e.From, e.To, e.Actor, strings.Join(fields, ","), e.Hash[:12])
	}
	if err := records.Verify(ctx, inc.ID); err != nil {
		return err
	}
	fmt.Fprintln(out, "  chain verified: every entry matches its hash and the record's head")

	// Tampering with any entry is detected.
	events[2].Reason = "nothing happened here"
	got, err := records.Get(ctx, inc.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  after editing entry 3: %v\n", itsm.Verify(events, got.Head))
	return nil
}
