package transition_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/transition"
)

// TestUnrelateStopsTraversalOnEveryStore checks, on memory, SQLite and
// PostgreSQL (when configured), that a removed relationship is no longer an
// edge for the store's traversal (native or generic), for CMDB.Impact and
// for the graph index, while its history stays: its events still hold the
// ends, a baseline taken before pins it and diffs it as removed, and
// relating the same pair again works.
func TestUnrelateStopsTraversalOnEveryStore(t *testing.T) {
	for name, st := range allStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := as(admin)
			e := newEnvOn(t, st)
			svc := e.ci(t, "Payroll", transition.ClassBusinessService)
			app := e.ci(t, "payroll-app", transition.ClassApplication)
			db := e.ci(t, "payroll-db", transition.ClassDatabase)
			e.rel(t, svc, transition.RelDependsOn, app)
			appDB := e.rel(t, app, transition.RelDependsOn, db)
			g, err := transition.LoadGraph(ctx, e.cmdb)
			require.NoError(t, err)
			bl, err := e.cmdb.CreateBaseline(as(agent), "before", "", transition.BaselineScope{CIs: []string{svc}, Depth: 5, Direction: transition.Downstream}, storage.Command{})
			require.NoError(t, err)

			// reached lists what each way of walking reaches upstream of db.
			reached := func(t *testing.T) map[string][]string {
				out := map[string][]string{}
				q := transition.ImpactQuery{CIs: []string{db}, Direction: transition.Upstream}
				im, err := e.cmdb.Impact(ctx, q)
				require.NoError(t, err)
				for _, a := range im.Affected {
					out["impact"] = append(out["impact"], a.ID)
				}
				_, err = g.Refresh(ctx)
				require.NoError(t, err)
				gim, err := g.Impact(ctx, e.cmdb, q)
				require.NoError(t, err)
				for _, a := range gim.Affected {
					out["graph"] = append(out["graph"], a.ID)
				}
				hops, err := storage.Traverse(ctx, st, storage.TraverseParams{Edges: transition.RelationshipCollection().Schema(),
					FromField: transition.EdgeUpstream, ToField: transition.EdgeDownstream, TypeField: transition.EdgeType,
					Start: []string{db}, Direction: storage.Up, MaxDepth: 10})
				require.NoError(t, err)
				for _, h := range hops {
					out["traverse"] = append(out["traverse"], h.ID)
				}
				return out
			}
			cases := []struct {
				name string
				act  func(t *testing.T)
				want []string // upstream of db, in traversal order
			}{
				{"before", func(*testing.T) {}, []string{app, svc}},
				{"after unrelate", func(t *testing.T) {
					r, err := e.cmdb.Unrelate(as(agent), appDB, storage.Command{Reason: "moved to the new cluster"})
					require.NoError(t, err)
					assert.Equal(t, transition.RelRemoved, r.State)
				}, nil},
				{"related again", func(t *testing.T) { e.rel(t, app, transition.RelDependsOn, db) }, []string{app, svc}},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					tc.act(t)
					got := reached(t)
					for _, way := range []string{"impact", "graph", "traverse"} {
						assert.Equal(t, tc.want, got[way], way)
					}
				})
			}

			// History keeps the removed relationship: its events hold its
			// ends, and the baseline taken before diffs it as removed while
			// the new relationship shows as added.
			evs, err := e.cmdb.RelationshipRecords().History(ctx, appDB)
			require.NoError(t, err)
			require.Len(t, evs, 2)
			assert.Equal(t, itsm.EventCreate, evs[0].Name)
			assert.Equal(t, transition.RelRemoved, evs[1].To)
			assert.Equal(t, "moved to the new cluster", evs[1].Reason)
			require.NoError(t, e.cmdb.RelationshipRecords().Verify(ctx, appDB))
			old, err := e.cmdb.Relationship(ctx, appDB)
			require.NoError(t, err)
			assert.Equal(t, app, old.Upstream, "the document keeps its ends; only the indexed edge fields are cleared")

			d, err := e.cmdb.DiffBaselineNow(ctx, bl.ID)
			require.NoError(t, err)
			var kinds []string
			for _, r := range d.Relationships {
				kinds = append(kinds, r.Change)
				assert.Equal(t, app, r.Parent)
				assert.Equal(t, db, r.Child)
			}
			assert.ElementsMatch(t, []string{transition.DiffRemoved, transition.DiffAdded}, kinds)
		})
	}
}
