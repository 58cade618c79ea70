package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/storagetest"
)

func TestTextIndexConformance(t *testing.T) {
	storagetest.TextIndex(t, func(t *testing.T) storage.TextIndexer { return openTest(t) })
}

// TestSearchScale loads a million tickets and logs search latencies; it
// runs with PILLARS_SCALE=1 (PILLARS_SCALE_N overrides the count). With
// PILLARS_SCALE_DB it fills that file, or searches the tickets a run
// before left in it, and keeps it.
func TestSearchScale(t *testing.T) {
	n := scaleCount(t)
	path := os.Getenv("PILLARS_SCALE_DB")
	if path == "" {
		path = filepath.Join(t.TempDir(), "scale.db")
	}
	s, err := Open(context.Background(), path, WithSynchronous("OFF"))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	storagetest.SearchScale(t, s, n)
}

func scaleCount(t *testing.T) int {
	if os.Getenv("PILLARS_SCALE") != "1" {
		t.Skip("set PILLARS_SCALE=1 to load a million tickets")
	}
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("PILLARS_SCALE_N")); err == nil && v > 0 {
		n = v
	}
	return n
}

// The search service end to end on FTS5: bulk load, index, search as an
// admin and as an agent whose read scope the index applies.
func TestSearchServiceEndToEnd(t *testing.T) {
	storagetest.SearchScale(t, openTest(t), 2000)
}

// Attachment content kept in the SQLite store itself.
func TestDocBlobStore(t *testing.T) {
	bs, err := storage.NewDocBlobStore(context.Background(), openTest(t))
	require.NoError(t, err)
	storagetest.BlobStore(t, bs)
}

// A scoped search finds exactly the newest matches of the scope, whether
// they lie among the newest entries or only among the oldest.
func TestSearchScopeWindow(t *testing.T) {
	storagetest.SearchScopeWindow(t, openTest(t))
}
