package postgres

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
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
// runs with PILLARS_SCALE=1 (PILLARS_SCALE_N overrides the count). With
// PILLARS_SCALE_SCHEMA it fills that schema, or searches the tickets a run
// before left in it, and keeps it.
func TestSearchScale(t *testing.T) {
	if os.Getenv("PILLARS_SCALE") != "1" {
		t.Skip("set PILLARS_SCALE=1 to load a million tickets")
	}
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("PILLARS_SCALE_N")); err == nil && v > 0 {
		n = v
	}
	s := (*Store)(nil)
	if ns := os.Getenv("PILLARS_SCALE_SCHEMA"); ns != "" {
		var err error
		s, err = New(context.Background(), testPool(t), WithSchema(ns))
		require.NoError(t, err)
	} else {
		s = newTestStore(t)
	}
	storagetest.SearchScale(t, s, n)
}

// The text table is not under row-level security (see textDDL), so the
// tenant condition the store writes into every statement is all that keeps
// tenants apart: the same words and the same ids in two tenants, indexed,
// searched, re-indexed and removed from one, never reach or touch the
// other's rows.
func TestSearchTenantIsolation(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	acme, globex := itsm.WithTenant(ctx, "acme"), itsm.WithTenant(ctx, "globex")
	shared, own := itsm.NewID(), itsm.NewID()
	for _, c := range []context.Context{acme, globex} {
		tenant, err := storage.TenantOf(c, false)
		require.NoError(t, err)
		require.NoError(t, s.IndexText(c, []storage.TextEntry{
			{Kind: "incident", ID: shared, Title: "vpn drops " + tenant, Owner: "carl"},
		}))
	}
	require.NoError(t, s.IndexText(globex, []storage.TextEntry{{Kind: "incident", ID: own, Title: "vpn globex only"}}))
	search := func(ctx context.Context, terms ...string) []string {
		t.Helper()
		hits, err := s.SearchText(ctx, storage.TextQuery{Kinds: []string{"incident"}, Terms: terms, Limit: 10})
		require.NoError(t, err)
		var out []string
		for _, h := range hits {
			out = append(out, h.ID)
		}
		return out
	}
	tests := []struct {
		name  string
		ctx   context.Context
		do    func()
		terms []string
		want  []string
	}{
		{"a word both tenants hold", acme, nil, []string{"vpn"}, []string{shared}},
		{"the other tenant's name", acme, nil, []string{"globex"}, nil},
		{"the other tenant finds its own", globex, nil, []string{"vpn"}, []string{own, shared}},
		{"re-indexing an id both hold changes one tenant's row", globex, func() {
			require.NoError(t, s.IndexText(acme, []storage.TextEntry{{Kind: "incident", ID: shared, Title: "printer acme"}}))
		}, []string{"drops", "globex"}, []string{shared}},
		{"removing an id both hold removes one tenant's row", globex, func() {
			require.NoError(t, s.RemoveText(acme, "incident", []string{shared, own}))
		}, []string{"vpn"}, []string{own, shared}},
		{"and the remover's row is gone", acme, nil, []string{"printer"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.do != nil {
				tt.do()
			}
			got := search(tt.ctx, tt.terms...)
			slices.Sort(got)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			assert.Equal(t, want, got)
		})
	}
}

