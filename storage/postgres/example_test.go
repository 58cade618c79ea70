package postgres_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/postgres"
)

// Opening a store, declaring a kind, writing a record with its number and
// event in one unit of work, and reading the queue and the event log back.
// It needs a database, so it is compiled here and run by TestExample.
func Example() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, os.Getenv("PILLARS_POSTGRES_DSN"), postgres.WithSchema("pillars_example"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	err = store.Register(ctx, storage.Schema{
		Kind:    "incident",
		Fields:  []storage.Field{{Name: "grp", Type: storage.TypeString}, {Name: "prio", Type: storage.TypeInt}},
		Indexes: []storage.Index{{Name: "queue", Fields: []string{"grp", "prio"}}},
	})
	if err != nil {
		log.Fatal(err)
	}

	id := itsm.NewID()
	err = store.Update(ctx, func(tx storage.Tx) error {
		n, err := tx.NextSequence(ctx, "incident")
		if err != nil {
			return err
		}
		number := itsm.FormatNumber("INC", n)
		doc := storage.Document{Kind: "incident", ID: id, Version: 1, Data: []byte(`{"number":"` + number + `"}`),
			Fields: []storage.Value{storage.String("service-desk"), storage.Int(2)}}
		if err := tx.Put(ctx, doc, 0); err != nil {
			return err
		}
		ev := itsm.Event{ID: itsm.NewID(), Kind: "incident", RecordID: id, Number: number, RecordVersion: 1,
			Name: itsm.EventCreate, To: "new", Actor: "alice", At: time.Now(), RecordedAt: time.Now()}
		itsm.Seal(&ev, "")
		return tx.Append(ctx, ev)
	})
	if err != nil {
		log.Fatal(err)
	}

	page, err := store.Query(ctx, storage.Query{Kind: "incident",
		Filters: []storage.Filter{storage.Eq("grp", storage.String("service-desk"))},
		Sort:    []storage.Sort{{Field: "prio"}}})
	if err != nil {
		log.Fatal(err)
	}
	events, err := store.ReadEvents(ctx, 0, 100)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(page.Docs) > 0, len(events) > 0)
}

// SchemaVersion is the version Migrate brings a schema to.
func ExampleSchemaVersion() {
	fmt.Println(postgres.SchemaVersion())
	// Output: 2
}

// TestExample runs Example against the test database, in a schema it drops
// afterwards.
func TestExample(t *testing.T) {
	dsn := os.Getenv("PILLARS_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("PILLARS_POSTGRES_DSN is not set; for example PILLARS_POSTGRES_DSN=postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	drop := func() {
		p, err := pgxpool.New(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if _, err := p.Exec(context.Background(), "DROP SCHEMA IF EXISTS pillars_example CASCADE"); err != nil {
			t.Fatal(err)
		}
	}
	drop()
	t.Cleanup(drop)
	Example()
}
