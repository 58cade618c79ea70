package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// prefixEntries are entries whose lexemes cover the ways a prefix may be
// matched (searchSQL, prefixExpansions): a word and longer words, more
// lexemes than a prefix is expanded to, lexemes with quotes and slashes
// (paths and addresses), words the parser splits, letters beyond ASCII.
func prefixEntries() []storage.TextEntry {
	texts := [][3]string{
		{"error in the mailer", "errors since monday", "erratic caller"},
		{"Error", "see http://x.org/p'q and /usr/lo'cal/bin", ""},
		{"café closed", "cafétéria et caféine", "note 1e5x"},
		{"printer errand", "x.org down", "x@y.com wrote"},
		{"vpn drops", "the error log", ""},
		{"unrelated", "nothing here", "internal error only"},
	}
	var entries []storage.TextEntry
	for i := range 60 {
		tx := texts[i%len(texts)]
		entries = append(entries, storage.TextEntry{Kind: []string{"incident", "problem"}[i%2], ID: itsm.NewID(),
			Number: itsm.FormatNumber("INC", int64(i+1)), Title: tx[0], Public: tx[1] + fmt.Sprintf(" w%d", i), Internal: tx[2],
			Owner: fmt.Sprint("o", i%3), Group: fmt.Sprint("g", i%4)})
	}
	return entries
}

// A prefix matched as the lexemes it covers finds the very entries, ranked
// the very same, as the prefix query run plainly over the table.
func TestSearchPrefixExpansion(t *testing.T) {
	s := newTestStore(t)
	ctx := itsm.WithTenant(context.Background(), "acme")
	require.NoError(t, s.IndexText(ctx, prefixEntries()))
	// Another tenant's lexemes never widen acme's expansions.
	require.NoError(t, s.IndexText(itsm.WithTenant(context.Background(), "globex"), []storage.TextEntry{
		{Kind: "incident", ID: itsm.NewID(), Title: "errorless errorprone"},
	}))
	scope := []storage.TextScope{{Kind: "incident", Field: "group", Values: []string{"g0", "g2"}}}
	tests := []struct {
		name     string
		terms    []string
		internal bool
		scopes   []storage.TextScope
		expanded bool // matched as exact lexemes rather than as the prefix
	}{
		{"a whole word and longer ones", []string{"error"}, false, nil, true},
		{"a part of words", []string{"err"}, true, nil, true},
		{"a scope", []string{"err"}, true, scope, true},
		{"an exact word before the prefix", []string{"error", "mon"}, false, nil, true},
		{"lexemes with quotes and slashes", []string{"x"}, false, nil, true},
		{"a path", []string{"usr"}, false, nil, false},
		{"letters beyond ASCII", []string{"caf"}, false, nil, true},
		{"more lexemes than the bound", []string{"w"}, false, nil, false},
		{"more numbers than the bound", []string{"inc00000"}, false, nil, false},
		{"a number", []string{"inc0000042"}, false, nil, true},
		{"a word the parser splits", []string{"1e5x"}, true, nil, false},
		{"no lexeme", []string{"qxqx"}, false, nil, false},
		{"the other tenant's word", []string{"errorl"}, false, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := storage.TextQuery{Kinds: []string{"incident", "problem"}, Terms: tt.terms, Internal: tt.internal, Scopes: tt.scopes, Limit: 100}
			got, err := s.SearchText(ctx, q)
			require.NoError(t, err)
			want := plainPrefixSearch(t, s, "acme", q)
			assert.Equal(t, want, got)
			assert.Equal(t, tt.expanded, matchedExactly(t, s, "acme", q), "how the prefix is matched")
		})
	}
}

// plainPrefixSearch is the reference: every match of the prefix query,
// ranked as SearchText ranks (the fixture is far below the window).
func plainPrefixSearch(t *testing.T, s *Store, tenant string, q storage.TextQuery) []storage.TextHit {
	t.Helper()
	col := "tsv"
	if q.Internal {
		col = "tsv_all"
	}
	var grp []string
	for _, sc := range q.Scopes {
		grp = sc.Values // one scope of the group of incidents in these tests
	}
	rows, err := s.pool.Query(context.Background(), `SELECT kind, id, ts_rank('{0.2, 0.2, 0.4, 1.0}', `+col+`, query)
FROM `+s.ns+`._search, to_tsquery('simple', $2) AS query
WHERE tenant = $1 AND kind = ANY($3) AND `+col+` @@ query AND (kind <> 'incident' OR $4::text[] IS NULL OR grp = ANY($4))
ORDER BY 3 DESC, kind, id LIMIT $5`, tenant, tsQuery(q.Terms), q.Kinds, grp, q.Limit)
	require.NoError(t, err)
	hits, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.TextHit, error) {
		var h storage.TextHit
		var score float32
		err := r.Scan(&h.Kind, &h.ID, &score)
		h.Score = float64(score)
		return h, err
	})
	require.NoError(t, err)
	if len(hits) == 0 {
		return nil
	}
	return hits
}

