// Command redisdesk runs a small service desk on the Redis adapter: it
// raises incidents through storage.Records, works one through its
// lifecycle, reads the network queue off the composite index, and tails the
// event log as a host's outbox consumer would.
//
//	go run ./examples/customstore/cmd/redisdesk [-addr 127.0.0.1:6379] [-keep]
//
// It writes under a fresh prefix and deletes it on exit unless -keep is set.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pillars-itsm/pillars/examples/customstore"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// Incident is a minimal incident for the demo.
type Incident struct {
	itsm.Record
	ShortDescription string `json:"short_description"`
	Priority         int64  `json:"priority"`
	AssignmentGroup  string `json:"assignment_group"`
	ResolutionCode   string `json:"resolution_code,omitempty"`
}

func main() {
	addr := flag.String("addr", envOr("PILLARS_REDIS_ADDR", "127.0.0.1:6379"), "Redis address")
	keep := flag.Bool("keep", false, "keep the demo's keys")
	flag.Parse()
	rdb := redis.NewClient(&redis.Options{Addr: *addr})
	defer rdb.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "redisdesk-" + hex.EncodeToString(b[:])
	ctx := context.Background()
	err := run(ctx, os.Stdout, rdb, prefix)
	if !*keep {
		if derr := drop(ctx, rdb, prefix); err == nil {
			err = derr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "redisdesk:", err)
		os.Exit(1)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, out io.Writer, rdb redis.UniversalClient, prefix string) error {
	store, err := customstore.New(rdb, prefix)
	if err != nil {
		return err
	}
	defer store.Close()
	machine, err := itsm.NewLifecycle[*Incident]("incident").
		Initial("new").States("in_progress").Final("resolved").
		Event("start", "in_progress", "new").
		Event("resolve", "resolved", "new", "in_progress").
		Compile()
	if err != nil {
		return err
	}
	incidents := storage.NewCollection[Incident]("incident",
		storage.IntField("priority", func(i *Incident) int64 { return i.Priority }),
		storage.StringField("assignment_group", func(i *Incident) string { return i.AssignmentGroup }),
	).WithIndex("queue", "assignment_group", "state", "priority")
	if err := incidents.Register(ctx, store); err != nil {
		return err
	}
	clock := itsm.NewFakeClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	records, err := storage.NewRecords(store, incidents, machine, storage.RecordsConfig{Prefix: "INC", Clock: clock})
	if err != nil {
		return err
	}
	agent := itsm.WithActor(ctx, itsm.Actor{ID: "ann", Roles: []string{"agent"}, Groups: []string{"network"}})
	caller := itsm.WithActor(ctx, itsm.Actor{ID: "carl", Roles: []string{"caller"}})

	var first *Incident
	for _, inc := range []*Incident{
		{ShortDescription: "VPN drops every ten minutes", Priority: 2, AssignmentGroup: "network"},
		{ShortDescription: "Core switch down in building B", Priority: 1, AssignmentGroup: "network"},
		{ShortDescription: "Laptop will not boot", Priority: 3, AssignmentGroup: "desktop"},
	} {
		clock.Advance(time.Minute)
		if err := records.Create(caller, inc, storage.Command{}); err != nil {
			return err
		}
		if first == nil {
			first = inc
		}
		fmt.Fprintf(out, "raised %s P%d %s: %s\n", inc.Number, inc.Priority, inc.AssignmentGroup, inc.ShortDescription)
	}
	if _, err := records.Fire(agent, first.ID, "start", storage.Command{}, nil); err != nil {
		return err
	}
	if _, err := records.Fire(caller, first.ID, "resolve", storage.Command{}, nil); err != nil {
		fmt.Fprintf(out, "carl may not resolve %s: forbidden=%t\n", first.Number, errors.Is(err, itsm.ErrForbidden))
	}

	// Reads are authorised too: the queue is what Ann, an agent, reads.
	queue, _, err := records.Query(agent, storage.Query{Kind: "incident",
		Filters: []storage.Filter{storage.Eq("assignment_group", storage.String("network")), storage.Eq("state", storage.String("new"))},
		Sort:    []storage.Sort{{Field: "priority"}}})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "network queue, state new, by priority:")
	for _, inc := range queue {
		fmt.Fprintf(out, "  %s P%d %s\n", inc.Number, inc.Priority, inc.ShortDescription)
	}

	fmt.Fprintln(out, "event log:")
	for after := int64(0); ; {
		batch, err := store.ReadEvents(ctx, after, 2)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			break
		}
		for _, e := range batch {
			fmt.Fprintf(out, "  #%d %s %s %s -> %s by %s\n", e.Seq, e.Number, e.Name, e.From, e.To, e.Actor)
			after = e.Seq
		}
	}
	if err := records.Verify(agent, first.ID); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: hash chain verified\n", first.Number)
	return nil
}

// drop deletes every key of the demo's prefix.
func drop(ctx context.Context, rdb redis.UniversalClient, prefix string) error {
	iter := rdb.Scan(ctx, 0, "{"+prefix+"}:*", 1000).Iterator()
	for iter.Next(ctx) {
		if err := rdb.Unlink(ctx, iter.Val()).Err(); err != nil {
			return err
		}
	}
	return iter.Err()
}
