package postgres

// Full-text search (storage.TextIndexer) on a table with generated
// tsvector columns and GIN indexes. The table is created when first
// needed (an insert that finds it missing creates it and retries), not by
// a numbered migration, so stores that never index text carry none of it
// and the migration numbers stay free for the document tables.

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

var _ storage.TextIndexer = (*Store)(nil)

// textDDL creates the text index; {{schema}} is the quoted namespace. The
// 'simple' configuration lower-cases and neither stems nor drops stop
// words, as storage.Tokenize does, so a word typed is a word found in any
// language. tsv holds the title (weight A) and the public text (B); all
// adds the internal text (C).
//
// The table is not under row-level security, unlike the document tables:
// under a policy the planner must check the policy before any qual that
// is not leakproof, and the @@ operator is not, so it filtered the
// tenant's rows one by one instead of asking the GIN index (76–118 ms p95
// over 100,000 tickets against a few ms). Every statement of this file
// carries its own "tenant = $1" with the tenant of the call's context
// (never a value from the query), which TestSearchTenantIsolation and the
// conformance suite hold it to; the table holds no record data beyond the
// indexed text and the audience values, and every hit is still read
// through Records.Get, under the policies, before anyone sees it.
//
// _search_scope is one GIN index over the audience columns and the text:
// it serves the searches of an actor who reads some owners' or groups'
// records only, finding the matches of a word within the scope without
// reading the rows of the others (see scopeWalk), and as a GIN index
// answers any subset of its columns, it serves every other search too and
// replaces the indexes of tsv and tsv_all alone (kept beside it, they made
// an insert cost 1.6 times as much). Its operator classes for text come
// from the btree_gin extension, created here when the role may; without
// it the table has the two indexes of the text alone, and the scoped
// search is still right, only slower when the scope holds few of a
// word's matches. A table created by an earlier version
// gets the index when SearchText finds it missing (ensureScopeIndex).
//
// A store indexed by an earlier version kept the rows in _text under a
// policy: they are moved here when this table is first created, and _text
// is dropped.
//
// _search_lexeme holds every lexeme indexed in each tenant, for matching
// a prefix as the lexemes it covers (prefixExpansions); IndexText adds the
// lexemes of what it indexes, in its own transaction. A table indexed by
// an earlier version gets it, filled from the entries, when a statement
// first finds it missing (a million entries: under a minute here).
const textDDL = `
CREATE TABLE IF NOT EXISTS {{schema}}._search (
	tenant   text COLLATE "C" NOT NULL,
	kind     text COLLATE "C" NOT NULL,
	id       text COLLATE "C" NOT NULL,
	title    text NOT NULL,
	body     text NOT NULL,
	internal text NOT NULL,
	owner    text COLLATE "C" NOT NULL DEFAULT '',
	grp      text COLLATE "C" NOT NULL DEFAULT '',
	tsv tsvector GENERATED ALWAYS AS (setweight(to_tsvector('simple', title), 'A') || setweight(to_tsvector('simple', body), 'B')) STORED,
	tsv_all tsvector GENERATED ALWAYS AS (setweight(to_tsvector('simple', title), 'A') || setweight(to_tsvector('simple', body), 'B') || setweight(to_tsvector('simple', internal), 'C')) STORED,
	PRIMARY KEY (tenant, kind, id)
);
DO $pillars$ BEGIN
	BEGIN
		CREATE EXTENSION IF NOT EXISTS btree_gin;
	EXCEPTION WHEN OTHERS THEN
		NULL; -- not installed here, or not the role's to create: an optimisation only
	END;
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'btree_gin') THEN
		CREATE INDEX IF NOT EXISTS _search_scope ON {{schema}}._search USING gin (grp, owner, tsv, tsv_all) WITH (fastupdate = off);
		DROP INDEX IF EXISTS {{schema}}._search_tsv;
		DROP INDEX IF EXISTS {{schema}}._search_tsv_all;
	ELSE
		CREATE INDEX IF NOT EXISTS _search_tsv ON {{schema}}._search USING gin (tsv) WITH (fastupdate = off);
		CREATE INDEX IF NOT EXISTS _search_tsv_all ON {{schema}}._search USING gin (tsv_all) WITH (fastupdate = off);
	END IF;
	IF to_regclass('{{schema}}._text') IS NOT NULL THEN
		ALTER TABLE {{schema}}._text NO FORCE ROW LEVEL SECURITY;
		ALTER TABLE {{schema}}._text DISABLE ROW LEVEL SECURITY;
		INSERT INTO {{schema}}._search (tenant, kind, id, title, body, internal, owner, grp)
			SELECT tenant, kind, id, title, body, internal, owner, grp FROM {{schema}}._text
			ON CONFLICT DO NOTHING;
		DROP TABLE {{schema}}._text;
	END IF;
	IF to_regclass('{{schema}}._search_lexeme') IS NULL THEN
		CREATE TABLE {{schema}}._search_lexeme (
			tenant text COLLATE "C" NOT NULL,
			lexeme text COLLATE "C" NOT NULL,
			PRIMARY KEY (tenant, lexeme)
		);
		INSERT INTO {{schema}}._search_lexeme (tenant, lexeme)
			SELECT DISTINCT tenant, l FROM {{schema}}._search, unnest(tsvector_to_array(tsv_all)) AS l;
		ANALYZE {{schema}}._search_lexeme;
	END IF;
END $pillars$;
`

