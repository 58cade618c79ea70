package transition_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/transition"
)

var baselineKinds = []string{transition.KindCI, transition.KindRelationship, transition.KindBaseline, transition.KindBaselinePart}

// TestBaselineInParts stores baselines in parts of 7 items on every store:
// the parts come back in order, diffs work between parted and inline
// baselines and against now, a refused baseline writes no part, and a
// tampered or missing part is ErrConflict.
func TestBaselineInParts(t *testing.T) {
	for name, st := range allStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := as(admin)
			e := newEnvOn(t, st)
			ids := make([]string, 20)
			for i := range ids {
				ids[i] = e.ci(t, "node", transition.ClassServer)
				if i > 0 {
					e.rel(t, ids[i-1], transition.RelDependsOn, ids[i])
				}
			}
			scope := transition.BaselineScope{CIs: ids}
			inline, err := e.cmdb.CreateBaseline(as(agent), "inline", "", scope, storage.Command{})
			require.NoError(t, err)
			require.Empty(t, inline.Parts)

			restore := transition.SetBaselinePartItems(7)
			defer restore()

			before := takeSnapshot(t, st, baselineKinds...)
			_, err = e.cmdb.CreateBaseline(as(agent), "", "", scope, storage.Command{})
			require.ErrorIs(t, err, itsm.ErrInvalid)
			_, err = e.cmdb.CreateBaseline(as(agent), "unknown CI", "", transition.BaselineScope{CIs: append([]string{itsm.NewID()}, ids...)}, storage.Command{})
			require.ErrorIs(t, err, itsm.ErrNotFound)
			require.Equal(t, before, takeSnapshot(t, st, baselineKinds...), "a refused baseline writes no part")

			parted, err := e.cmdb.CreateBaseline(as(agent), "parted", "", scope, storage.Command{})
			require.NoError(t, err)
			// 20 scope CIs, 20 CIs and 19 relationships in parts of 7.
			require.Len(t, parted.Parts, 9)
			assert.Equal(t, 7, parted.Parts[0].ScopeCIs)
			assert.Equal(t, 3, parted.Parts[8].Relationships) // 59 items: eight parts of 7, then 3
			assert.Equal(t, inline.CIs, parted.CIs)
			assert.Equal(t, inline.Relationships, parted.Relationships)
			assert.Equal(t, ids, parted.Scope.CIs)

			got, err := e.cmdb.Baseline(ctx, parted.ID)
			require.NoError(t, err)
			assert.Equal(t, parted, got, "read back from its parts")
			stored, err := e.cmdb.CIRecords().Backend().Get(ctx, transition.KindBaseline, parted.ID)
			require.NoError(t, err)
			assert.Less(t, len(stored.Data), 2000, "the baseline document holds no item")

			d, err := e.cmdb.DiffBaselines(ctx, inline.ID, parted.ID)
			require.NoError(t, err)
			assert.True(t, d.Empty())

			e.clock.Advance(time.Hour)
			_, err = e.cmdb.UpdateCI(as(agent), ids[3], storage.Command{}, func(c *transition.CI) error { c.SupportGroup = "dba"; return nil })
			require.NoError(t, err)
			rels, err := e.cmdb.Relationships(ctx, ids[10])
			require.NoError(t, err)
			_, err = e.cmdb.Unrelate(as(agent), rels[0].ID, storage.Command{})
			require.NoError(t, err)
			later, err := e.cmdb.CreateBaseline(as(agent), "later", "", scope, storage.Command{})
			require.NoError(t, err)
			for _, d := range []func() (*transition.BaselineDiff, error){
				func() (*transition.BaselineDiff, error) { return e.cmdb.DiffBaselineNow(ctx, parted.ID) },
				func() (*transition.BaselineDiff, error) { return e.cmdb.DiffBaselines(ctx, parted.ID, later.ID) },
				func() (*transition.BaselineDiff, error) { return e.cmdb.DiffBaselines(ctx, inline.ID, later.ID) },
			} {
				diff, err := d()
				require.NoError(t, err)
				require.Len(t, diff.CIs, 1)
				assert.Equal(t, ids[3], diff.CIs[0].ID)
				require.Len(t, diff.Relationships, 1)
				assert.Equal(t, transition.DiffRemoved, diff.Relationships[0].Change)
			}

			archived, err := e.cmdb.ArchiveBaseline(as(agent), later.ID, storage.Command{})
			require.NoError(t, err)
			assert.Equal(t, later.CIs, archived.CIs)

			// A part edited behind the CMDB's back, or deleted, is refused.
			part, err := st.Get(ctx, transition.KindBaselinePart, parted.ID+".3")
			require.NoError(t, err)
			require.NoError(t, st.Update(ctx, func(tx storage.Tx) error {
				part.Data = []byte(`{"baseline_id":"x","index":3}`)
				part.Version++
				return tx.Put(ctx, part, part.Version-1)
			}))
			_, err = e.cmdb.Baseline(ctx, parted.ID)
			require.ErrorIs(t, err, itsm.ErrConflict)
			require.NoError(t, st.Update(ctx, func(tx storage.Tx) error {
				return tx.Delete(ctx, transition.KindBaselinePart, part.ID, part.Version)
			}))
			_, err = e.cmdb.DiffBaselineNow(ctx, parted.ID)
			require.ErrorIs(t, err, itsm.ErrConflict)
		})
	}
}

// TestScaleBaseline takes a baseline of 100,000 CIs and their ~400,000
// relationships (about 60 parts) on memory and SQLite, changes three CIs and
// diffs it against now. PILLARS_SCALE=1.
func TestScaleBaseline(t *testing.T) {
	if os.Getenv("PILLARS_SCALE") != "1" {
		t.Skip("set PILLARS_SCALE=1 to take a 100,000-CI baseline on memory and SQLite")
	}
	all := stores(t)
	delete(all, "postgres")
	all["memory"] = memory.New()
	for name, st := range all {
		t.Run(name, func(t *testing.T) {
			ctx := as(admin)
			e := newEnvOn(t, st)
			n := 100_000
			if os.Getenv("PILLARS_BASELINE_N") == "20k" {
				n = 20_000
			}
			ids := importCMDB(t, st, n)
			t1 := time.Now()
			bl, err := e.cmdb.CreateBaseline(as(agent), "everything", "", transition.BaselineScope{CIs: ids}, storage.Command{})
			require.NoError(t, err)
			t.Logf("%s: baseline of %d CIs and %d relationships in %d parts taken in %v",
				name, len(bl.CIs), len(bl.Relationships), len(bl.Parts), time.Since(t1))
			require.Len(t, bl.CIs, n)
			e.clock.Advance(time.Hour)
			for _, id := range ids[:3] {
				_, err = e.cmdb.UpdateCI(as(agent), id, storage.Command{}, func(c *transition.CI) error { c.SupportGroup = "dba"; return nil })
				require.NoError(t, err)
			}
			t1 = time.Now()
			got, err := e.cmdb.Baseline(ctx, bl.ID)
			require.NoError(t, err)
			t.Logf("%s: read back in %v", name, time.Since(t1))
			assert.Equal(t, bl.CIs, got.CIs)
			t1 = time.Now()
			d, err := e.cmdb.DiffBaselineNow(ctx, bl.ID)
			require.NoError(t, err)
			t.Logf("%s: diffed against now in %v", name, time.Since(t1))
			assert.Len(t, d.CIs, 3)
			assert.Empty(t, d.Relationships)
		})
	}
}
