package memory_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// A service desk queue: tickets indexed by group, priority and opening time,
// read in the order the queue index declares.
func Example() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()

	err := store.Register(ctx, storage.Schema{
		Kind:    "ticket",
		Fields:  []storage.Field{{Name: "grp", Type: storage.TypeString}, {Name: "prio", Type: storage.TypeInt}, {Name: "opened", Type: storage.TypeTime}},
		Indexes: []storage.Index{{Name: "queue", Fields: []string{"grp", "prio", "opened"}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	opened := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	tickets := []struct {
		id, grp string
		prio    int64
		after   time.Duration
	}{
		{"t1", "network", 3, 0},
		{"t2", "network", 1, time.Hour},
		{"t3", "desktop", 1, 0},
		{"t4", "network", 1, time.Minute},
	}
	err = store.Update(ctx, func(tx storage.Tx) error {
		for _, t := range tickets {
			d := storage.Document{Kind: "ticket", ID: t.id, Version: 1, Data: []byte(`{"title":"` + t.id + `"}`),
				Fields: []storage.Value{storage.String(t.grp), storage.Int(t.prio), storage.Time(opened.Add(t.after))}}
			if err := tx.Put(ctx, d, 0); err != nil { // 0: the ticket must not exist yet
				return err
			}
		}
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	// The network queue, most urgent first, oldest first within a priority.
	q := storage.Query{
		Kind:    "ticket",
		Filters: []storage.Filter{storage.Eq("grp", storage.String("network"))},
		Sort:    []storage.Sort{{Field: "prio"}, {Field: "opened"}},
		Limit:   2,
	}
	for {
		page, err := store.Query(ctx, q)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, d := range page.Docs {
			fmt.Printf("%s prio %d opened %s\n", d.ID, d.Fields[1].Int64(), d.Fields[2].Time().Format("15:04"))
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	// Output:
	// t4 prio 1 opened 09:01
	// t2 prio 1 opened 10:00
	// t1 prio 3 opened 09:00
}

// Two tenants on one store: each has its own records, numbers and log;
// a log consumer serving both reads with storage.AllTenants.
func Example_tenants() {
	store := memory.New(memory.RequireTenant())
	acme := itsm.WithTenant(context.Background(), "acme")
	globex := itsm.WithTenant(context.Background(), "globex")
	if err := store.Register(acme, storage.Schema{Kind: "ticket", Fields: []storage.Field{{Name: "number", Type: storage.TypeString}}}); err != nil {
		fmt.Println(err)
		return
	}
	open := func(ctx context.Context, id string) {
		err := store.Update(ctx, func(tx storage.Tx) error {
			n, err := tx.NextSequence(ctx, "ticket")
			if err != nil {
				return err
			}
			num := itsm.FormatNumber("INC", n)
			if err := tx.Put(ctx, storage.Document{Kind: "ticket", ID: id, Version: 1, Fields: []storage.Value{storage.String(num)}}, 0); err != nil {
				return err
			}
			return tx.Append(ctx, itsm.Event{ID: id + "-1", Kind: "ticket", RecordID: id, Number: num, RecordVersion: 1, Name: itsm.EventCreate})
		})
		if err != nil {
			fmt.Println(err)
		}
	}
	open(acme, "a1")
	open(globex, "g1")
	open(acme, "a2")

	page, _ := store.Query(globex, storage.Query{Kind: "ticket"})
	for _, d := range page.Docs {
		fmt.Println("globex sees", d.ID, d.Fields[0].Str())
	}
	_, err := store.Get(globex, "ticket", "a1")
	fmt.Println("globex reads a1:", errors.Is(err, itsm.ErrNotFound))
	_, err = store.Get(context.Background(), "ticket", "a1")
	fmt.Println("no tenant:", errors.Is(err, itsm.ErrInvalid))

	evs, _ := store.ReadEvents(storage.AllTenants(context.Background()), 0, 10)
	for _, e := range evs {
		fmt.Println(e.Seq, e.Tenant, e.Number)
	}
	// Output:
	// globex sees g1 INC0000001
	// globex reads a1: true
	// no tenant: true
	// 1 acme INC0000001
	// 2 globex INC0000001
	// 3 acme INC0000002
}
