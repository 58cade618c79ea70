package storage_test

import (
	"bytes"
	"context"
	"fmt"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// SearchService finds records by their words, or by their number, as the
// actor may read them; attachments sit beside a record and follow its
// read rules.
func ExampleSearchService() {
	ctx := context.Background()
	machine, err := itsm.NewLifecycle[*Incident]("incident").Initial("new").Final("resolved").
		Event("resolve", "resolved", "new").Compile()
	if err != nil {
		fmt.Println(err)
		return
	}
	store := memory.New()
	incidents := storage.NewCollection[Incident]("incident",
		storage.StringField("assignment_group", func(i *Incident) string { return i.AssignmentGroup }))
	if err := incidents.Register(ctx, store); err != nil {
		fmt.Println(err)
		return
	}
	records, err := storage.NewRecords(store, incidents, machine, storage.RecordsConfig{Prefix: "INC"})
	if err != nil {
		fmt.Println(err)
		return
	}
	// The memory store has no text index of its own: the service falls back
	// to storage.NewMemoryTextIndex. A stream.Consumer with the service as
	// its Handler keeps it current; here the events are handed over by hand.
	search, err := storage.NewSearchService(store, storage.TextSource(records, "short_description"))
	if err != nil {
		fmt.Println(err)
		return
	}
	agent := itsm.WithActor(ctx, itsm.Actor{ID: "ann", Roles: []string{"agent"}})
	for _, desc := range []string{"VPN drops every hour", "Printer jams", "VPN client will not install"} {
		if err := records.Create(agent, &Incident{ShortDescription: desc}, storage.Command{}); err != nil {
			fmt.Println(err)
			return
		}
	}
	events, _ := store.ReadEvents(storage.AllTenants(ctx), 0, 100)
	if err := search.Handle(ctx, events); err != nil {
		fmt.Println(err)
		return
	}
	for _, q := range []string{"vpn inst", "INC0000002", `"printer" -jams*`} {
		hits, _, err := search.Search(agent, q, nil, storage.Paging{Limit: 10})
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, h := range hits {
			fmt.Printf("%q: %s %s exact=%v\n", q, h.Number, h.Title, h.Exact)
		}
	}

	blobs, err := storage.NewDocBlobStore(ctx, store) // content kept in the store itself
	if err != nil {
		fmt.Println(err)
		return
	}
	atts, err := storage.NewAttachments(ctx, store, storage.AttachmentsConfig{Blobs: blobs,
		Parents: []storage.AttachmentParent{storage.AttachTo(records)}})
	if err != nil {
		fmt.Println(err)
		return
	}
	first, _, _ := records.Query(agent, storage.Query{Limit: 1})
	att, err := atts.Add(agent, "incident", first[0].ID, "log.txt", "", bytes.NewReader([]byte("connection reset\n")))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(att.Name, att.Size, att.ContentType, att.SHA256[:12])
	_, err = atts.Add(agent, "incident", first[0].ID, "../../etc/passwd", "", bytes.NewReader([]byte("x")))
	fmt.Println(err)
	// Output:
	// "vpn inst": INC0000003 VPN client will not install exact=false
	// "INC0000002": INC0000002 Printer jams exact=true
	// "\"printer\" -jams*": INC0000002 Printer jams exact=false
	// log.txt 17 text/plain 824dd8bdbb42
	// invalid attachment: name: must not hold a path separator
}
