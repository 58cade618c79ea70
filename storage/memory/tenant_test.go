package memory_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

func TestRequireTenant(t *testing.T) {
	s := memory.New(memory.RequireTenant())
	acme := itsm.WithTenant(t.Context(), "acme")
	require.NoError(t, s.Register(acme, counterSchema))
	d := storage.Document{Kind: "counter", ID: "c", Version: 1, Fields: []storage.Value{storage.Int(0)}}
	require.NoError(t, s.Update(acme, func(tx storage.Tx) error { return tx.Put(acme, d, 0) }))

	bare := t.Context()
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Get", func(ctx context.Context) error { _, err := s.Get(ctx, "counter", "c"); return err }},
		{"Query", func(ctx context.Context) error { _, err := s.Query(ctx, storage.Query{Kind: "counter"}); return err }},
		{"Update", func(ctx context.Context) error {
			return s.Update(ctx, func(tx storage.Tx) error { _, err := tx.Get(ctx, "counter", "c"); return err })
		}},
		{"ReadEvents", func(ctx context.Context) error { _, err := s.ReadEvents(ctx, 0, 10); return err }},
		{"ScanEvents", func(ctx context.Context) error {
			return s.ScanEvents(ctx, 0, 10, func([]itsm.Event) error { return nil })
		}},
		{"History", func(ctx context.Context) error { _, err := s.History(ctx, "counter", "c"); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			require.ErrorIs(t, c.call(bare), itsm.ErrInvalid, "no tenant on a store that requires one")
			require.NoError(t, c.call(acme))
		})
	}
	// Schemas are every tenant's: a host registers them at start-up, with
	// no tenant; a malformed one is still refused.
	require.NoError(t, s.Register(bare, counterSchema))
	require.ErrorIs(t, s.Register(itsm.WithTenant(bare, "Bad"), counterSchema), itsm.ErrInvalid)
	// A log consumer reads every tenant with AllTenants, tenant or not.
	_, err := s.ReadEvents(storage.AllTenants(bare), 0, 10)
	require.NoError(t, err)
}

// TestScanEventsTenantRuns interleaves three tenants over several chunks
// of the log: each tenant's scan hands over exactly its events, in Seq
// order, in runs of consecutive events, whatever the run boundaries.
func TestScanEventsTenantRuns(t *testing.T) {
	s := memory.New()
	tenants := []string{"a", "b", "c"}
	const n = 3000
	want := map[string][]int64{}
	for i := range n {
		// Stretches of varying length per tenant, so runs cross chunks.
		tn := tenants[(i/(1+i%7))%3]
		ctx := itsm.WithTenant(t.Context(), tn)
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
			return tx.Append(ctx, itsm.Event{ID: fmt.Sprint(i), Kind: "k", RecordID: "r", RecordVersion: int64(i + 1)})
		}))
		want[tn] = append(want[tn], int64(i+1))
	}
	for _, tn := range tenants {
		ctx := itsm.WithTenant(t.Context(), tn)
		for _, limit := range []int{1, 7, 1000, n} {
			var got []int64
			var after int64
			for {
				var batch []int64
				err := s.ScanEvents(ctx, after, limit, func(run []itsm.Event) error {
					for i, e := range run {
						assert.Equal(t, tn, e.Tenant)
						if i > 0 {
							assert.Equal(t, run[i-1].Seq+1, e.Seq, "a run is consecutive")
						}
						batch = append(batch, e.Seq)
					}
					return nil
				})
				require.NoError(t, err)
				require.LessOrEqual(t, len(batch), limit)
				if len(batch) == 0 {
					break
				}
				got = append(got, batch...)
				after = batch[len(batch)-1]
			}
			require.Equal(t, want[tn], got, "tenant %s, limit %d", tn, limit)
			evs, err := s.ReadEvents(ctx, 0, n)
			require.NoError(t, err)
			require.Len(t, evs, len(want[tn]))
		}
	}
	all, err := s.ReadEvents(storage.AllTenants(t.Context()), 0, n)
	require.NoError(t, err)
	require.Len(t, all, n)
}

// A unit that wrote under a schema replaced while it ran is refused at
// commit, so no document of the old shape lands under the new schema.
func TestSchemaChangedUnderAUnit(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	require.NoError(t, s.Register(ctx, counterSchema))
	next := storage.Schema{Kind: "counter", Fields: []storage.Field{{Name: "label", Type: storage.TypeString}, {Name: "value", Type: storage.TypeInt}}}
	err := s.Update(ctx, func(tx storage.Tx) error {
		if err := tx.Put(ctx, storage.Document{Kind: "counter", ID: "c", Version: 1, Fields: []storage.Value{storage.Int(1)}}, 0); err != nil {
			return err
		}
		return s.Register(ctx, next) // another goroutine's migration, in effect
	})
	require.ErrorIs(t, err, itsm.ErrConflict)
	_, err = s.Get(ctx, "counter", "c")
	require.ErrorIs(t, err, itsm.ErrNotFound, "nothing was written")
}
