package memory_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

var counterSchema = storage.Schema{Kind: "counter", Fields: []storage.Field{{Name: "value", Type: storage.TypeInt}}}

// BenchmarkUnitOfWork measures one typical command on the memory store: a
// unit of work that reads a record, writes it back at the next version
// (version-checked) and appends one event. The baseline, measured in the
// same run, is the least any in-process store can do: a map write under a
// sync.Mutex. Compare the two with the ratio of their ns/op.
func BenchmarkUnitOfWork(b *testing.B) {
	ctx := context.Background()
	b.Run("memory", func(b *testing.B) {
		s := memory.New()
		if err := s.Register(ctx, counterSchema); err != nil {
			b.Fatal(err)
		}
		d := storage.Document{Kind: "counter", ID: "c", Version: 1, Data: []byte(`{"value":0}`), Fields: []storage.Value{storage.Int(0)}}
		if err := s.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, d, 0) }); err != nil {
			b.Fatal(err)
		}
		ev := itsm.Event{ID: itsm.NewID(), Kind: "counter", RecordID: "c", Name: "increment", Actor: "bench", At: time.Unix(0, 0).UTC()}
		fn := func(tx storage.Tx) error {
			cur, err := tx.Get(ctx, "counter", "c")
			if err != nil {
				return err
			}
			next := cur
			next.Version++
			next.Fields = []storage.Value{storage.Int(cur.Fields[0].Int64() + 1)}
			if err := tx.Put(ctx, next, cur.Version); err != nil {
				return err
			}
			ev.RecordVersion = next.Version
			return tx.Append(ctx, ev)
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := s.Update(ctx, fn); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline_mutex_map", func(b *testing.B) {
		var mu sync.Mutex
		m := map[string]int64{}
		b.ReportAllocs()
		for b.Loop() {
			mu.Lock()
			m["c"]++
			mu.Unlock()
		}
	})
}

// BenchmarkQueryPage measures one page of 50 over 10,000 tickets: a queue
// (equality on the group, ordered by priority then opening time, a quarter
// of the kind matching), the next page of it through a cursor, and a range
// scan with no equality filter (every document of the kind is visited).
func BenchmarkQueryPage(b *testing.B) {
	ctx := context.Background()
	s := memory.New()
	schema := storage.Schema{
		Kind:    "ticket",
		Fields:  []storage.Field{{Name: "grp", Type: storage.TypeString}, {Name: "prio", Type: storage.TypeInt}, {Name: "opened", Type: storage.TypeTime}},
		Indexes: []storage.Index{{Name: "queue", Fields: []string{"grp", "prio", "opened"}}},
	}
	if err := s.Register(ctx, schema); err != nil {
		b.Fatal(err)
	}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 10_000
	err := s.Update(ctx, func(tx storage.Tx) error {
		for i := range n {
			d := storage.Document{Kind: "ticket", ID: fmt.Sprintf("t%05d", i), Version: 1, Data: []byte(`{}`),
				Fields: []storage.Value{storage.String(fmt.Sprintf("g%d", i%4)), storage.Int(int64(i % 5)), storage.Time(base.Add(time.Duration(i*7919%n) * time.Minute))}}
			if err := tx.Put(ctx, d, 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	queue := storage.Query{Kind: "ticket", Filters: []storage.Filter{storage.Eq("grp", storage.String("g2"))},
		Sort: []storage.Sort{{Field: "prio"}, {Field: "opened"}}, Limit: 50}
	first, err := s.Query(ctx, queue)
	if err != nil || first.Next == "" {
		b.Fatal(err, first.Next)
	}
	second := queue
	second.Cursor = first.Next
	scan := storage.Query{Kind: "ticket", Filters: []storage.Filter{storage.Gte("opened", storage.Time(base.Add(n/2*time.Minute)))},
		Sort: []storage.Sort{{Field: "opened", Desc: true}}, Limit: 50}
	for name, q := range map[string]storage.Query{"queue": queue, "queue_next_page": second, "range_scan": scan} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				page, err := s.Query(ctx, q)
				if err != nil || len(page.Docs) != 50 {
					b.Fatal(err, len(page.Docs))
				}
			}
		})
	}
}

