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
	"github.com/pillars-itsm/pillars/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend { return memory.New() })
}

// ScanEvents reads a chunk of the log without the lock while writers append
// to the same chunk: run with -race. Every scan must see a gap-free prefix
// of the log in Seq order, and the last scan all of it.
func TestScanEventsWhileAppending(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	const units, per = 300, 7
	done := make(chan error, 1)
	go func() {
		for u := range units {
			err := s.Update(ctx, func(tx storage.Tx) error {
				for v := range per {
					if err := tx.Append(ctx, itsm.Event{ID: fmt.Sprintf("e%d-%d", u, v), Kind: "k", RecordID: fmt.Sprint(u), RecordVersion: int64(v + 1),
						Changes: []itsm.FieldChange{{Field: "n", From: "0", To: fmt.Sprint(v)}}}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	scan := func() int {
		var seq int64
		require.NoError(t, s.ScanEvents(ctx, 0, 1<<30, func(evs []itsm.Event) error {
			require.NotEmpty(t, evs)
			for _, e := range evs {
				require.Equal(t, seq+1, e.Seq, "gap-free and in order")
				require.Len(t, e.Changes, 1)
				seq = e.Seq
			}
			return nil
		}))
		return int(seq)
	}
	for finished := false; !finished; {
		select {
		case err := <-done:
			require.NoError(t, err)
			finished = true
		default:
			scan()
		}
	}
	require.Equal(t, units*per, scan())
}

// A run ScanEvents hands out is a part of a chunk of the log, where the
// next committed events go: its capacity ends with it, so that a consumer
// appending to it (against the contract) writes a copy, never into the
// chunk under a concurrent writer.
func TestScanEventsRunsAreCapped(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		for _, id := range []string{"a", "b", "c"} {
			if err := tx.Append(ctx, itsm.Event{ID: id, Kind: "k", RecordID: id, RecordVersion: 1}); err != nil {
				return err
			}
		}
		return nil
	}))
	for _, limit := range []int{1, 2, 10} {
		runs := 0
		require.NoError(t, s.ScanEvents(ctx, 0, limit, func(evs []itsm.Event) error {
			runs++
			require.Equal(t, len(evs), cap(evs), "limit %d", limit)
			return nil
		}))
		require.Equal(t, 1, runs, "limit %d", limit)
	}
}

// The copy-saving forms read and write what their copying twins do:
// QueryShared returns Query's page, and a unit writing with PutOwned and
// AppendOwned commits the document and events Put and Append would.
func TestSharedAndOwnedFormsMatchTheCopyingOnes(t *testing.T) {
	ctx := t.Context()
	sc := storage.Schema{Kind: "gauge", Fields: []storage.Field{{Name: "level", Type: storage.TypeInt}}}
	type owned interface {
		PutOwned(ctx context.Context, d storage.Document, expected int64) error
		AppendOwned(ctx context.Context, events ...itsm.Event) error
	}
	tests := []struct {
		name  string
		owned bool
	}{{"copying", false}, {"owned", true}}
	var stores []*memory.Store
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := memory.New()
			require.NoError(t, s.Register(ctx, sc))
			for i := range 5 {
				require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
					d := storage.Document{Kind: "gauge", ID: fmt.Sprintf("g%d", i), Version: 1, Data: []byte(fmt.Sprintf(`{"level":%d}`, i)), Fields: []storage.Value{storage.Int(int64(i))}}
					evs := []itsm.Event{ // a record's event and another's: the unit's first events, handed over at once
						{ID: fmt.Sprintf("e%d", i), Kind: "gauge", RecordID: d.ID, RecordVersion: 1, Changes: []itsm.FieldChange{{Field: "level", To: fmt.Sprint(i)}}},
						{ID: fmt.Sprintf("f%d", i), Kind: "other", RecordID: d.ID, RecordVersion: 1},
					}
					if !tt.owned {
						if err := tx.Put(ctx, d, 0); err != nil {
							return err
						}
						return tx.Append(ctx, evs...)
					}
					o, ok := tx.(owned)
					require.True(t, ok, "the memory store's unit takes documents as its own")
					if err := o.PutOwned(ctx, d, 0); err != nil {
						return err
					}
					return o.AppendOwned(ctx, evs...)
				}))
			}
			q := storage.Query{Kind: "gauge", Filters: []storage.Filter{storage.Gte("level", storage.Int(1))}, Limit: 3}
			copied, err := s.Query(ctx, q)
			require.NoError(t, err)
			shared, err := s.QueryShared(ctx, q)
			require.NoError(t, err)
			assert.Equal(t, copied, shared)
			stores = append(stores, s)
		})
	}
	require.Len(t, stores, 2)
	for i := range 5 {
		id := fmt.Sprintf("g%d", i)
		a, err := stores[0].Get(ctx, "gauge", id)
		require.NoError(t, err)
		b, err := stores[1].Get(ctx, "gauge", id)
		require.NoError(t, err)
		assert.Equal(t, a, b)
		ha, err := stores[0].History(ctx, "gauge", id)
		require.NoError(t, err)
		hb, err := stores[1].History(ctx, "gauge", id)
		require.NoError(t, err)
		assert.Equal(t, ha, hb)
		ha, err = stores[0].History(ctx, "other", id)
		require.NoError(t, err)
		hb, err = stores[1].History(ctx, "other", id)
		require.NoError(t, err)
		assert.Len(t, hb, 1)
		assert.Equal(t, ha, hb)
	}
	all, err := stores[1].ReadEvents(ctx, 0, 100)
	require.NoError(t, err)
	require.Len(t, all, 10)
	for i, e := range all {
		assert.Equal(t, int64(i+1), e.Seq)
		assert.Equal(t, itsm.DefaultTenant, e.Tenant)
	}
}
