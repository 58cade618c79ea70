package transition_test

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/pillars-itsm/pillars/internal/pgtest"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/sqlite"
	"github.com/pillars-itsm/pillars/transition"
)

// BenchmarkCalendarView asks for a week of the change calendar with
// collisions at depth 2, over 10,000 CIs with 40,000 relationships and
// 10,000 changes scheduled over a year (about 190 in the week): one
// CalendarView call against the baseline a portal would otherwise run,
// Calendar then Collisions and the freeze and maintenance Windows per
// change. On memory, SQLite and, when PILLARS_POSTGRES_DSN is set,
// PostgreSQL, where each query is a round trip.
func BenchmarkCalendarView(b *testing.B) {
	ctx := as(admin)
	names := []string{"memory", "sqlite"}
	if _, ok := pgtest.DSN(); ok {
		names = append(names, "postgres")
	}
	for _, name := range names {
		b.Run(name, func(b *testing.B) {
			var st storage.Backend = memory.New()
			switch name {
			case "sqlite":
				s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "cal.db"))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				st = s
			case "postgres":
				st, _ = pgtest.Open(b, "calview")
			}
			e := newEnvOn(b, st)
			ids := importCMDB(b, st, 10_000)
			ch, err := transition.NewChanges(ctx, st, transition.ChangesConfig{Clock: e.clock, CMDB: e.cmdb})
			if err != nil {
				b.Fatal(err)
			}
			importChanges(b, st, ids, 10_000)
			from := t0.Add(100 * 24 * time.Hour)
			to := from.Add(7 * 24 * time.Hour)
			const depth = 2
			b.Run("view", func(b *testing.B) {
				b.ReportAllocs()
				n := 0
				for b.Loop() {
					v, err := ch.CalendarView(ctx, from, to, depth)
					if err != nil {
						b.Fatal(err)
					}
					n = 0
					for _, en := range v.Entries {
						n += len(en.Collisions)
					}
				}
				b.ReportMetric(float64(n), "collisions")
			})
			b.Run("per_change_baseline", func(b *testing.B) {
				b.ReportAllocs()
				n := 0
				for b.Loop() {
					changes, _, err := ch.Calendar(ctx, from, to)
					if err != nil {
						b.Fatal(err)
					}
					n = 0
					for _, c := range changes {
						col, err := ch.Collisions(ctx, c.ID, depth)
						if err != nil {
							b.Fatal(err)
						}
						n += len(col)
						for _, kind := range []string{transition.WindowFreeze, transition.WindowMaintenance} {
							if _, err := ch.Windows(ctx, kind, c.PlannedStart, c.PlannedEnd, c.ServiceID); err != nil {
								b.Fatal(err)
							}
						}
					}
				}
				b.ReportMetric(float64(n), "collisions")
			})
		})
	}
}

// importChanges writes n scheduled changes, each on two of the CIs with a
// 1-4 hour window within a year of t0, and their affected-CI rows.
func importChanges(b *testing.B, st storage.Backend, cis []string, n int) {
	b.Helper()
	rng := rand.New(rand.NewPCG(7, 8))
	chColl, rowColl := transition.ChangeCollection(), transition.ChangeCICollection()
	var docs []storage.Document
	for i := range n {
		start := t0.Add(time.Duration(rng.IntN(365*24)) * time.Hour)
		end := start.Add(time.Duration(1+rng.IntN(4)) * time.Hour)
		c := &transition.Change{Record: itsm.Record{ID: itsm.NewID(), Number: itsm.FormatNumber("CHG", int64(i+1)), State: transition.ChangeScheduled, Version: 1, CreatedAt: t0, UpdatedAt: t0},
			ShortDescription: "bulk", Type: transition.TypeNormal, RequestedBy: "x", Approval: transition.ApprovalApproved,
			CIIDs: []string{cis[rng.IntN(len(cis))], cis[rng.IntN(len(cis))]}, PlannedStart: start, PlannedEnd: end}
		d, err := chColl.Encode(c)
		if err != nil {
			b.Fatal(err)
		}
		docs = append(docs, d)
		for _, ci := range c.CIIDs {
			r := &transition.ChangeCI{Record: itsm.Record{ID: itsm.NewID(), State: transition.RelActive, Version: 1, CreatedAt: t0, UpdatedAt: t0},
				ChangeID: c.ID, CIID: ci, PlannedStart: start, PlannedEnd: end}
			d, err := rowColl.Encode(r)
			if err != nil {
				b.Fatal(err)
			}
			docs = append(docs, d)
		}
	}
	if err := storage.Import(context.Background(), st, docs, nil); err != nil {
		b.Fatal(err)
	}
}
