package transition_test

import (
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/transition"
)

// collisionFixture holds n scheduled changes, each on two of 1,000 busy CIs
// (of 10,000)
// with a 1-4 hour window within a year, imported in bulk, plus the same
// rows in a slice for the hand-written baseline.
type collisionFixture struct {
	changes *transition.Changes
	probe   *transition.Change
	rows    []transition.ChangeCI
}

func newCollisionFixture(b *testing.B, n int) *collisionFixture {
	b.Helper()
	ctx := as(admin)
	store := memory.New()
	clock := itsm.NewFakeClock(t0)
	cmdb, err := transition.NewCMDB(ctx, store, transition.CMDBConfig{Clock: clock})
	if err != nil {
		b.Fatal(err)
	}
	ch, err := transition.NewChanges(ctx, store, transition.ChangesConfig{Clock: clock, CMDB: cmdb})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	cis := make([]string, 10_000)
	ciColl := transition.CICollection()
	var docs []storage.Document
	for i := range cis {
		c := &transition.CI{Record: itsm.Record{ID: itsm.NewID(), State: transition.CIInstalled, Version: 1, CreatedAt: t0, UpdatedAt: t0}, Name: "ci", Class: transition.ClassServer}
		cis[i] = c.ID
		d, err := ciColl.Encode(c)
		if err != nil {
			b.Fatal(err)
		}
		docs = append(docs, d)
	}
	chColl, rowColl := transition.ChangeCollection(), transition.ChangeCICollection()
	f := &collisionFixture{changes: ch}
	for i := range n {
		start := t0.Add(time.Duration(rng.IntN(365*24)) * time.Hour)
		end := start.Add(time.Duration(1+rng.IntN(4)) * time.Hour)
		c := &transition.Change{Record: itsm.Record{ID: itsm.NewID(), Number: itsm.FormatNumber("CHG", int64(i+1)), State: transition.ChangeScheduled, Version: 1, CreatedAt: t0, UpdatedAt: t0},
			ShortDescription: "bulk", Type: transition.TypeNormal, RequestedBy: "x", Approval: transition.ApprovalApproved,
			CIIDs: []string{cis[rng.IntN(1000)], cis[rng.IntN(1000)]}, PlannedStart: start, PlannedEnd: end}
		d, err := chColl.Encode(c)
		if err != nil {
			b.Fatal(err)
		}
		docs = append(docs, d)
		for _, ci := range c.CIIDs {
			r := transition.ChangeCI{Record: itsm.Record{ID: itsm.NewID(), State: transition.RelActive, Version: 1, CreatedAt: t0, UpdatedAt: t0},
				ChangeID: c.ID, CIID: ci, PlannedStart: start, PlannedEnd: end}
			f.rows = append(f.rows, r)
			d, err := rowColl.Encode(&r)
			if err != nil {
				b.Fatal(err)
			}
			docs = append(docs, d)
		}
	}
	if err := storage.Import(ctx, store, docs, nil); err != nil {
		b.Fatal(err)
	}
	start := t0.Add(100 * 24 * time.Hour)
	f.probe = &transition.Change{ShortDescription: "probe", Type: transition.TypeNormal, CIIDs: cis[:3], PlannedStart: start, PlannedEnd: start.Add(48 * time.Hour)}
	if err := ch.Create(as(agent), f.probe, storage.Command{}); err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkCollisions checks one change against 100,000 scheduled changes:
// through the change_ci index on the store, against a hand-written scan of
// the same rows in a slice.
func BenchmarkCollisions(b *testing.B) {
	f := newCollisionFixture(b, collisionSize())
	ctx := as(admin)
	b.Run("scan_baseline", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			n = 0
			for i := range f.rows {
				r := &f.rows[i]
				if r.PlannedStart.Before(f.probe.PlannedEnd) && r.PlannedEnd.After(f.probe.PlannedStart) {
					for _, ci := range f.probe.CIIDs {
						if r.CIID == ci {
							n++
						}
					}
				}
			}
		}
		b.ReportMetric(float64(n), "collisions")
	})
	for _, depth := range []int{0, 2} {
		b.Run("store_depth_"+string(rune('0'+depth)), func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				col, err := f.changes.Collisions(ctx, f.probe.ID, depth)
				if err != nil {
					b.Fatal(err)
				}
				n = len(col)
			}
			b.ReportMetric(float64(n), "collisions")
		})
	}
}

func collisionSize() int {
	if os.Getenv("PILLARS_COLLISION_N") == "10k" {
		return 10_000
	}
	return 100_000
}
