package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

func TestSmoke(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	sc := ticketSchema("ticket")
	require.NoError(t, s.Register(ctx, sc))
	require.NoError(t, s.Register(ctx, sc))
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	d := ticket("ticket", "a", 1, "g", "new", 2, at)
	ev := sealedEvent("ticket", "a", 1, "")
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		if err := tx.Put(ctx, d, 0); err != nil {
			return err
		}
		got, err := tx.Get(ctx, "ticket", "a")
		require.NoError(t, err)
		require.Equal(t, d, got)
		n, err := tx.NextSequence(ctx, "ticket")
		require.NoError(t, err)
		require.Equal(t, int64(1), n)
		return tx.Append(ctx, ev)
	}))
	got, err := s.Get(ctx, "ticket", "a")
	require.NoError(t, err)
	require.Equal(t, d, got)
	page, err := s.Query(ctx, storage.Query{Kind: "ticket", Filters: []storage.Filter{storage.Eq("grp", storage.String("g"))},
		Sort: []storage.Sort{{Field: "prio"}, {Field: "opened"}}})
	require.NoError(t, err)
	require.Len(t, page.Docs, 1)
	evs, err := s.ReadEvents(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	ev.Seq = evs[0].Seq
	require.Equal(t, ev, evs[0])
	h, err := s.History(ctx, "ticket", "a")
	require.NoError(t, err)
	require.NoError(t, itsm.Verify(h, ev.Hash))
	require.ErrorIs(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, d, 0) }), itsm.ErrConflict)
}
