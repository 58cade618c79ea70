package main

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// storyEvents is how many domain events one run of the story logs; the
// baseline writes as many.
func storyEvents(b *testing.B) int {
	b.Helper()
	store := memory.New()
	defer store.Close()
	if err := runOn(context.Background(), store, io.Discard, options{ChartPath: filepath.Join(b.TempDir(), "c.svg")}); err != nil {
		b.Fatal(err)
	}
	evs, err := store.ReadEvents(context.Background(), 0, 100_000)
	if err != nil {
		b.Fatal(err)
	}
	return len(evs)
}

// BenchmarkRun is the whole five-pillar story: setting up every pillar on a
// fresh memory store, about 120 commands, the SLA and KPI engines, the chart
// and the audit.
func BenchmarkRun(b *testing.B) {
	path := filepath.Join(b.TempDir(), "chart.svg")
	b.ReportAllocs()
	for b.Loop() {
		if err := run(context.Background(), io.Discard, options{ChartPath: path}); err != nil {
			b.Fatal(err)
		}
	}
}

// note is the baseline's record: a bare kind with one field.
type note struct {
	itsm.Record
	Text string `json:"text"`
}

// BenchmarkBaselineBareRecords is the same-run baseline: a fresh memory
// store and as many events as the story logs, written through one bare
// storage.Records kind (30 records, each created then changed), with no
// pillar logic, engines, chart or audit.
func BenchmarkBaselineBareRecords(b *testing.B) {
	events := storyEvents(b)
	b.ReportAllocs()
	for b.Loop() {
		ctx := context.Background()
		store := memory.New()
		m, err := itsm.NewLifecycle[*note]("note").Initial("open").Final("done").Event("finish", "done", "open").Compile()
		if err != nil {
			b.Fatal(err)
		}
		coll := storage.NewCollection[note]("note")
		if err := coll.Register(ctx, store); err != nil {
			b.Fatal(err)
		}
		recs, err := storage.NewRecords(store, coll, m, storage.RecordsConfig{Prefix: "N",
			Clock: itsm.NewFakeClock(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC))})
		if err != nil {
			b.Fatal(err)
		}
		agent := itsm.WithActor(ctx, itsm.Actor{ID: "ann", Roles: []string{"agent"}})
		var id string
		for i := 0; i < events; i++ {
			if i%4 == 0 {
				n := &note{Text: "x"}
				if err := recs.Create(agent, n, storage.Command{}); err != nil {
					b.Fatal(err)
				}
				id = n.ID
				continue
			}
			if _, err := recs.Change(agent, id, storage.Command{}, func(n *note) error {
				n.Text += "x"
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
		store.Close()
	}
}
