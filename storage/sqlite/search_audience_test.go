package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// audID returns the n-th id of the audience tests.
func audID(n int) string {
	return "00000000-0000-7000-8000-0000000000" + string(rune('0'+n/10)) + string(rune('0'+n%10))
}

// ftsRowids runs a MATCH expression on the FTS5 table alone (no mapping
// row checked) and returns the matching rowids' entries' ids.
func ftsRowids(t *testing.T, s *Store, match string) []string {
	t.Helper()
	rows, err := s.r.QueryContext(context.Background(), `SELECT m.id FROM pillars_text_fts f JOIN pillars_text m ON m.rowid = f.rowid
WHERE pillars_text_fts MATCH ? ORDER BY m.id`, match)
	require.NoError(t, err)
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	return ids
}

// matchOf returns the FTS5 expression of a scoped search as SearchText
// builds it, "" when nothing can match.
func matchOf(t *testing.T, s *Store, tenant string, q storage.TextQuery) string {
	t.Helper()
	tx, err := s.r.BeginTx(context.Background(), nil)
	require.NoError(t, err)
	defer tx.Rollback()
	ids, err := audLookup(context.Background(), tx, tenant, q)
	require.NoError(t, err)
	m, ok := ftsMatch(tenant, q, ids)
	if !ok {
		return ""
	}
	return m
}

// audIDOf reads the dictionary id of an audience.
func audIDOf(t *testing.T, s *Store, tenant, kind, field, value string) int64 {
	t.Helper()
	var id int64
	require.NoError(t, s.r.QueryRow(`SELECT id FROM pillars_text_aud WHERE tenant = ? AND kind = ? AND field = ? AND value = ?`,
		tenant, kind, field, value).Scan(&id))
	return id
}

// User words cannot match audience tokens: a query term cannot hold the
// token's mark, the rest of a token spelled as a word is found only in
// text, and an entry whose text holds another group's token (mark
// included, which the tokenizer keeps in text too) is not in that group's
// scope, in FTS5 itself (before the mapping row is checked) as in
// SearchText.
func TestAudienceTokensOutOfWordsReach(t *testing.T) {
	s := openTest(t)
	acme := itsm.WithTenant(context.Background(), "acme")
	require.NoError(t, s.IndexText(acme, []storage.TextEntry{
		{Kind: "incident", ID: audID(1), Number: "INC1", Title: "printer jams", Group: "g0", Owner: "ann"},
	}))
	g0 := audToken(audIDOf(t, s, "acme", "incident", "g", "g0"))
	spelled := storage.Tokenize(g0)
	require.Equal(t, []string{g0[len(audMark):]}, spelled, "Tokenize drops the mark and keeps the rest as one word")
	require.NoError(t, s.IndexText(acme, []storage.TextEntry{
		{Kind: "incident", ID: audID(2), Number: "INC2", Title: "printer " + g0, Internal: g0 + " " + spelled[0], Group: "g1", Owner: "bob"},
		{Kind: "incident", ID: audID(3), Number: "INC3", Title: "printer fine", Group: "g1", Owner: "ann"},
	}))
	scoped := func(terms []string, internal bool, field string, values ...string) storage.TextQuery {
		q := storage.TextQuery{Kinds: []string{"incident"}, Terms: terms, Internal: internal, Limit: 10}
		if field != "" {
			q.Scopes = []storage.TextScope{{Kind: "incident", Field: field, Values: values}}
		}
		return q
	}
	tests := []struct {
		name string
		q    storage.TextQuery
		want []string
	}{
		{"the scope's entries only", scoped([]string{"printer"}, false, "group", "g0"), []string{audID(1)}},
		{"another group's token in the text does not widen the scope", scoped([]string{"printer"}, true, "group", "g0"), []string{audID(1)}},
		{"a token spelled as a word is found in text only", scoped(spelled, true, "", ""), []string{audID(2)}},
		{"and in internal text only when asked", scoped(spelled, false, "", ""), nil},
		{"a token spelled as a word in the scope it names", scoped(spelled, true, "group", "g0"), nil},
		{"owner scope", scoped([]string{"printer"}, false, "owner", "ann"), []string{audID(1), audID(3)}},
		{"a scope nobody carries", scoped([]string{"printer"}, false, "owner", "zed"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, tt.q.Check())
			if m := matchOf(t, s, "acme", tt.q); m != "" {
				assert.Equal(t, tt.want, ftsRowids(t, s, m), "FTS5 alone")
			} else {
				assert.Empty(t, tt.want, "nothing can match")
			}
			hits, err := s.SearchText(acme, tt.q)
			require.NoError(t, err)
			var got []string
			for _, h := range hits {
				got = append(got, h.ID)
			}
			assert.ElementsMatch(t, tt.want, got, "SearchText")
		})
	}
	t.Run("a term holding the mark is refused", func(t *testing.T) {
		_, err := s.SearchText(acme, storage.TextQuery{Kinds: []string{"incident"}, Terms: []string{g0}, Limit: 10})
		assert.ErrorIs(t, err, itsm.ErrInvalid)
	})
	t.Run("the token is one token, mark included", func(t *testing.T) {
		assert.Equal(t, []string{audID(1)}, ftsRowids(t, s, `aud : "`+g0+`"`))
		assert.Empty(t, ftsRowids(t, s, `aud : "`+spelled[0]+`"`), "without the mark the token is another word")
	})
	t.Run("another tenant has none of the audiences", func(t *testing.T) {
		assert.Empty(t, matchOf(t, s, "default", scoped([]string{"printer"}, false, "group", "g0")))
	})
}