// matchedExactly tells whether the statement of q matches its last term
// as exact lexemes: the condition it works out is not the prefix query.
func matchedExactly(t *testing.T, s *Store, tenant string, q storage.TextQuery) bool {
	t.Helper()
	sql, args := s.searchSQL(tenant, q)
	end := strings.Index(sql, "SELECT kind, id, ts_rank")
	require.Positive(t, end)
	var exact bool
	var n int
	require.NoError(t, s.pool.QueryRow(context.Background(), sql[:end]+"SELECT (SELECT q::text <> to_tsquery('simple', $2)::text FROM match), (SELECT count(*) FROM ("+sql[end:]+") AS hits)",
		args...).Scan(&exact, &n))
	return exact
}

// The lexemes of the lexeme table are data, never tsquery text: a lexeme
// holding quotes, a backslash and operators (not one the parser makes, but
// the table may be written by anyone with the store's role) is matched as
// itself, and a term is a word of letters and digits or refused.
func TestSearchPrefixInjection(t *testing.T) {
	s := newTestStore(t)
	ctx := itsm.WithTenant(context.Background(), "acme")
	require.NoError(t, s.IndexText(ctx, []storage.TextEntry{
		{Kind: "incident", ID: itsm.NewID(), Title: "vpn drops"},
		{Kind: "incident", ID: itsm.NewID(), Title: "zz top"},
	}))
	for _, l := range []string{`zz' | 'vpn`, `zz\' | 'vpn`, `zz\`, `zz'':* | vpn:*`, `zz' & !'top`} {
		_, err := s.pool.Exec(ctx, "INSERT INTO "+s.ns+"._search_lexeme (tenant, lexeme) VALUES ('acme', $1)", l)
		require.NoError(t, err)
	}
	tests := []struct {
		name    string
		terms   []string
		want    int
		invalid bool
	}{
		{"lexemes with operators match themselves", []string{"zz"}, 1, false},
		{"and the whole word too", []string{"top", "zz"}, 1, false},
		{"a quote in a term", []string{"zz' | 'vpn"}, 0, true},
		{"an operator in a term", []string{"zz:*"}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := storage.TextQuery{Kinds: []string{"incident"}, Terms: tt.terms, Limit: 10}
			hits, err := s.SearchText(ctx, q)
			if tt.invalid {
				require.ErrorIs(t, err, itsm.ErrInvalid)
				return
			}
			require.NoError(t, err)
			assert.Len(t, hits, tt.want)
			assert.True(t, matchedExactly(t, s, "acme", q), "the lexemes were used")
		})
	}
}

// The lexeme table holds every lexeme indexed in each tenant: after
// inserts, updates and removals, and when a table indexed by an earlier
// version (without it) is first searched.
func TestSearchLexemeTable(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	acme, globex := itsm.WithTenant(ctx, "acme"), itsm.WithTenant(ctx, "globex")
	entries := prefixEntries()
	require.NoError(t, s.IndexText(acme, entries))
	require.NoError(t, s.IndexText(globex, entries[:5]))
	entries[3].Title, entries[4].Internal = "renamed title", "a new internal note"
	require.NoError(t, s.IndexText(acme, entries[3:5]))
	require.NoError(t, s.RemoveText(acme, entries[6].Kind, []string{entries[6].ID}))
	missing := func() int {
		var n int
		require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM (
	SELECT DISTINCT tenant, l FROM `+s.ns+`._search, unnest(tsvector_to_array(tsv_all)) AS l
	EXCEPT SELECT tenant, lexeme FROM `+s.ns+`._search_lexeme) AS m`).Scan(&n))
		return n
	}
	assert.Zero(t, missing(), "every indexed lexeme is in the table")

	_, err := s.pool.Exec(ctx, "DROP TABLE "+s.ns+"._search_lexeme")
	require.NoError(t, err)
	hits, err := s.SearchText(acme, storage.TextQuery{Kinds: []string{"incident", "problem"}, Terms: []string{"renam"}, Limit: 10})
	require.NoError(t, err)
	assert.NotEmpty(t, hits)
	assert.Zero(t, missing(), "a table without lexemes gets them when first searched")
	var n int
	require.NoError(t, s.pool.QueryRow(ctx, "SELECT count(*) FROM "+s.ns+"._search_lexeme WHERE tenant = 'globex' AND lexeme = 'renamed'").Scan(&n))
	assert.Zero(t, n, "each tenant has its own lexemes")
}

func TestPrefixEnd(t *testing.T) {
	tests := []struct{ in, want string }{
		{"err", "ers"},
		{"caf\u00e9", "caf\u00ea"},
		{"a\U0010FFFF", "b"},
		{"x\uD7FF", "x\uE000"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, prefixEnd(tt.in))
		})
	}
}
