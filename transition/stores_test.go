package transition_test

import (
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/internal/pgtest"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/sqlite"
	"github.com/pillars-itsm/pillars/transition"
)

// stores returns the persistent stores to run the CMDB on: SQLite always
// (its native Traverser), PostgreSQL when PILLARS_POSTGRES_DSN is set, each
// in a fresh file or schema.
func stores(t *testing.T) map[string]storage.Backend {
	t.Helper()
	ctx := as(admin)
	out := map[string]storage.Backend{}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cmdb.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	out["sqlite"] = st
	if pg, ok := pgtest.Open(t, "transition"); ok {
		out["postgres"] = pg
	} else {
		t.Log("PILLARS_POSTGRES_DSN is not set: the PostgreSQL store is skipped")
	}
	return out
}

// TestImpactOnEveryStore builds a random CMDB on each persistent store and
// checks that the store's traversal (native or generic), the graph index
// projected from that store's event log and the reference traversal agree.
func TestImpactOnEveryStore(t *testing.T) {
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, 12))
			e := newEnvOn(t, st)
			ids, edges := randomCMDB(t, e, rng, 20, 35)
			g, err := transition.LoadGraph(as(admin), e.cmdb)
			require.NoError(t, err)
			checkAgreement(t, e, g, ids, edges, rng, 40)

			before := takeSnapshot(t, st, cmdbKinds...)
			_, err = e.cmdb.Relate(as(agent), ids[0], "likes", ids[1], storage.Command{})
			require.Error(t, err)
			require.Equal(t, before, takeSnapshot(t, st, cmdbKinds...))
		})
	}
}

// TestChangeFlowOnEveryStore runs a change through risk, approval,
// scheduling and collision detection, and a baseline diff and a
// point-in-time read, on each persistent store.
func TestChangeFlowOnEveryStore(t *testing.T) {
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := as(admin)
			e := newEnvOn(t, st)
			svc := e.ci(t, "Payroll", transition.ClassBusinessService)
			db := e.ci(t, "payroll-db", transition.ClassDatabase)
			e.rel(t, svc, transition.RelDependsOn, db)
			ch, err := transition.NewChanges(ctx, st, transition.ChangesConfig{Clock: e.clock, CMDB: e.cmdb})
			require.NoError(t, err)
			bl, err := e.cmdb.CreateBaseline(as(agent), "payroll", "", transition.BaselineScope{CIs: []string{svc}, Depth: 3, Direction: transition.Downstream}, storage.Command{})
			require.NoError(t, err)

			start := t0.Add(48 * time.Hour)
			var nums []string
			var ids []string
			for range 2 {
				c := &transition.Change{ShortDescription: "db patch", Type: transition.TypeNormal, CIIDs: []string{db}, PlannedStart: start, PlannedEnd: start.Add(time.Hour)}
				require.NoError(t, ch.Create(as(rita), c, storage.Command{}))
				_, err = ch.Fire(as(rita), c.ID, transition.ChangeEventAssess, storage.Command{}, nil)
				require.NoError(t, err)
				_, ra, err := ch.AssessRisk(as(rita), c.ID, lowAnswers, storage.Command{})
				require.NoError(t, err)
				assert.Equal(t, []string{svc}, ra.Services)
				_, err = ch.Fire(as(rita), c.ID, transition.ChangeEventAuthorize, storage.Command{}, nil)
				require.NoError(t, err)
				got, err := ch.Approve(as(alice), c.ID, "change_management", "ok", storage.Command{})
				require.NoError(t, err)
				assert.Equal(t, transition.ChangeScheduled, got.State)
				nums, ids = append(nums, c.Number), append(ids, c.ID)
			}
			cal, _, err := ch.Calendar(ctx, t0, t0.Add(72*time.Hour))
			require.NoError(t, err)
			require.Len(t, cal, 2)
			col, err := ch.Collisions(ctx, ids[0], 1)
			require.NoError(t, err)
			require.Len(t, col, 1)
			assert.Equal(t, nums[1], col[0].Number)

			e.clock.Advance(time.Hour)
			_, err = e.cmdb.UpdateCI(as(agent), db, storage.Command{}, func(c *transition.CI) error { c.SupportGroup = "dba"; return nil })
			require.NoError(t, err)
			d, err := e.cmdb.DiffBaselineNow(ctx, bl.ID)
			require.NoError(t, err)
			require.Len(t, d.CIs, 1)
			assert.Equal(t, db, d.CIs[0].ID)
			old, err := e.cmdb.CIAsOf(ctx, db, t0)
			require.NoError(t, err)
			assert.Empty(t, old.SupportGroup)
		})
	}
}
