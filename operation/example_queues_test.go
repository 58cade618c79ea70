package operation_test

import (
	"context"
	"fmt"
	"time"

	"github.com/pillars-itsm/pillars/design/calendar"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// A caller's own incidents, the open ones first, each group newest first;
// the caller comments on one (allowed on their own incident) but may not
// add an internal work note.
func ExampleDesk_MyRequestedIncidents() {
	ctx := context.Background()
	clock := itsm.NewFakeClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	desk, err := operation.New(ctx, memory.New(), operation.Config{Clock: clock})
	if err != nil {
		panic(err)
	}
	carl := itsm.WithActor(ctx, itsm.Actor{ID: "carl", Roles: []string{"caller"}})
	ann := itsm.WithActor(ctx, itsm.Actor{ID: "ann", Roles: []string{"agent"}})
	var ids []string
	for _, what := range []string{"Printer jams", "VPN drops", "No sound in meetings"} {
		clock.Advance(time.Hour)
		inc := &operation.Incident{ShortDescription: what, Impact: 3, Urgency: 3}
		if err := desk.OpenIncident(carl, inc, storage.Command{}); err != nil {
			panic(err)
		}
		ids = append(ids, inc.ID)
	}
	if _, err := desk.ResolveIncident(ann, ids[2], operation.ResolvedRemotely, "driver updated", storage.Command{}); err != nil {
		panic(err)
	}
	if _, err := desk.AddComment(carl, ids[1], "It drops at 10:05 every day", storage.Command{}); err != nil {
		panic(err)
	}
	_, err = desk.AddWorkNote(carl, ids[1], "internal?", storage.Command{})
	fmt.Println("work note by the caller:", err)

	incs, next, err := desk.MyRequestedIncidents(carl, storage.Paging{Limit: 10})
	if err != nil {
		panic(err)
	}
	for _, inc := range incs {
		fmt.Println(inc.Number, inc.State, inc.ShortDescription, len(inc.Comments), "comment(s)")
	}
	fmt.Printf("more: %t\n", next != "")
	// Output:
	// work note by the caller: forbidden: carl may not work_note incident: no role grants incident:work_note
	// INC0000002 new VPN drops 1 comment(s)
	// INC0000001 new Printer jams 0 comment(s)
	// INC0000003 resolved No sound in meetings 0 comment(s)
	// more: false
}

// Escalation in business time: with an office-hours calendar, an incident
// raised on Friday afternoon is not escalated over the weekend, and is once
// eight working hours have passed.
func ExampleEscalationRule_businessTime() {
	ctx := context.Background()
	var week [7][]calendar.Range
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []calendar.Range{{Start: 9 * 60, End: 17 * 60}}
	}
	office, err := calendar.Compile(calendar.Config{Name: "office", Week: week, FromYear: 2026, ToYear: 2027})
	if err != nil {
		panic(err)
	}
	friday := time.Date(2026, 11, 27, 15, 0, 0, 0, time.UTC)
	clock := itsm.NewFakeClock(friday)
	desk, err := operation.New(ctx, memory.New(), operation.Config{Clock: clock, Escalation: []operation.EscalationRule{
		{Name: "p3_one_working_day", Priorities: []int{3}, After: 8 * time.Hour, Calendar: office, Notify: []string{"desk_lead"}},
	}})
	if err != nil {
		panic(err)
	}
	carl := itsm.WithActor(ctx, itsm.Actor{ID: "carl", Roles: []string{"caller"}})
	scheduler := itsm.WithActor(ctx, itsm.Actor{ID: "scheduler", Roles: []string{"agent"}})
	inc := &operation.Incident{ShortDescription: "Shared drive is slow", Impact: 2, Urgency: 2}
	if err := desk.OpenIncident(carl, inc, storage.Command{}); err != nil {
		panic(err)
	}
	monday := friday.Add(3 * 24 * time.Hour)
	// Friday 15:00-17:00 and Monday 09:00-15:00 are the eight working hours.
	for _, at := range []time.Time{friday.Add(8 * time.Hour), monday.Add(-time.Hour), monday} {
		clock.Set(at) // the scheduler runs at that time
		n, err := desk.Escalate(scheduler, at)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: %d escalated\n", at.Format("Mon 15:04"), n)
	}
	// Output:
	// Fri 23:00: 0 escalated
	// Mon 14:00: 0 escalated
	// Mon 15:00: 1 escalated
}