// ensureText creates the text table and its indexes (moving an earlier
// version's rows into it), and grants the store's role its use.
// Concurrent creations are serialised by an advisory lock of the schema.
func (s *Store) ensureText(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", s.schema+"._search"); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, strings.ReplaceAll(textDDL, "{{schema}}", s.ns)); err != nil {
		return err
	}
	if s.role != "" {
		if _, err := tx.Exec(ctx, "GRANT SELECT, INSERT, UPDATE, DELETE ON "+s.ns+"._search, "+s.ns+"._search_lexeme TO "+quoteIdent(s.role)); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

func undefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P01"
}

// inTextTx runs fn in a transaction scoped to tenant (the store's role and
// the tenant setting), creating the table first when it is missing.
func (s *Store) inTextTx(ctx context.Context, tenant, op string, fn func(pgx.Tx) error) error {
	run := func() error {
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if !s.noScope {
			args := []any{tenant}
			if s.role != "" {
				args = append(args, s.role)
			}
			if _, err := tx.Exec(ctx, s.scopeSQL, args...); err != nil {
				return err
			}
		}
		if err := fn(tx); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}
	err := run()
	if undefinedTable(err) {
		if err = s.ensureText(ctx); err == nil {
			err = run()
		}
	}
	return interpretError(err, op)
}

// IndexText implements storage.TextIndexer: one transaction upserts the
// entries.
func (s *Store) IndexText(ctx context.Context, entries []storage.TextEntry) error {
	if ctx == nil {
		return itsm.Invalidf("postgres: index text: nil context")
	}
	tenant, err := s.tenant(ctx)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := e.Check(); err != nil {
			return err
		}
	}
	if len(entries) == 0 {
		return nil
	}
	err = s.inTextTx(ctx, tenant, "index text", func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		texts := make([]string, 0, 3*len(entries))
		for _, e := range entries {
			b.Queue(`INSERT INTO `+s.ns+`._search (tenant, kind, id, title, body, internal, owner, grp) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (tenant, kind, id) DO UPDATE SET title = EXCLUDED.title, body = EXCLUDED.body, internal = EXCLUDED.internal, owner = EXCLUDED.owner, grp = EXCLUDED.grp`,
				tenant, e.Kind, e.ID, e.Number+" "+e.Title, e.Public, e.Internal, e.Owner, e.Group)
			texts = append(texts, e.Number+" "+e.Title, e.Public, e.Internal)
		}
		// The lexemes of the three texts, as the generated columns parse
		// them, in order, so that concurrent writers wait on one another
		// rather than deadlock (see prefixTerm).
		b.Queue(`INSERT INTO `+s.ns+`._search_lexeme (tenant, lexeme)
SELECT DISTINCT $1::text, l FROM unnest($2::text[]) AS x, unnest(tsvector_to_array(to_tsvector('simple', x))) AS l
ORDER BY 2 ON CONFLICT DO NOTHING`, tenant, texts)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return err
	}
	return s.analyzeText(ctx, len(entries))
}

