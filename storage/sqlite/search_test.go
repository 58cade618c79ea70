package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
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

// A file indexed by the version before the meta column keeps its entries:
// the first search moves them into the current table and drops the old one.
func TestSearchMovesTheOldTable(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	id := itsm.NewID()
	_, err := s.w.ExecContext(ctx, `CREATE TABLE pillars_text (rowid INTEGER PRIMARY KEY, tenant TEXT NOT NULL, kind TEXT NOT NULL,
	id TEXT NOT NULL, owner TEXT NOT NULL DEFAULT '', grp TEXT NOT NULL DEFAULT '', UNIQUE (tenant, kind, id));
CREATE VIRTUAL TABLE pillars_text_fts USING fts5(title, body, internal, tokenize = 'unicode61 remove_diacritics 0');
INSERT INTO pillars_text VALUES (7, 'acme', 'incident', '`+id+`', 'carl', 'network');
INSERT INTO pillars_text_fts (rowid, title, body, internal) VALUES (7, 'INC0000001 vpn drops', '', 'vip caller');`)
	require.NoError(t, err)
	q := storage.TextQuery{Kinds: []string{"incident"}, Terms: []string{"vip"}, Internal: true, Limit: 10,
		Scopes: []storage.TextScope{{Kind: "incident", Field: "group", Values: []string{"network"}}}}
	hits, err := s.SearchText(itsm.WithTenant(ctx, "acme"), q)
	require.NoError(t, err)
	require.Len(t, hits, 1)
	assert.Equal(t, id, hits[0].ID)
	hits, err = s.SearchText(itsm.WithTenant(ctx, "globex"), q)
	require.NoError(t, err)
	assert.Empty(t, hits, "the moved entry keeps its tenant")
	var old int
	require.NoError(t, s.w.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'pillars_text_fts'`).Scan(&old))
	assert.Zero(t, old)
}

// Tenants, kinds and audiences are matched as meta tokens: values that are
// prefixes of one another, or empty, are still told apart.
func TestSearchMetaTokens(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	ids := map[string]string{}
	for _, e := range []struct{ tenant, kind, owner, grp string }{
		{"a", "incident", "", ""}, {"ab", "incident", "x", "g"}, {"a", "incidents", "xy", "gh"},
	} {
		id := itsm.NewID()
		ids[e.tenant+"/"+e.kind+"/"+e.owner] = id
		require.NoError(t, s.IndexText(itsm.WithTenant(ctx, e.tenant), []storage.TextEntry{{Kind: e.kind, ID: id, Title: "vpn", Owner: e.owner, Group: e.grp}}))
	}
	tests := []struct {
		name   string
		tenant string
		q      storage.TextQuery
		want   []string
	}{
		{"tenant a", "a", storage.TextQuery{Kinds: []string{"incident", "incidents"}}, []string{ids["a/incident/"], ids["a/incidents/xy"]}},
		{"tenant ab", "ab", storage.TextQuery{Kinds: []string{"incident", "incidents"}}, []string{ids["ab/incident/x"]}},
		{"kind incident", "a", storage.TextQuery{Kinds: []string{"incident"}}, []string{ids["a/incident/"]}},
		{"the empty owner", "a", storage.TextQuery{Kinds: []string{"incident", "incidents"},
			Scopes: []storage.TextScope{{Kind: "incidents", Field: "owner", Values: []string{""}}}}, []string{ids["a/incident/"]}},
		{"owner x is not xy", "a", storage.TextQuery{Kinds: []string{"incidents"},
			Scopes: []storage.TextScope{{Kind: "incidents", Field: "owner", Values: []string{"x"}}}}, nil},
		{"group g is not gh", "a", storage.TextQuery{Kinds: []string{"incidents"},
			Scopes: []storage.TextScope{{Kind: "incidents", Field: "group", Values: []string{"g", "gh"}}}}, []string{ids["a/incidents/xy"]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.Terms, tt.q.Limit = []string{"vpn"}, 10
			hits, err := s.SearchText(itsm.WithTenant(ctx, tt.tenant), tt.q)
			require.NoError(t, err)
			var got []string
			for _, h := range hits {
				got = append(got, h.ID)
			}
			assert.ElementsMatch(t, tt.want, got)
		})
	}
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
