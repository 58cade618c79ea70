package storage_test

import (
	"context"
	"testing"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// BenchmarkRecordsFire measures one lifecycle command through Records
// (authorise, decode, decide, effects, diff, seal, put, append) on the
// memory store; BenchmarkRecordsBaselineRawUpdate does the same store work
// (get, version-checked put of the same bytes, one event) with no typed
// layer, so the ratio is the cost of Records itself.
//
//	go test -run x -bench Records -benchmem ./storage
func BenchmarkRecordsFire(b *testing.B) {
	f := newFixture(&testing.T{})
	ctx := as(agent)
	tk := &ticket{Title: "bench"}
	if err := f.records.Create(ctx, tk, storage.Command{}); err != nil {
		b.Fatal(err)
	}
	if _, err := f.records.Fire(ctx, tk.ID, "start", storage.Command{}, nil); err != nil {
		b.Fatal(err)
	}
	setCode := func(x *ticket) error { x.ResolutionCode = "fixed"; return nil }
	events := [2]string{"resolve", "reopen"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		var mutate func(*ticket) error
		if i&1 == 0 {
			mutate = setCode
		}
		if _, err := f.records.Fire(ctx, tk.ID, events[i&1], storage.Command{}, mutate); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRecordsBaselineRawUpdate(b *testing.B) {
	f := newFixture(&testing.T{})
	ctx := as(agent)
	tk := &ticket{Title: "bench"}
	if err := f.records.Create(ctx, tk, storage.Command{}); err != nil {
		b.Fatal(err)
	}
	bg := context.Background()
	ev := itsm.Event{ID: itsm.NewID(), Kind: "ticket", RecordID: tk.ID, Name: "touch"}
	b.ReportAllocs()
	for b.Loop() {
		err := f.store.Update(bg, func(tx storage.Tx) error {
			d, err := tx.Get(bg, "ticket", tk.ID)
			if err != nil {
				return err
			}
			expected := d.Version
			d.Version++
			if err := tx.Put(bg, d, expected); err != nil {
				return err
			}
			return tx.Append(bg, ev)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecordsFireTenant is BenchmarkRecordsFire with and without a
// tenant in the context, in the same run: the ratio tenant/default of
// their ns/op is the cost of tenancy through Records (goal: at most 1.05).
//
//	go test -run x -bench RecordsFireTenant -benchmem -count 5 ./storage
func BenchmarkRecordsFireTenant(b *testing.B) {
	for _, c := range []struct{ name, tenant string }{{"default", ""}, {"tenant", "acme"}, {"default_again", ""}} {
		b.Run(c.name, func(b *testing.B) {
			f := newFixture(&testing.T{})
			ctx := as(agent)
			if c.tenant != "" {
				ctx = itsm.WithTenant(ctx, c.tenant)
			}
			tk := &ticket{Title: "bench"}
			if err := f.records.Create(ctx, tk, storage.Command{}); err != nil {
				b.Fatal(err)
			}
			if _, err := f.records.Fire(ctx, tk.ID, "start", storage.Command{}, nil); err != nil {
				b.Fatal(err)
			}
			setCode := func(x *ticket) error { x.ResolutionCode = "fixed"; return nil }
			events := [2]string{"resolve", "reopen"}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				var mutate func(*ticket) error
				if i&1 == 0 {
					mutate = setCode
				}
				if _, err := f.records.Fire(ctx, tk.ID, events[i&1], storage.Command{}, mutate); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
