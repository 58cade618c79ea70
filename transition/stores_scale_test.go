package transition_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/transition"
)

// importCMDB writes n CIs and 4n relationships with their creation events in
// one bulk import (storage.Import: COPY or multi-row inserts where the store
// has them).
func importCMDB(t testing.TB, st storage.Backend, n int) []string {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(n), 5))
	ciColl, relColl := transition.CICollection(), transition.RelationshipCollection()
	var docs []storage.Document
	var evs []itsm.Event
	add := func(kind, id string, rec itsm.Entity, enc func() (storage.Document, error), changes []itsm.FieldChange, state string) {
		ev := itsm.Event{ID: itsm.NewID(), Kind: kind, RecordID: id, RecordVersion: 1, Name: itsm.EventCreate, To: state,
			Actor: "migrator", At: t0, RecordedAt: t0, Changes: changes}
		itsm.Seal(&ev, "")
		rec.Meta().Head = ev.Hash
		d, err := enc()
		require.NoError(t, err)
		docs, evs = append(docs, d), append(evs, ev)
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	ids := make([]string, n)
	classes := []string{transition.ClassServer, transition.ClassApplication, transition.ClassDatabase, transition.ClassBusinessService}
	for i := range ids {
		c := &transition.CI{Record: itsm.Record{ID: itsm.NewID(), State: transition.CIInstalled, Version: 1, CreatedAt: t0, UpdatedAt: t0},
			Name: "ci", Class: classes[i%4]}
		ids[i] = c.ID
		add(transition.KindCI, c.ID, c, func() (storage.Document, error) { return ciColl.Encode(c) },
			[]itsm.FieldChange{{Field: "class", To: q(c.Class)}, {Field: "name", To: q(c.Name)}}, c.State)
	}
	types := []string{transition.RelDependsOn, transition.RelRunsOn, transition.RelConnectedTo, transition.RelMemberOf}
	for range 4 * n {
		u, v := ids[rng.IntN(n)], ids[rng.IntN(n)]
		if u == v {
			continue
		}
		r := &transition.Relationship{Record: itsm.Record{ID: itsm.NewID(), State: transition.RelActive, Version: 1, CreatedAt: t0, UpdatedAt: t0},
			Parent: u, Child: v, Type: types[rng.IntN(4)], Upstream: u, Downstream: v}
		add(transition.KindRelationship, r.ID, r, func() (storage.Document, error) { return relColl.Encode(r) },
			[]itsm.FieldChange{{Field: "downstream", To: q(v)}, {Field: "type", To: q(r.Type)}, {Field: "upstream", To: q(u)}}, r.State)
	}
	for i := 0; i < len(docs); i += 50_000 {
		j := min(i+50_000, len(docs))
		require.NoError(t, storage.Import(context.Background(), st, docs[i:j], evs[i:j]))
	}
	return ids
}

// TestScaleStoreImpact imports 100,000 CIs and 400,000 relationships into
// each store and times an impact query through the store's traversal
// (PostgreSQL's and SQLite's native Traverser, memory's generic one) against
// the graph index loaded from the same store's event log. PILLARS_SCALE=1.
func TestScaleStoreImpact(t *testing.T) {
	if os.Getenv("PILLARS_SCALE") != "1" {
		t.Skip("set PILLARS_SCALE=1 to import 100k CIs into every store")
	}
	all := stores(t)
	all["memory"] = memory.New()
	for name, st := range all {
		t.Run(name, func(t *testing.T) {
			ctx := as(admin)
			e := newEnvOn(t, st)
			t1 := time.Now()
			ids := importCMDB(t, st, 100_000)
			t.Logf("%s: imported 100000 CIs and ~400000 relationships in %v", name, time.Since(t1))
			t1 = time.Now()
			g, err := transition.LoadGraph(ctx, e.cmdb)
			require.NoError(t, err)
			t.Logf("%s: graph loaded from the event log in %v (%d relationships)", name, time.Since(t1), g.Stats().Relationships)
			for _, depth := range []int{3, 6} {
				q := transition.ImpactQuery{CIs: []string{ids[7]}, Direction: transition.Downstream, MaxDepth: depth}
				p := storage.TraverseParams{Edges: transition.RelationshipCollection().Schema(), FromField: transition.EdgeUpstream,
					ToField: transition.EdgeDownstream, TypeField: transition.EdgeType, Start: q.CIs, Direction: q.Direction, MaxDepth: depth}
				t1 = time.Now()
				hops, err := storage.Traverse(ctx, st, p)
				require.NoError(t, err)
				travTime := time.Since(t1)
				t1 = time.Now()
				want, err := e.cmdb.Impact(ctx, q)
				require.NoError(t, err)
				storeTime := time.Since(t1)
				t1 = time.Now()
				got, err := g.Impact(ctx, e.cmdb, q)
				require.NoError(t, err)
				graphTime := time.Since(t1)
				require.Equal(t, want, got)
				require.Len(t, hops, len(got.Affected))
				t.Logf("%s: impact depth %d, %d CIs: store traversal %v, store impact (classes read with In queries) %v, graph impact %v",
					name, depth, len(got.Affected), travTime, storeTime, graphTime)
			}
		})
	}
}
