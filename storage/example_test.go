package storage_test

import (
	"context"
	"encoding/json"
	"errors"
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
	first, _, _ := records.Query(agent, storage.Query{Filters: []storage.Filter{storage.Eq("priority", storage.Int(1))}})
	if _, err := records.Fire(agent, first[0].ID, "start", storage.Command{}, nil); err != nil {
		fmt.Println(err)
		return
	}

	// The service desk's queue: new and in-progress work, most urgent first.
	// Reads are authorised too: the actor's read scope is part of the query.
	queue, _, err := records.Query(agent, storage.Query{
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

// Retry writes two records in one unit of work and runs the unit again when
// a concurrent writer changed one of them in between: here three items move
// from bin a to bin b while another instance adds one to b, so the first
// attempt meets a stale version and the second decides on fresh data.
func ExampleRetry() {
	ctx := context.Background()
	store := memory.New()
	if err := store.Register(ctx, storage.Schema{Kind: "bin"}); err != nil {
		fmt.Println(err)
		return
	}
	put := func(tx storage.Tx, id string, version int64, stock int) error {
		return tx.Put(ctx, storage.Document{Kind: "bin", ID: id, Version: version + 1, Data: fmt.Appendf(nil, `{"stock":%d}`, stock)}, version)
	}
	if err := store.Update(ctx, func(tx storage.Tx) error {
		if err := put(tx, "a", 0, 10); err != nil {
			return err
		}
		return put(tx, "b", 0, 0)
	}); err != nil {
		fmt.Println(err)
		return
	}
	stock := func(d storage.Document) int {
		var v struct{ Stock int }
		_ = json.Unmarshal(d.Data, &v)
		return v.Stock
	}
	attempts := 0
	err := storage.Retry(ctx, store, 3, func(tx storage.Tx) error {
		attempts++
		a, err := tx.Get(ctx, "bin", "a")
		if err != nil {
			return err
		}
		b, err := tx.Get(ctx, "bin", "b")
		if err != nil {
			return err
		}
		if attempts == 1 { // another instance puts one item into bin b meanwhile
			if err := store.Update(ctx, func(other storage.Tx) error { return put(other, "b", b.Version, stock(b)+1) }); err != nil {
				return err
			}
		}
		if err := put(tx, "a", a.Version, stock(a)-3); err != nil {
			return err
		}
		return put(tx, "b", b.Version, stock(b)+3) // stale on the first attempt: ErrConflict at commit
	})
	a, _ := store.Get(ctx, "bin", "a")
	b, _ := store.Get(ctx, "bin", "b")
	fmt.Println(err, attempts, stock(a), stock(b))
	// Output:
	// <nil> 2 7 4
}

// A CompositeOnly field has no index of its own: the composite index naming
// it serves it, writes maintain one index fewer, and a query no index can
// serve is refused instead of scanning every document.
func ExampleField_compositeOnly() {
	schema := storage.Schema{
		Kind: "ticket",
		Fields: []storage.Field{
			{Name: "grp", Type: storage.TypeString, CompositeOnly: true},
			{Name: "prio", Type: storage.TypeInt, CompositeOnly: true},
		},
		Indexes: []storage.Index{{Name: "queue", Fields: []string{"grp", "prio"}}},
	}
	queue := storage.Query{Kind: "ticket", Filters: []storage.Filter{storage.Eq("grp", storage.String("network"))},
		Sort: []storage.Sort{{Field: "prio"}}}
	_, err := schema.CheckQuery(queue)
	fmt.Println("queue:", err)
	byPrio := storage.Query{Kind: "ticket", Filters: []storage.Filter{storage.Eq("prio", storage.Int(1))}}
	_, err = schema.CheckQuery(byPrio)
	fmt.Println("priority alone refused:", errors.Is(err, itsm.ErrInvalid))
	// Output:
	// queue: <nil>
	// priority alone refused: true
}

// Ticket is a record with a journal: notes are only ever appended.
type Ticket struct {
	itsm.Record
	Title string   `json:"title"`
	Notes []string `json:"notes,omitempty"`
}

// WithJournal declares the notes an append-only journal: each note's event
// carries that note alone, not the whole thread, and the appended parts in
// order rebuild it.
func ExampleCollection_WithJournal() {
	ctx := context.Background()
	machine, err := itsm.NewLifecycle[*Ticket]("ticket").Initial("open").Final("closed").
		Event("close", "closed", "open").Compile()
	if err != nil {
		fmt.Println(err)
		return
	}
	store := memory.New()
	tickets := storage.NewCollection[Ticket]("ticket").WithJournal("notes")
	if err := tickets.Register(ctx, store); err != nil {
		fmt.Println(err)
		return
	}
	records, err := storage.NewRecords(store, tickets, machine, storage.RecordsConfig{Prefix: "TKT"})
	if err != nil {
		fmt.Println(err)
		return
	}
	agent := itsm.WithActor(ctx, itsm.Actor{ID: "ann", Roles: []string{"agent"}})
	t := &Ticket{Title: "VPN down"}
	if err := records.Create(agent, t, storage.Command{}); err != nil {
		fmt.Println(err)
		return
	}
	for _, note := range []string{"checked the gateway", "restarted the tunnel", "caller confirms"} {
		if _, err := records.Change(agent, t.ID, storage.Command{}, func(t *Ticket) error {
			t.Notes = append(t.Notes, note)
			return nil
		}); err != nil {
			fmt.Println(err)
			return
		}
	}
	history, err := records.History(agent, t.ID)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, ev := range history[1:] {
		for _, c := range ev.Changes {
			if c.Field == "notes" {
				fmt.Println(ev.RecordVersion, c.To, "appended:", c.Appended)
			}
		}
	}
	// Output:
	// 2 ["checked the gateway"] appended: true
	// 3 ["restarted the tunnel"] appended: true
	// 4 ["caller confirms"] appended: true
}
