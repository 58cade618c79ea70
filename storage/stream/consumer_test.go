package stream_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/internal/pgtest"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/sqlite"
	"github.com/pillars-itsm/pillars/storage/stream/streamtest"
)

// features declares what a store supports. Tenants is what the store
// states in its events: a store stamping each event with its unit's
// tenant (issue 19) is held to the tenant tests.
func features(t *testing.T, b storage.Backend) streamtest.Features {
	t.Helper()
	ctx := itsm.WithTenant(t.Context(), "probe")
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	ev := itsm.Event{ID: itsm.NewID(), Kind: "probe", RecordID: itsm.NewID(), RecordVersion: 1, Name: itsm.EventCreate,
		Actor: "probe", At: at, RecordedAt: at}
	require.NoError(t, b.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, ev) }))
	evs, err := b.ReadEvents(storage.AllTenants(ctx), 0, 1)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	return streamtest.Features{Tenants: evs[0].Tenant == "probe"}
}

func TestConsumerMemory(t *testing.T) {
	streamtest.Run(t, func(t *testing.T) storage.Backend { return memory.New() }, features(t, memory.New()))
}

func openSQLite(t *testing.T) storage.Backend {
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "stream.db"), sqlite.WithSynchronous("NORMAL"))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConsumerSQLite(t *testing.T) {
	streamtest.Run(t, openSQLite, features(t, openSQLite(t)))
}

func TestConsumerPostgres(t *testing.T) {
	if _, ok := pgtest.DSN(); !ok {
		t.Skip(pgtest.Hint)
	}
	open := func(t *testing.T) storage.Backend {
		s, _ := pgtest.Open(t, "stream")
		return s
	}
	streamtest.Run(t, open, features(t, open(t)))
}