// audMatch scopes each kind as TextQuery.InScope does: a kind without a
// scope whole, a scoped kind by its values, several scopes of a kind all;
// audiences missing from the dictionary leave their kind out.
func TestAudMatch(t *testing.T) {
	ids := audIDs{
		{"t", "incident", 'k', ""}: 1, {"t", "problem", 'k', ""}: 2,
		{"t", "incident", 'g', "a"}: 3, {"t", "incident", 'g', ""}: 4, {"t", "incident", 'o', "x"}: 5,
	}
	tok := func(id int64) string { return `"` + audToken(id) + `"` }
	tests := []struct {
		name string
		q    storage.TextQuery
		want string
	}{
		{"kinds", storage.TextQuery{Kinds: []string{"incident", "problem"}}, "(" + tok(1) + ") OR (" + tok(2) + ")"},
		{"one kind scoped", storage.TextQuery{Kinds: []string{"incident", "problem"},
			Scopes: []storage.TextScope{{Kind: "incident", Field: "group", Values: []string{"a", "b", ""}}}},
			"((" + tok(3) + " OR " + tok(4) + ")) OR (" + tok(2) + ")"},
		{"two scopes of a kind", storage.TextQuery{Kinds: []string{"incident"},
			Scopes: []storage.TextScope{{Kind: "incident", Field: "group", Values: []string{"a"}}, {Kind: "incident", Field: "owner", Values: []string{"x"}}}},
			"((" + tok(3) + ") AND (" + tok(5) + "))"},
		{"a scope nobody carries leaves its kind out", storage.TextQuery{Kinds: []string{"incident", "problem"},
			Scopes: []storage.TextScope{{Kind: "incident", Field: "owner", Values: []string{"y"}}}}, "(" + tok(2) + ")"},
		{"an unknown kind is left out", storage.TextQuery{Kinds: []string{"change", "problem"}}, "(" + tok(2) + ")"},
		{"nothing left", storage.TextQuery{Kinds: []string{"change"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			ok := audMatch(&b, "t", tt.q, ids)
			assert.Equal(t, tt.want != "", ok)
			assert.Equal(t, tt.want, b.String())
		})
	}
}

// A scope of the most values a query may hold is one FTS5 expression.
func TestAudMatchMaxValues(t *testing.T) {
	s := openTest(t)
	ctx := itsm.WithTenant(context.Background(), "acme")
	require.NoError(t, s.IndexText(ctx, []storage.TextEntry{{Kind: "incident", ID: audID(1), Title: "disk full", Group: "g999"}}))
	values := make([]string, storage.MaxInValues)
	for i := range values {
		values[i] = fmt.Sprint("g", i)
	}
	values[len(values)-1] = "g999"
	hits, err := s.SearchText(ctx, storage.TextQuery{Kinds: []string{"incident"}, Terms: []string{"disk"}, Limit: 10,
		Scopes: []storage.TextScope{{Kind: "incident", Field: "group", Values: values}}})
	require.NoError(t, err)
	require.Len(t, hits, 1)
}

// A file indexed before migration 3 (no aud column) is rebuilt once by
// Open, with every entry's audience, and searches as a file indexed since;
// opened without migrating, it is not searched at all.
func TestTextAudienceMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	s := openAt(t, path)
	ctx := context.Background()
	acme := itsm.WithTenant(ctx, "acme")
	var entries []storage.TextEntry
	for i := range 40 {
		entries = append(entries, storage.TextEntry{Kind: []string{"incident", "problem"}[i%2], ID: audID(i), Number: itsm.FormatNumber("INC", int64(i)),
			Title: []string{"vpn drops", "vpn slow", "printer"}[i%3], Public: "seen on floor " + string(rune('a'+i%5)),
			Internal: "note vpn", Owner: []string{"ann", "bob", ""}[i%3], Group: []string{"net", "desk", "", "ops"}[i%4]})
	}
	require.NoError(t, s.IndexText(ctx, entries[:30]))
	require.NoError(t, s.IndexText(acme, entries[20:]))
	queries := []storage.TextQuery{
		{Kinds: []string{"incident", "problem"}, Terms: []string{"vpn"}, Limit: 50},
		{Kinds: []string{"incident", "problem"}, Terms: []string{"vpn"}, Internal: true, Limit: 50},
		{Kinds: []string{"incident"}, Terms: []string{"floor", "b"}, Limit: 50},
		{Kinds: []string{"incident", "problem"}, Terms: []string{"vpn"}, Limit: 50,
			Scopes: []storage.TextScope{{Kind: "incident", Field: "group", Values: []string{"net", ""}}}},
		{Kinds: []string{"problem"}, Terms: []string{"pr"}, Limit: 50,
			Scopes: []storage.TextScope{{Kind: "problem", Field: "owner", Values: []string{"bob"}}}},
	}
	search := func(s *Store) [][]storage.TextHit {
		var out [][]storage.TextHit
		for _, c := range []context.Context{ctx, acme} {
			for _, q := range queries {
				hits, err := s.SearchText(c, q)
				require.NoError(t, err)
				out = append(out, hits)
			}
		}
		return out
	}
	want := search(s)
	// The layout before migration 3, as its IndexText wrote it.
	for _, stmt := range []string{
		`CREATE VIRTUAL TABLE pillars_text_fts_old USING fts5(title, body, internal, tokenize = 'unicode61 remove_diacritics 0')`,
		`INSERT INTO pillars_text_fts_old (rowid, title, body, internal) SELECT rowid, title, body, internal FROM pillars_text_fts`,
		`DROP TABLE pillars_text_fts`,
		`ALTER TABLE pillars_text_fts_old RENAME TO pillars_text_fts`,
		`DROP TABLE pillars_text_aud`,
		`DELETE FROM schema_migrations WHERE version = 3`,
	} {
		_, err := s.w.ExecContext(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	require.NoError(t, s.Close())

	unmigrated := openAt(t, path, WithMigrate(false))
	_, err := unmigrated.SearchText(ctx, queries[0])
	require.Error(t, err, "the old layout is not searched")
	require.NoError(t, unmigrated.Close())

	migrated := openAt(t, path)
	v, err := migrated.SchemaVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, migrationVersion, v)
	assert.Equal(t, want, search(migrated))
	require.NoError(t, migrated.Close())

	again := openAt(t, path)
	assert.Equal(t, want, search(again), "a second Open rebuilds nothing and finds the same")
}

// A scoped search finds, with the same scores and order, exactly the
// entries of an unscoped search its scopes admit, over entries few enough
// that both windows hold every match: the audience tokens and the mapping
// rows agree, for random scopes of one or two fields on one or two kinds,
// in two tenants. Two scopes of one kind must both admit an entry, as the
// mapping-row check has always applied them (TextQuery.InScope, which the
// in-memory index uses, reads the first only; SearchService sends one).
func TestScopedSearchDifferential(t *testing.T) {
	s := openTest(t)
	rng := rand.New(rand.NewPCG(7, 8))
	words := []string{"disk", "full", "vpn", "slow", "mail", "down"}
	owners := []string{"ann", "bob", "cy", ""}
	groups := []string{"net", "desk", "Ops", "ops", ""}
	kinds := []string{"incident", "problem"}
	entries := map[string]map[string]storage.TextEntry{}
	for _, tenant := range []string{"acme", "globex"} {
		ctx := itsm.WithTenant(context.Background(), tenant)
		entries[tenant] = map[string]storage.TextEntry{}
		var batch []storage.TextEntry
		for range 300 {
			e := storage.TextEntry{Kind: kinds[rng.IntN(2)], ID: itsm.NewID(), Number: "N",
				Title: words[rng.IntN(6)] + " " + words[rng.IntN(6)], Public: words[rng.IntN(6)],
				Owner: owners[rng.IntN(4)], Group: groups[rng.IntN(5)]}
			batch = append(batch, e)
			entries[tenant][e.ID] = e
		}
		require.NoError(t, s.IndexText(ctx, batch))
	}
	for i := range 200 {
		tenant := []string{"acme", "globex"}[i%2]
		ctx := itsm.WithTenant(context.Background(), tenant)
		q := storage.TextQuery{Kinds: kinds[:1+rng.IntN(2)], Terms: []string{words[rng.IntN(6)]}, Limit: storage.MaxLimit}
		for _, k := range q.Kinds {
			for _, field := range []string{"owner", "group"} {
				if rng.IntN(2) == 0 {
					continue
				}
				pool := owners
				if field == "group" {
					pool = groups
				}
				values := []string{pool[rng.IntN(len(pool))], pool[rng.IntN(len(pool))], "nobody"}[:1+rng.IntN(3)]
				q.Scopes = append(q.Scopes, storage.TextScope{Kind: k, Field: field, Values: values})
			}
		}
		if len(q.Scopes) == 0 {
			q.Scopes = []storage.TextScope{{Kind: q.Kinds[0], Field: "group", Values: []string{"net"}}}
		}
		all, err := s.SearchText(ctx, storage.TextQuery{Kinds: q.Kinds, Terms: q.Terms, Limit: storage.MaxLimit})
		require.NoError(t, err)
		want := []storage.TextHit{}
		for _, h := range all {
			e := entries[tenant][h.ID]
			admitted := true
			for _, sc := range q.Scopes {
				if sc.Kind == e.Kind {
					admitted = admitted && storage.TextQuery{Kinds: q.Kinds, Scopes: []storage.TextScope{sc}}.InScope(e.Kind, e.Owner, e.Group)
				}
			}
			if admitted {
				want = append(want, h)
			}
		}
		got, err := s.SearchText(ctx, q)
		require.NoError(t, err)
		if got == nil {
			got = []storage.TextHit{}
		}
		require.Equal(t, want, got, "%+v", q)
	}
}
