package storage_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// Sweep runs from a host's nightly job: content whose metadata record was
// never written (the process died between Add's two writes) goes once it
// is older than the grace; attached files stay.
func ExampleAttachments_Sweep() {
	ctx := context.Background()
	machine, err := itsm.NewLifecycle[*Ticket]("ticket").Initial("open").Final("closed").
		Event("close", "closed", "open").Compile()
	if err != nil {
		fmt.Println(err)
		return
	}
	store := memory.New()
	tickets := storage.NewCollection[Ticket]("ticket")
	if err := tickets.Register(ctx, store); err != nil {
		fmt.Println(err)
		return
	}
	records, err := storage.NewRecords(store, tickets, machine, storage.RecordsConfig{Prefix: "TKT"})
	if err != nil {
		fmt.Println(err)
		return
	}
	dir, err := os.MkdirTemp("", "blobs")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	blobs, err := storage.NewDirBlobStore(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	clock := itsm.NewFakeClock(time.Now().UTC())
	atts, err := storage.NewAttachments(ctx, store, storage.AttachmentsConfig{Blobs: blobs,
		Parents: []storage.AttachmentParent{storage.AttachTo(records)}, Clock: clock})
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
	if _, err := atts.Add(agent, "ticket", t.ID, "log.txt", "", bytes.NewReader([]byte("tunnel reset at 09:14\n"))); err != nil {
		fmt.Println(err)
		return
	}
	// Content a crashed Add left behind: no record names it.
	if err := blobs.PutBlob(ctx, itsm.NewID(), []byte("half an upload")); err != nil {
		fmt.Println(err)
		return
	}

	clock.Advance(24 * time.Hour) // the next night
	admin := itsm.WithActor(ctx, itsm.Actor{ID: "root", Roles: []string{"admin"}})
	rep, err := atts.Sweep(admin, storage.DefaultSweepGrace)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("listed %d, kept %d, deleted %d\n", rep.Listed, rep.Kept, len(rep.Deleted))
	// Output: listed 2, kept 1, deleted 1
}
