package operation_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// A host whose desk lets callers reopen closed incidents within 30 days:
// closed stops being final, the reopen event also leaves it, and the
// default within_reopen_window guard and count_reopen effect apply to it.
func Example_reopenClosedIncidents() {
	ctx := context.Background()
	clock := itsm.NewFakeClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))

	// The host's code: three lines.
	policy := operation.IncidentPolicy{ReopenWindow: 30 * 24 * time.Hour}
	lifecycle := operation.IncidentLifecycle(policy).NotFinal(operation.StateClosed).
		Event(operation.EventReopen, operation.StateInProgress, operation.StateClosed)
	desk, err := operation.New(ctx, memory.New(), operation.Config{Clock: clock, Incident: policy, IncidentLifecycle: lifecycle})
	if err != nil {
		panic(err)
	}

	agent := itsm.WithActor(ctx, itsm.Actor{ID: "ann", Roles: []string{"agent"}, Groups: []string{"network"}})
	caller := itsm.WithActor(ctx, itsm.Actor{ID: "carl", Roles: []string{"caller"}})
	closed := func() *operation.Incident {
		inc := &operation.Incident{ShortDescription: "VPN drops", Impact: 2, Urgency: 2}
		must(desk.OpenIncident(caller, inc, storage.Command{}))
		_, err := desk.ResolveIncident(agent, inc.ID, operation.ResolvedWorkaround, "MTU lowered", storage.Command{})
		must(err)
		_, err = desk.CloseIncident(caller, inc.ID, storage.Command{})
		must(err)
		return inc
	}

	recent := closed()
	clock.Advance(20 * 24 * time.Hour)
	got, err := desk.ReopenIncident(caller, recent.ID, storage.Command{Reason: "back again"})
	must(err)
	fmt.Println(got.Number, "reopened 20 days after closing:", got.State, "reopen count", got.ReopenCount, "closed at cleared:", got.ClosedAt.IsZero())

	old := closed()
	clock.Advance(31 * 24 * time.Hour)
	_, err = desk.ReopenIncident(caller, old.ID, storage.Command{Reason: "back again"})
	var te *itsm.TransitionError
	fmt.Println(old.Number, "after 31 days refused:", errors.As(err, &te) && te.Guard == "within_reopen_window")
	// Output:
	// INC0000001 reopened 20 days after closing: in_progress reopen count 1 closed at cleared: true
	// INC0000002 after 31 days refused: true
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
