package sqlite

import (
	"context"
	"fmt"
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

// User words cannot match audience tokens: a query term cannot hold the
// token's mark, the rest of a token spelled as a word is found only in
// text, and an entry whose text holds another group's token (mark
// included, which the tokenizer keeps in text too) is not in that group's
// scope, in FTS5 itself (before the mapping row is checked) as in
// SearchText.
func TestAudienceTokensOutOfWordsReach(t *testing.T) {
	s := openTest(t)
	acme := itsm.WithTenant(context.Background(), "acme")
	g0 := audToken('g', "acme", "incident", "g0")
	spelled := storage.Tokenize(g0)
	require.Equal(t, []string{g0[len(audMark):]}, spelled, "Tokenize drops the mark and keeps the rest as one word")
	require.NoError(t, s.IndexText(acme, []storage.TextEntry{
		{Kind: "incident", ID: audID(1), Number: "INC1", Title: "printer jams", Group: "g0", Owner: "ann"},
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, tt.q.Check())
			assert.Equal(t, tt.want, ftsRowids(t, s, ftsMatch("acme", tt.q)), "FTS5 alone")
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
	t.Run("another tenant's tokens", func(t *testing.T) {
		assert.Empty(t, ftsRowids(t, s, ftsMatch("default", scoped([]string{"printer"}, false, "", ""))))
	})
}

// audMatch scopes each kind as TextQuery.InScope does: a kind without a
// scope whole, a scoped kind by its values, several scopes of a kind all.
func TestAudMatch(t *testing.T) {
	k := func(kind string) string { return `"` + audToken('k', "t", kind) + `"` }
	g := func(kind, v string) string { return `"` + audToken('g', "t", kind, v) + `"` }
	o := func(kind, v string) string { return `"` + audToken('o', "t", kind, v) + `"` }
	tests := []struct {
		name string
		q    storage.TextQuery
		want string
	}{
		{"kinds", storage.TextQuery{Kinds: []string{"incident", "problem"}}, "(" + k("incident") + ") OR (" + k("problem") + ")"},
		{"one kind scoped", storage.TextQuery{Kinds: []string{"incident", "problem"},
			Scopes: []storage.TextScope{{Kind: "incident", Field: "group", Values: []string{"a", ""}}}},
			"((" + g("incident", "a") + " OR " + g("incident", "") + ")) OR (" + k("problem") + ")"},
		{"two scopes of a kind", storage.TextQuery{Kinds: []string{"incident"},
			Scopes: []storage.TextScope{{Kind: "incident", Field: "group", Values: []string{"a"}}, {Kind: "incident", Field: "owner", Values: []string{"x"}}}},
			"((" + g("incident", "a") + ") AND (" + o("incident", "x") + "))"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			audMatch(&b, "t", tt.q)
			assert.Equal(t, tt.want, b.String())
		})
	}
	assert.NotEqual(t, audToken('g', "ab", "c"), audToken('g', "a", "bc"), "the parts are delimited")
	assert.NotEqual(t, audToken('g', "t", "incident", ""), audToken('k', "t", "incident"), "the field letter tells tokens apart")
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
