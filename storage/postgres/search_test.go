package postgres

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/storagetest"
)

func TestTextIndexConformance(t *testing.T) {
	storagetest.TextIndex(t, func(t *testing.T) storage.TextIndexer { return newTestStore(t) })
}

// TestSearchScale loads a million tickets and logs search latencies; it
// runs with PILLARS_SCALE=1 (PILLARS_SCALE_N overrides the count).
func TestSearchScale(t *testing.T) {
	if os.Getenv("PILLARS_SCALE") != "1" {
		t.Skip("set PILLARS_SCALE=1 to load a million tickets")
	}
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("PILLARS_SCALE_N")); err == nil && v > 0 {
		n = v
	}
	storagetest.SearchScale(t, newTestStore(t), n)
}

// The text table is under the same row-level security as the document
// tables: a statement without a tenant condition, run as the store runs
// its statements, sees the tenant's rows only.
func TestTextTableRowLevelSecurity(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	for _, tenant := range []string{"acme", "globex"} {
		require.NoError(t, s.IndexText(itsm.WithTenant(ctx, tenant), []storage.TextEntry{
			{Kind: "incident", ID: itsm.NewID(), Title: "vpn " + tenant},
			{Kind: "incident", ID: itsm.NewID(), Title: "printer " + tenant},
		}))
	}
	rows, err := s.query(ctx, s.pool, "acme", "SELECT DISTINCT tenant FROM "+s.ns+"._text")
	require.NoError(t, err)
	var seen []string
	for rows.Next() {
		var tenant string
		require.NoError(t, rows.Scan(&tenant))
		seen = append(seen, tenant)
	}
	rows.Close()
	require.NoError(t, rows.Err())
	assert.Equal(t, []string{"acme"}, seen)
}

// The search service end to end on the tsvector table: bulk load, index,
// search as an admin and as an agent whose read scope the index applies.
func TestSearchServiceEndToEnd(t *testing.T) {
	storagetest.SearchScale(t, newTestStore(t), 2000)
}

// Attachment content kept in the PostgreSQL store itself.
func TestDocBlobStore(t *testing.T) {
	bs, err := storage.NewDocBlobStore(context.Background(), newTestStore(t))
	require.NoError(t, err)
	storagetest.BlobStore(t, bs)
}