// The reason the text table is outside row-level security: the plan of
// the statement SearchText runs asks the GIN index of the column it
// matches, and checks the tenant as a plain condition.
func TestSearchUsesGINIndex(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	for _, tenant := range []string{"acme", "globex"} {
		tctx := itsm.WithTenant(ctx, tenant)
		entries := make([]storage.TextEntry, 0, 3000)
		for i := range 3000 {
			entries = append(entries, storage.TextEntry{Kind: "incident", ID: itsm.NewID(),
				Title: fmt.Sprintf("ticket w%d w%d", i%97, i%89), Public: fmt.Sprintf("body b%d", i%50), Internal: fmt.Sprintf("note n%d", i%7)})
		}
		require.NoError(t, s.IndexText(tctx, entries))
	}
	tests := []struct {
		name  string
		q     storage.TextQuery
		index string
	}{
		{"public text", storage.TextQuery{Kinds: []string{"incident"}, Terms: []string{"w5", "w7"}, Limit: 20}, "_search_tsv"},
		{"internal text", storage.TextQuery{Kinds: []string{"incident"}, Terms: []string{"n3"}, Internal: true, Limit: 20}, "_search_tsv_all"},
		{"scoped", storage.TextQuery{Kinds: []string{"incident", "problem"}, Terms: []string{"b7"}, Limit: 20,
			Scopes: []storage.TextScope{{Kind: "incident", Field: "group", Values: []string{"g1", ""}}}}, "_search_tsv"},
		// The branch that fetches every match of a scope (searchSQL) asks
		// the index of the audience and the text.
		{"scope index", storage.TextQuery{Kinds: []string{"incident"}, Terms: []string{"b7"}, Internal: true, Limit: 20,
			Scopes: []storage.TextScope{{Kind: "incident", Field: "owner", Values: []string{"o1"}}}}, "_search_scope"},
	}
	var scopeIndex bool // with btree_gin, one index serves every search (textDDL)
	require.NoError(t, s.pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", s.ns+"._search_scope").Scan(&scopeIndex))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if scopeIndex {
				tt.index = "_search_scope"
			} else if tt.index == "_search_scope" {
				t.Skip("btree_gin is not installed")
			}
			sql, args := s.searchSQL("acme", tt.q)
			var plan []string
			require.NoError(t, s.inTextTx(ctx, "acme", "explain", func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "SET LOCAL plan_cache_mode = force_custom_plan"); err != nil {
					return err
				}
				rows, err := tx.Query(ctx, "EXPLAIN "+sql, args...)
				if err != nil {
					return err
				}
				plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
				return err
			}))
			text := strings.Join(plan, "\n")
			assert.Regexp(t, `Index Scan on `+tt.index+`\b`, text)
			assert.Contains(t, text, "tenant = 'acme'")
		})
	}
}

// A store indexed before the text table left row-level security keeps its
// entries: the first use moves them out of the old table and drops it.
func TestSearchMovesTheOldTable(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	id := itsm.NewID()
	_, err := s.pool.Exec(ctx, `CREATE TABLE `+s.ns+`._text (tenant text NOT NULL, kind text NOT NULL, id text NOT NULL,
	title text NOT NULL, body text NOT NULL, internal text NOT NULL, owner text NOT NULL DEFAULT '', grp text NOT NULL DEFAULT '',
	PRIMARY KEY (tenant, kind, id));
ALTER TABLE `+s.ns+`._text ENABLE ROW LEVEL SECURITY;
ALTER TABLE `+s.ns+`._text FORCE ROW LEVEL SECURITY;
CREATE POLICY _tenant ON `+s.ns+`._text USING (tenant = current_setting('pillars.tenant', true));
INSERT INTO `+s.ns+`._text VALUES ('acme', 'incident', '`+id+`', 'INC0000001 vpn drops', '', 'vip caller', 'carl', 'network')`)
	require.NoError(t, err)
	hits, err := s.SearchText(itsm.WithTenant(ctx, "acme"), storage.TextQuery{Kinds: []string{"incident"}, Terms: []string{"vip"}, Internal: true, Limit: 10})
	require.NoError(t, err)
	require.Len(t, hits, 1)
	assert.Equal(t, id, hits[0].ID)
	var old *string
	require.NoError(t, s.pool.QueryRow(ctx, "SELECT to_regclass($1)::text", s.ns+"._text").Scan(&old))
	assert.Nil(t, old, "the old table is dropped")
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

// A scoped search finds the newest matches of the scope whichever way the
// statement takes to them (searchSQL, scopeWalk).
func TestSearchScopeWindow(t *testing.T) {
	storagetest.SearchScopeWindow(t, newTestStore(t))
}