// analyzeText refreshes the planner's statistics of the text table when
// the rows changed since they were last gathered reach a tenth of the
// table (or it has none yet), after a write of at least 500 entries (a
// bulk load, a first index): with stale statistics the planner walks the
// tenant's key and tests every row instead of asking the GIN index, which
// measured 67 ms against 10 ms over 20,000 entries. It is autovacuum's
// rule, applied at once rather than when autovacuum comes round.
func (s *Store) analyzeText(ctx context.Context, n int) error {
	if n < 500 {
		return nil
	}
	var tuples float64
	var changed int64
	err := s.pool.QueryRow(ctx, `SELECT c.reltuples, coalesce(st.n_mod_since_analyze, 0)
FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_stat_user_tables st ON st.relid = c.oid
WHERE c.oid = $1::regclass`, s.ns+"._search").Scan(&tuples, &changed)
	if err != nil {
		return interpretError(err, "index text: statistics")
	}
	if tuples >= 0 && float64(max(changed, int64(n))) < tuples/10 {
		return nil
	}
	if err := s.ensureText(ctx); err != nil { // indexes added since the table was made
		return interpretError(err, "index text: create indexes")
	}
	_, err = s.pool.Exec(ctx, "ANALYZE "+s.ns+"._search")
	return interpretError(err, "index text: analyze")
}

