package operation_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// A service desk on the in-memory store: an incident is raised, assigned,
// put on hold, resolved (which needs a code and notes) and confirmed by its
// caller; every step is an event in the hash-chained log.
func Example() {
	ctx := context.Background()
	clock := itsm.NewFakeClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	desk, err := operation.New(ctx, memory.New(), operation.Config{Clock: clock,
		Directory: itsm.StaticDirectory{"network": {"ann"}}})
	if err != nil {
		panic(err)
	}
	agent := itsm.WithActor(ctx, itsm.Actor{ID: "ann", Roles: []string{"agent"}, Groups: []string{"network"}})
	caller := itsm.WithActor(ctx, itsm.Actor{ID: "carl", Roles: []string{"caller"}})

	inc := &operation.Incident{ShortDescription: "VPN drops every ten minutes", Impact: 1, Urgency: 2}
	if err := desk.OpenIncident(caller, inc, storage.Command{}); err != nil {
		panic(err)
	}
	fmt.Println(inc.Number, inc.State, "priority", operation.PriorityName(inc.Priority))

	_, err = desk.AssignIncident(agent, inc.ID, "network", "bob", storage.Command{})
	fmt.Println("assign bob:", errors.Is(err, itsm.ErrInvalid))
	steps := []func() (*operation.Incident, error){
		func() (*operation.Incident, error) {
			return desk.AssignIncident(agent, inc.ID, "network", "ann", storage.Command{})
		},
		func() (*operation.Incident, error) { return desk.StartIncident(agent, inc.ID, storage.Command{}) },
		func() (*operation.Incident, error) {
			return desk.HoldIncident(agent, inc.ID, operation.HoldAwaitingCaller, storage.Command{Reason: "need logs"})
		},
		func() (*operation.Incident, error) { return desk.ResumeIncident(agent, inc.ID, storage.Command{}) },
		func() (*operation.Incident, error) {
			return desk.ResolveIncident(agent, inc.ID, "", "", storage.Command{})
		},
		func() (*operation.Incident, error) {
			return desk.ResolveIncident(agent, inc.ID, operation.ResolvedWorkaround, "MTU lowered", storage.Command{})
		},
		func() (*operation.Incident, error) { return desk.CloseIncident(caller, inc.ID, storage.Command{}) },
	}
	for _, step := range steps {
		clock.Advance(10 * time.Minute)
		got, err := step()
		if err != nil {
			fmt.Println("  refused:", errors.Is(err, itsm.ErrInvalidTransition))
			continue
		}
		fmt.Println("  " + strings.TrimSpace(got.State+" "+got.AssignedTo+" "+got.HoldReason))
	}
	evs, _ := desk.Incidents().History(agent, inc.ID)
	for _, e := range evs {
		fmt.Printf("%s %-7s %s -> %s\n", e.At.Format("15:04"), e.Name, e.From, e.To)
	}
	fmt.Println("chain ok:", desk.Incidents().Verify(agent, inc.ID) == nil)
	// Output:
	// INC0000001 new priority 2 - High
	// assign bob: true
	//   new ann
	//   in_progress ann
	//   on_hold ann awaiting_caller
	//   in_progress ann
	//   refused: true
	//   resolved ann
	//   closed ann
	// 09:00 create   -> new
	// 09:10 update  new -> new
	// 09:20 start   new -> in_progress
	// 09:30 hold    in_progress -> on_hold
	// 09:40 resume  on_hold -> in_progress
	// 10:00 resolve in_progress -> resolved
	// 10:10 close   resolved -> closed
	// chain ok: true
}

// A service request for an item that needs approval: the requester cannot
// approve it, an approver can, tasks are spawned, and the request closes
// when its last task completes.
func ExampleDesk_SubmitRequest() {
	ctx := context.Background()
	desk, err := operation.New(ctx, memory.New(), operation.Config{Catalog: catalog{
		"laptop": {group: "managers", approvals: 1, tasks: []task{{"Order", "", 1}, {"Deliver", "", 1}},
			fields: map[string]bool{"model": true}}}})
	if err != nil {
		panic(err)
	}
	carl := itsm.WithActor(ctx, itsm.Actor{ID: "carl", Roles: []string{"caller", "approver"}, Groups: []string{"managers"}})
	mia := itsm.WithActor(ctx, itsm.Actor{ID: "mia", Roles: []string{"approver"}, Groups: []string{"managers"}})
	ann := itsm.WithActor(ctx, itsm.Actor{ID: "ann", Roles: []string{"agent"}})

	err = desk.SubmitRequest(carl, &operation.Request{CatalogItemID: "laptop"}, storage.Command{})
	var ve *itsm.ValidationError
	if errors.As(err, &ve) {
		fmt.Println("refused:", ve.Fields["variables.model"])
	}
	req := &operation.Request{CatalogItemID: "laptop", ShortDescription: "Laptop",
		Variables: map[string]string{"model": "14-inch"}}
	if err := desk.SubmitRequest(carl, req, storage.Command{}); err != nil {
		panic(err)
	}
	fmt.Println(req.Number, req.State)
	_, err = desk.ApproveRequest(carl, req.ID, "please", storage.Command{})
	fmt.Println("own approval forbidden:", errors.Is(err, itsm.ErrForbidden))
	got, _ := desk.ApproveRequest(mia, req.ID, "ok", storage.Command{})
	fmt.Println(got.State, len(got.TaskIDs), "tasks")
	for _, id := range got.TaskIDs {
		if _, err := desk.CompleteTask(ann, id, "done", storage.Command{}); err != nil {
			panic(err)
		}
	}
	got, _ = desk.Requests().Get(carl, req.ID)
	fmt.Println(got.State)
	// Output:
	// refused: is required
	// REQ0000001 awaiting_approval
	// own approval forbidden: true
	// in_fulfillment 2 tasks
	// closed_complete
}

// Monitoring events fold into one alert; a critical one raises an
// incident, and the clearing event resolves it.
func ExampleDesk_Ingest() {
	ctx := context.Background()
	desk, err := operation.New(ctx, memory.New(), operation.Config{
		AlertRule: operation.AlertRule{MinSeverity: operation.SeverityCritical, AssignmentGroup: "dba", ResolveOnClear: true}})
	if err != nil {
		panic(err)
	}
	mon := itsm.WithActor(ctx, itsm.Actor{ID: "prometheus", Roles: []string{itsm.RoleSystem}})
	ev := operation.MonitorEvent{Source: "prometheus", Node: "db1", Type: "disk_full", Severity: operation.SeverityWarning, Message: "85%"}
	for _, sev := range []int{operation.SeverityWarning, operation.SeverityCritical, operation.SeverityCritical, operation.SeverityClear} {
		ev.Severity = sev
		res, err := desk.Ingest(mon, ev)
		if err != nil {
			panic(err)
		}
		line := fmt.Sprintf("severity %d: %s %s count %d", sev, res.Alert.Number, res.Alert.State, res.Alert.Count)
		if res.Incident != nil {
			line += fmt.Sprintf(", %s %s priority %d", res.Incident.Number, res.Incident.State, res.Incident.Priority)
		}
		fmt.Println(line)
	}
	// Output:
	// severity 4: ALR0000001 open count 1
	// severity 1: ALR0000001 open count 2, INC0000001 new priority 1
	// severity 1: ALR0000001 open count 3
	// severity 0: ALR0000001 closed count 4, INC0000001 resolved priority 1
}
