package sqlite

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/storagetest"
)

// TestConformance runs the storage contract's suite, each test on a fresh
// database file. It uses synchronous=NORMAL: durability across power loss is
// not under test, and an fsync per commit makes the suite's thousands of
// concurrent units slow on a shared disk.
func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		s, err := Open(t.Context(), filepath.Join(t.TempDir(), "pillars.db"), WithSynchronous("NORMAL"))
		require.NoError(t, err)
		return s
	}, storagetest.Unsupported(storagetest.AreaTenancy, storagetest.AreaSchemaChange)) // until the SQLite store keeps them (issue 19)
}

// TestConformanceDefaults runs the suite, with its lighter load, on stores
// opened with the default settings (synchronous=FULL). The setting changes
// durability, not behaviour, and its fsyncs make the run slow on a shared
// disk, so it runs with PILLARS_SCALE=1, like the large benchmarks.
func TestConformanceDefaults(t *testing.T) {
	if os.Getenv("PILLARS_SCALE") != "1" {
		t.Skip("set PILLARS_SCALE=1 to run the suite with synchronous=FULL too")
	}
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		s, err := Open(t.Context(), filepath.Join(t.TempDir(), "pillars.db"))
		require.NoError(t, err)
		return s
	}, storagetest.Light(), storagetest.Unsupported(storagetest.AreaTenancy, storagetest.AreaSchemaChange))
}
