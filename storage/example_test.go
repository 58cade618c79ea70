package storage_test

import (
	"context"
	"fmt"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// Incident is a record struct: it embeds itsm.Record and adds its fields.
type Incident struct {
	itsm.Record
	ShortDescription string `json:"short_description"`
	AssignmentGroup  string `json:"assignment_group"`
	Priority         int64  `json:"priority"`
}

// Records runs the commands of a record kind on any Backend: here the
// in-memory store.
func ExampleRecords() {
	ctx := context.Background()
	machine, err := itsm.NewLifecycle[*Incident]("incident").
		Initial("new").States("in_progress").Final("resolved").
		Event("start", "in_progress", "new").
		Event("resolve", "resolved", "new", "in_progress").
		Compile()
	if err != nil {
		fmt.Println(err)
		return
	}
	store := memory.New()
	incidents := storage.NewCollection[Incident]("incident",
		storage.StringField("assignment_group", func(i *Incident) string { return i.AssignmentGroup }),
		storage.IntField("priority", func(i *Incident) int64 { return i.Priority }),
	).WithIndex("queue", "assignment_group", "state", "priority")
	if err := incidents.Register(ctx, store); err != nil {
		fmt.Println(err)
		return
	}
	records, err := storage.NewRecords(store, incidents, machine, storage.RecordsConfig{Prefix: "INC"})
	if err != nil {
		fmt.Println(err)
		return
	}
	agent := itsm.WithActor(ctx, itsm.Actor{ID: "ann", Roles: []string{"agent"}})
	for i, desc := range []string{"VPN down", "printer jam", "mail slow"} {
		inc := &Incident{ShortDescription: desc, AssignmentGroup: "service_desk", Priority: int64(3 - i)}
		if err := records.Create(agent, inc, storage.Command{}); err != nil {
			fmt.Println(err)
			return
		}
	}
	first, _, _ := records.Query(ctx, storage.Query{Filters: []storage.Filter{storage.Eq("priority", storage.Int(1))}})
	if _, err := records.Fire(agent, first[0].ID, "start", storage.Command{}, nil); err != nil {
		fmt.Println(err)
		return
	}

	// The service desk's queue: new and in-progress work, most urgent first.
	queue, _, err := records.Query(ctx, storage.Query{
		Filters: []storage.Filter{
			storage.Eq("assignment_group", storage.String("service_desk")),
			storage.In("state", storage.String("new"), storage.String("in_progress")),
		},
		Sort: []storage.Sort{{Field: "state"}, {Field: "priority"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, inc := range queue {
		fmt.Println(inc.Number, inc.State, inc.Priority, inc.ShortDescription)
	}
	// Output:
	// INC0000003 in_progress 1 mail slow
	// INC0000002 new 2 printer jam
	// INC0000001 new 3 VPN down
}
