package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/sqlite"
)

// Open a database file, declare a kind, write a record with its event in one
// unit of work and read them back.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "pillars-example")
	defer os.RemoveAll(dir)

	st, err := sqlite.Open(ctx, filepath.Join(dir, "pillars.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()

	err = st.Register(ctx, storage.Schema{
		Kind: "incident",
		Fields: []storage.Field{
			{Name: "state", Type: storage.TypeString},
			{Name: "priority", Type: storage.TypeInt},
		},
		Indexes: []storage.Index{{Name: "queue", Fields: []string{"state", "priority"}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	at := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	err = st.Update(ctx, func(tx storage.Tx) error {
		n, err := tx.NextSequence(ctx, "incident")
		if err != nil {
			return err
		}
		number := itsm.FormatNumber("INC", n)
		if err := tx.Put(ctx, storage.Document{
			Kind: "incident", ID: "inc-1", Version: 1, Data: []byte(`{"title":"Mail is down"}`),
			Fields: []storage.Value{storage.String("new"), storage.Int(1)},
		}, 0); err != nil {
			return err
		}
		e := itsm.Event{ID: "ev-1", Kind: "incident", RecordID: "inc-1", Number: number, RecordVersion: 1,
			Name: itsm.EventCreate, To: "new", Actor: "alice", At: at, RecordedAt: at}
		itsm.Seal(&e, "")
		return tx.Append(ctx, e)
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	page, err := st.Query(ctx, storage.Query{
		Kind:    "incident",
		Filters: []storage.Filter{storage.Eq("state", storage.String("new"))},
		Sort:    []storage.Sort{{Field: "priority"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range page.Docs {
		fmt.Printf("%s v%d %s\n", d.ID, d.Version, d.Data)
	}
	history, _ := st.History(ctx, "incident", "inc-1")
	fmt.Println(history[0].Seq, history[0].Number, history[0].Name, itsm.Verify(history, "") == nil)
	// Output:
	// inc-1 v1 {"title":"Mail is down"}
	// 1 INC0000001 create true
}
