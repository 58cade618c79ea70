package stream_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/internal/pgtest"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/sqlite"
	"github.com/pillars-itsm/pillars/storage/stream/streamtest"
)

// features is what the stores of this branch support; the tenant-aware
// stores (issue 19) turn Tenants on.
var features = streamtest.Features{Tenants: false}

func TestConsumerMemory(t *testing.T) {
	streamtest.Run(t, func(t *testing.T) storage.Backend { return memory.New() }, features)
}

func TestConsumerSQLite(t *testing.T) {
	streamtest.Run(t, func(t *testing.T) storage.Backend {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "stream.db"), sqlite.WithSynchronous("NORMAL"))
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}, features)
}

func TestConsumerPostgres(t *testing.T) {
	if _, ok := pgtest.DSN(); !ok {
		t.Skip(pgtest.Hint)
	}
	streamtest.Run(t, func(t *testing.T) storage.Backend {
		s, _ := pgtest.Open(t, "stream")
		return s
	}, features)
}
