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

// builtIn is what every built-in store supports: each keeps tenants
// (issue 19), so each is held to the tenant tests; a third-party store
// declares its own Features.
func builtIn() streamtest.Features { return streamtest.Features{Tenants: true} }

func TestConsumerMemory(t *testing.T) {
	streamtest.Run(t, func(t *testing.T) storage.Backend { return memory.New() }, builtIn())
}

func openSQLite(t *testing.T) storage.Backend {
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "stream.db"), sqlite.WithSynchronous("NORMAL"))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConsumerSQLite(t *testing.T) {
	streamtest.Run(t, openSQLite, builtIn())
}

func TestConsumerPostgres(t *testing.T) {
	if _, ok := pgtest.DSN(); !ok {
		t.Skip(pgtest.Hint)
	}
	open := func(t *testing.T) storage.Backend {
		s, _ := pgtest.Open(t, "stream")
		return s
	}
	streamtest.Run(t, open, builtIn())
}
