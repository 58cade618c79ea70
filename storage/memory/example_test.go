package memory_test

import (
	"context"
	"fmt"
	"time"

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