// BenchmarkReadEvents reads a log of 200,000 events (each with two field
// changes) in batches of 1,000, as a consumer catching up does, and scans
// it with ScanEvents, against a hand-written loop copying the same events
// out of a slice in batches.
func BenchmarkReadEvents(b *testing.B) {
	ctx := context.Background()
	const n = 200_000
	evs := make([]itsm.Event, n)
	for i := range evs {
		evs[i] = itsm.Event{ID: fmt.Sprintf("e%d", i), Kind: "incident", RecordID: fmt.Sprintf("r%d", i/7), RecordVersion: int64(i%7 + 1),
			Name: "update", From: "new", To: "in_progress", Actor: "ann", At: time.Unix(int64(i), 0).UTC(), RecordedAt: time.Unix(int64(i), 0).UTC(),
			Changes: []itsm.FieldChange{{Field: "state", From: `"new"`, To: `"in_progress"`}, {Field: "assigned_to", From: `""`, To: `"ann"`}}}
	}
	s := memory.New()
	for start := 0; start < n; start += 10_000 {
		if err := s.Update(ctx, func(tx storage.Tx) error {
			for _, e := range evs[start : start+10_000] {
				if err := tx.Append(ctx, e); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	perEvent := func(b *testing.B) { b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event") }
	b.Run("ReadEvents", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			after, got := int64(0), 0
			for {
				batch, err := s.ReadEvents(ctx, after, 1000)
				if err != nil {
					b.Fatal(err)
				}
				if len(batch) == 0 {
					break
				}
				got += len(batch)
				after = batch[len(batch)-1].Seq
			}
			if got != n {
				b.Fatalf("read %d events, want %d", got, n)
			}
		}
		perEvent(b)
	})
	b.Run("ScanEvents", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			got := 0
			if err := s.ScanEvents(ctx, 0, n, func(evs []itsm.Event) error {
				for i := range evs {
					got += len(evs[i].Changes)
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			if got != 2*n {
				b.Fatalf("saw %d changes, want %d", got, 2*n)
			}
		}
		perEvent(b)
	})
	b.Run("baseline_copy_loop", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			got := 0
			for start := 0; start < n; start += 1000 {
				batch := make([]itsm.Event, 1000)
				for i := range batch {
					batch[i] = evs[start+i]
					batch[i].Changes = append([]itsm.FieldChange(nil), evs[start+i].Changes...)
				}
				got += len(batch)
			}
			if got != n {
				b.Fatal("short")
			}
		}
		perEvent(b)
	})
}

// BenchmarkTenantUnitOfWork measures the unit of BenchmarkUnitOfWork with
// and without a tenant in the context, in the same run: the cost of
// tenancy is the ratio tenant/default of their ns/op (the goal is at most
// 1.05). The tenant's store also holds another tenant's copy of the
// record, so the lookups go through a store with more than one tenant.
//
//	go test -run x -bench TenantUnitOfWork -benchmem -count 5 ./storage/memory
func BenchmarkTenantUnitOfWork(b *testing.B) {
	for _, c := range []struct{ name, tenant string }{{"default", ""}, {"tenant", "acme"}, {"default_again", ""}} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			if c.tenant != "" {
				ctx = itsm.WithTenant(ctx, c.tenant)
			}
			s := memory.New()
			if err := s.Register(ctx, counterSchema); err != nil {
				b.Fatal(err)
			}
			d := storage.Document{Kind: "counter", ID: "c", Version: 1, Data: []byte(`{"value":0}`), Fields: []storage.Value{storage.Int(0)}}
			for _, cx := range []context.Context{ctx, itsm.WithTenant(context.Background(), "other")} {
				if err := s.Update(cx, func(tx storage.Tx) error { return tx.Put(cx, d, 0) }); err != nil {
					b.Fatal(err)
				}
			}
			ev := itsm.Event{ID: itsm.NewID(), Kind: "counter", RecordID: "c", Name: "increment", Actor: "bench", At: time.Unix(0, 0).UTC()}
			fn := func(tx storage.Tx) error {
				cur, err := tx.Get(ctx, "counter", "c")
				if err != nil {
					return err
				}
				next := cur
				next.Version++
				next.Fields = []storage.Value{storage.Int(cur.Fields[0].Int64() + 1)}
				if err := tx.Put(ctx, next, cur.Version); err != nil {
					return err
				}
				ev.RecordVersion = next.Version
				return tx.Append(ctx, ev)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Update(ctx, fn); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPageEveryDocument pages through every document of a kind of
// 100,000 with a query that sorts by nothing and filters on nothing (the
// sweep that starts an SLA definition's missing clocks), MaxLimit at a
// time: docs/s is documents read per second of the whole sweep.
func BenchmarkPageEveryDocument(b *testing.B) {
	ctx := context.Background()
	s := memory.New()
	if err := s.Register(ctx, counterSchema); err != nil {
		b.Fatal(err)
	}
	const n = 100_000
	if err := s.Update(ctx, func(tx storage.Tx) error {
		for i := range n {
			d := storage.Document{Kind: "counter", ID: fmt.Sprintf("c%06d", i), Version: 1, Data: []byte(`{"value":0}`), Fields: []storage.Value{storage.Int(0)}}
			if err := tx.Put(ctx, d, 0); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		q := storage.Query{Kind: "counter", Limit: storage.MaxLimit}
		got := 0
		for {
			page, err := s.Query(ctx, q)
			if err != nil {
				b.Fatal(err)
			}
			got += len(page.Docs)
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
		if got != n {
			b.Fatalf("%d documents, want %d", got, n)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}
