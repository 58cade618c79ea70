package webhook_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/internal/pgtest"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/sqlite"
)

// store is a built-in store the delivery tests and the latency benchmark
// run on.
type store struct {
	name string
	// open returns a fresh, empty store closed when tb ends; on
	// PostgreSQL, in a fresh schema dropped then. It skips tb when the
	// store is not available (PILLARS_POSTGRES_DSN unset).
	open func(tb testing.TB) storage.Backend
}

// stores lists every built-in store, so that deliveries are proven on each:
// memory, SQLite and, when PILLARS_POSTGRES_DSN is set, PostgreSQL.
func stores() []store {
	return []store{
		{"memory", func(tb testing.TB) storage.Backend {
			b := memory.New()
			tb.Cleanup(func() { _ = b.Close() })
			return b
		}},
		{"sqlite", func(tb testing.TB) storage.Backend {
			b, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "webhook.db"))
			require.NoError(tb, err)
			tb.Cleanup(func() { _ = b.Close() })
			return b
		}},
		{"postgres", func(tb testing.TB) storage.Backend {
			b, ok := pgtest.Open(tb, "webhook")
			if !ok {
				tb.Skip(pgtest.Hint)
			}
			return b
		}},
	}
}