// RemoveText implements storage.TextIndexer.
func (s *Store) RemoveText(ctx context.Context, kind string, ids []string) error {
	if ctx == nil {
		return itsm.Invalidf("postgres: remove text: nil context")
	}
	tenant, err := s.tenant(ctx)
	if err != nil {
		return err
	}
	if !storage.ValidName(kind) {
		return itsm.Invalidf("search: kind %q is not a lower-case identifier", kind)
	}
	return s.inTextTx(ctx, tenant, "remove text", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM `+s.ns+`._search WHERE tenant = $1 AND kind = $2 AND id = ANY($3)`, tenant, kind, ids)
		return err
	})
}

// tsQuery builds the tsquery text of checked terms: each a quoted lexeme
// (a term holds letters and digits only, so no quote can close it early
// and no operator survives), the last a prefix, all required.
func tsQuery(terms []string) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = "'" + t + "'"
		if i == len(terms)-1 {
			parts[i] += ":*"
		}
	}
	return strings.Join(parts, " & ")
}

// SearchText implements storage.TextIndexer, ranked by ts_rank with the
// weights of title, public and internal text, over the newest
// searchWindow matches.
func (s *Store) SearchText(ctx context.Context, q storage.TextQuery) ([]storage.TextHit, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("postgres: search text: nil context")
	}
	tenant, err := s.tenant(ctx)
	if err != nil {
		return nil, err
	}
	if err := q.Check(); err != nil {
		return nil, err
	}
	sql, args := s.searchSQL(tenant, q)
	hits, err := s.searchText(ctx, tenant, sql, args)
	if undefinedTable(err) {
		// Nothing indexed yet, or indexed by an earlier version (textDDL).
		if err = s.ensureText(ctx); err == nil {
			hits, err = s.searchText(ctx, tenant, sql, args)
		}
	}
	return hits, interpretError(err, "search text")
}

// searchText runs the statement in one round trip: the tenant's scope,
// custom plans (a generic plan knows neither the terms nor the tenant and
// scans by the tenant's key; planned for the values, the GIN index is
// used), work memory enough that the GIN index's bitmap of a prefix in a
// tenth of a million entries stays exact (with the default 4 MB it turned
// lossy and the scoped search rechecked 370,000 rows), and the statement,
// pipelined in one implicit transaction.
func (s *Store) searchText(ctx context.Context, tenant, sql string, args []any) ([]storage.TextHit, error) {
	b := &pgx.Batch{}
	n := s.scope(b, tenant)
	b.Queue("SELECT set_config('plan_cache_mode', 'force_custom_plan', true), set_config('work_mem', '64MB', true)")
	b.Queue(sql, args...)
	br := s.pool.SendBatch(ctx, b)
	defer func() { _ = br.Close() }()
	for range n + 1 {
		if _, err := br.Exec(); err != nil {
			return nil, err
		}
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var hits []storage.TextHit
	for rows.Next() {
		var h storage.TextHit
		var score float32
		if err := rows.Scan(&h.Kind, &h.ID, &score); err != nil {
			return nil, err
		}
		h.Score = float64(score)
		hits = append(hits, h)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return hits, br.Close()
}

// searchSQL returns the statement of a checked query and its arguments;
// the tenant is the call's, always the first argument.
//
// The statement first works out the condition its branches match with
// (prefixExpansions): the last term's prefix turned into the few exact
// lexemes it covers, or the prefix itself. The condition reaches the
// branches as the value of a subquery, so the planner estimates it at a
// fixed selectivity whatever the word and whatever the table's statistics
// say: the plan of every branch is the same for every query, chosen by
// the statement's shape rather than the estimates (the planner once
// walked the key of a million entries for a common word on stale
// statistics, 270 ms). The ranking is computed with the query as typed,
// so scores are those of the prefix query.
//
// A prefix no lexeme of the tenant starts with matches nothing: the
// branches then skip their walks (only the index is asked, and has no
// entry for it).
//
// Each kind is one branch with its own kind equality and scope, which
// decides at run time how to reach the newest searchWindow matches of the
// kind (and of the actor's scope, if any) from how many it finds among
// the newest scopeWalk entries (the walk): all of the window there, the
// walk is the answer; at least scopeDense there, a longer walk of the
// newest denseWalk entries, when it holds the window; otherwise every
// match is fetched through the GIN index (the subquery behind OFFSET 0 is
// planned without the order) and the newest kept. A walk's length is the
// value of a subquery, which the planner takes for a tenth of the rows
// whatever it is: as a number, one at least the kind's rows made it sort
// the whole kind rather than walk its key (80 ms against 10 over 20,000
// entries). Whichever way, the branch yields the newest searchWindow
// matches. The fetch tests the
// tenant and the kind on the rows the index gives (the index holds
// neither), outside the subquery, so that no estimate of them makes the
// planner intersect the index with the key's range of the tenant: with
// the statistics missing it did, and read a million keys (270 ms).
func (s *Store) searchSQL(tenant string, q storage.TextQuery) (string, []any) {
	col := "tsv"
	if q.Internal {
		col = "tsv_all"
	}
	last := q.Terms[len(q.Terms)-1]
	args := []any{tenant, tsQuery(q.Terms), q.Limit, q.Offset, "'" + last + "'", last, prefixEnd(last)}
	// The lexemes as tsquery text: quoted, quotes and backslashes doubled,
	// read by the tsquery type itself (no parser, no configuration).
	words := `string_agg('''' || replace(replace(lexeme, '\', '\\'), '''', '''''') || '''', ' | ')::tsquery`
	expanded := "e.words"
	if len(q.Terms) > 1 {
		args = append(args, strings.TrimSuffix(tsQuery(q.Terms[:len(q.Terms)-1]), ":*")) // the others, exact
		expanded = "to_tsquery('simple', $8) && e.words"
	}
	expand := strconv.Itoa(prefixExpansions)
	matchCTE := `WITH match AS MATERIALIZED (
	SELECT CASE WHEN e.n BETWEEN 1 AND ` + expand + ` AND to_tsquery('simple', $5)::text = $5 THEN ` + expanded + `
		ELSE to_tsquery('simple', $2) END AS q,
		e.n = 0 AND to_tsquery('simple', $5)::text = $5 AS none
	FROM (SELECT count(*) AS n, ` + words + ` AS words
		FROM (SELECT lexeme FROM ` + s.ns + `._search_lexeme WHERE tenant = $1 AND lexeme >= $6 AND lexeme < $7 AND starts_with(lexeme, $6)
			ORDER BY lexeme LIMIT ` + expand + ` + 1) AS l) AS e)
`
	window, walk, far, dense := strconv.Itoa(searchWindow), strconv.Itoa(scopeWalk), strconv.Itoa(denseWalk), strconv.Itoa(scopeDense)
	branches := make([]string, 0, len(q.Kinds))
	for _, k := range q.Kinds {
		args = append(args, k)
		where := `tenant = $1 AND kind = $` + strconv.Itoa(len(args))
		var scope string
		for _, sc := range q.Scopes {
			if sc.Kind != k {
				continue
			}
			c := "owner"
			if sc.Field == "group" {
				c = "grp"
			}
			args = append(args, sc.Values)
			scope += ` AND ` + c + ` = ANY($` + strconv.Itoa(len(args)) + `)`
		}
		match := col + ` @@ (SELECT q FROM match)` + scope
		newest := func(n string) string {
			return `SELECT kind, id, ` + col + ` FROM (SELECT kind, id, owner, grp, ` + col + ` FROM ` + s.ns + `._search
			WHERE ` + where + ` AND NOT (SELECT none FROM match) ORDER BY id DESC LIMIT (SELECT ` + n + `)) AS newest
		WHERE ` + match + ` ORDER BY id DESC LIMIT ` + window
		}
		branches = append(branches, `(WITH walk AS MATERIALIZED (
		`+newest(walk)+`),
	far AS MATERIALIZED (
		`+newest(far)+`)
	SELECT * FROM walk WHERE (SELECT count(*) FROM walk) = `+window+`
	UNION ALL
	SELECT * FROM far WHERE (SELECT count(*) FROM walk) BETWEEN `+dense+` AND `+window+` - 1 AND (SELECT count(*) FROM far) = `+window+`
	UNION ALL
	(SELECT kind, id, `+col+` FROM (SELECT tenant, kind, id, `+col+` FROM `+s.ns+`._search
		WHERE `+match+` OFFSET 0) AS every
	WHERE `+where+` AND ((SELECT count(*) FROM walk) < `+dense+` OR (SELECT count(*) FROM walk) < `+window+` AND (SELECT count(*) FROM far) < `+window+`)
	ORDER BY id DESC LIMIT `+window+`))`)
	}
	return matchCTE + `SELECT kind, id, ts_rank('{0.2, 0.2, 0.4, 1.0}', ` + col + `, query) AS score
FROM (` + strings.Join(branches, "\nUNION ALL ") + `) AS w, to_tsquery('simple', $2) AS query
ORDER BY score DESC, kind, id LIMIT $3 OFFSET $4`, args
}

// prefixEnd returns the least string above every string that starts with
// p in byte order (COLLATE "C", in which UTF-8 sorts by code point): p
// with its last character the next one.
func prefixEnd(p string) string {
	r := []rune(p)
	for len(r) > 0 {
		switch c := r[len(r)-1]; {
		case c == utf8.MaxRune:
			r = r[:len(r)-1]
			continue
		case c == 0xD7FF: // the next is a surrogate, not a character
			r[len(r)-1] = 0xE000
		default:
			r[len(r)-1] = c + 1
		}
		return string(r)
	}
	return string(utf8.MaxRune) // not reached by a term of letters and digits
}

// prefixExpansions is how many lexemes the last term's prefix may cover to
// be matched as those lexemes, exactly, rather than as a prefix. The GIN
// index answers a prefix by gathering every entry of every lexeme it
// covers before it intersects them with the other conditions (the scope,
// the other words), while along exact lexemes it skips: a word in a tenth
// of a million tickets, searched by an agent of a group that holds none of
// them, took 64–72 ms p95 as a prefix and 11 ms as the word. The lexemes
// come from _search_lexeme, which holds every lexeme indexed in each
// tenant (IndexText adds those of each entry; none are removed, so it may
// hold a few that no entry holds any more, which match nothing): matched
// as those lexemes, the prefix finds exactly the entries it found as a
// prefix, and the ranking still uses the prefix. A prefix of more lexemes
// (a letter or two) is matched as a prefix, as is a term the text-search
// parser does not read as one lexeme (it splits a few mixes of letters
// and digits, such as 1e5x).
const prefixExpansions = 16

// searchWindow is how many of a query's matches of each kind SearchText
// ranks: those with the greatest ids, the newest records (itsm.NewID
// issues ids in time order). ts_rank reads and ranks the text of each row
// it scores, which made a word in a tenth of a million tickets cost over a
// second; matches beyond the window are not returned (a query matching
// more is one to narrow), and the pages of one query are stable while the
// entries do not change.
const searchWindow = 1000

// scopeWalk is how many of the newest entries of a kind a branch walks
// before it decides how to find the rest of the window (searchSQL). The
// planner estimates the scope and the word as independent, and walked the
// key of a million tickets to find none when the word was in a tenth of
// them but never in the agent's group (625 ms p95); walking a bounded
// stretch of the newest entries finds the window when the matches are
// dense (a fifth of the entries), and otherwise tells how dense they are.
const scopeWalk = 5000

// scopeDense is how many matches among the newest scopeWalk entries (1%)
// make a branch that did not find the whole window there walk on, up to
// the newest denseWalk entries, rather than fetch every match through the
// index: at a hundredth of a million entries both read about as many
// pages, and the fetch grows with the matches while the walk shrinks.
const scopeDense = 50

// denseWalk bounds the longer walk to as many entries as hold the window
// at the density scopeDense stands for: a word dense among the newest
// entries and rare before them is fetched through the index once the walk
// has not found the window, so no walk is of the whole kind.
const denseWalk = searchWindow * scopeWalk / scopeDense
