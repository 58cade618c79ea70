package postgres

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/storagetest"
)

var (
	_ storage.Backend      = (*Store)(nil)
	_ storage.Traverser    = (*Store)(nil)
	_ storage.BulkImporter = (*Store)(nil)
)

// TestConformance runs the storage contract's conformance suite: every test
// gets a store in a fresh PostgreSQL schema on the shared pool, dropped when
// the test ends.
func TestConformance(t *testing.T) {
	p := testPool(t)
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		s, err := New(t.Context(), p, WithSchema(freshSchema(t, p)))
		require.NoError(t, err)
		return s
	})
}
