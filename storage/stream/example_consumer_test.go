package stream_test

import (
	"context"
	"fmt"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/stream"
)

// A consumer named "audit-mirror" hands the log to its handler in Seq
// order; its checkpoint is in the store, so a second run goes on where the
// first stopped. Hosts call Start and Stop to run it in the background.
func ExampleConsumer() {
	ctx := context.Background()
	store := memory.New()
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	log := func(names ...string) {
		var evs []itsm.Event
		for _, n := range names {
			evs = append(evs, itsm.Event{ID: itsm.NewID(), Kind: "incident", RecordID: itsm.NewID(), Number: n,
				RecordVersion: 1, Name: itsm.EventCreate, To: "new", Actor: "ann", At: at, RecordedAt: at})
		}
		_ = store.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, evs...) })
	}
	mirror := stream.HandlerFunc(func(_ context.Context, evs []itsm.Event) error {
		for _, e := range evs {
			fmt.Println(e.Seq, e.Number, e.Name)
		}
		return nil
	})

	log("INC0000001", "INC0000002")
	c, err := stream.NewConsumer(ctx, store, stream.ConsumerConfig{Name: "audit-mirror", Handler: mirror, Instance: "host-1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	n, _ := c.RunOnce(ctx)
	fmt.Println("handled", n)

	log("INC0000003")
	lag, _ := c.Lag(ctx)
	fmt.Println("lag", lag)
	n, _ = c.RunOnce(ctx)
	fmt.Println("handled", n)
	cp, _ := c.Checkpoint(ctx)
	fmt.Println("checkpoint", cp)
	// Output:
	// 1 INC0000001 create
	// 2 INC0000002 create
	// handled 2
	// lag 1
	// 3 INC0000003 create
	// handled 1
	// checkpoint 3
}
