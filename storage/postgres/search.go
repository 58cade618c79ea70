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
		if _, err := tx.Exec(ctx, "GRANT SELECT, INSERT, UPDATE, DELETE ON "+s.ns+"._search TO "+quoteIdent(s.role)); err != nil {
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
		for _, e := range entries {
			b.Queue(`INSERT INTO `+s.ns+`._search (tenant, kind, id, title, body, internal, owner, grp) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (tenant, kind, id) DO UPDATE SET title = EXCLUDED.title, body = EXCLUDED.body, internal = EXCLUDED.internal, owner = EXCLUDED.owner, grp = EXCLUDED.grp`,
				tenant, e.Kind, e.ID, e.Number+" "+e.Title, e.Public, e.Internal, e.Owner, e.Group)
		}
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
// the tenant is the call's, always the first argument. Each kind is one
// branch with its own kind equality and scope, so the planner can walk
// the key (tenant, kind, id) backwards, newest first, for a broad word, or
// ask the GIN index for a rare one; the window is taken per kind. A
// scoped branch does not leave that choice to the planner (see
// scopeWalk): it walks the newest scopeWalk entries of the kind, and only
// when they hold fewer than searchWindow of the actor's matches does it
// fetch every match of the scope (the subquery behind OFFSET 0 is planned
// without the order, through the GIN indexes) and keep the newest; either
// way the branch yields the newest searchWindow matches of the scope.
func (s *Store) searchSQL(tenant string, q storage.TextQuery) (string, []any) {
	col := "tsv"
	if q.Internal {
		col = "tsv_all"
	}
	args := []any{tenant, tsQuery(q.Terms), q.Limit, q.Offset}
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
		match := col + ` @@ to_tsquery('simple', $2)`
		if scope == "" {
			branches = append(branches, `(SELECT kind, id, `+col+` FROM `+s.ns+`._search
	WHERE `+where+` AND `+match+`
	ORDER BY id DESC LIMIT `+strconv.Itoa(searchWindow)+`)`)
			continue
		}
		window, walk, dense := strconv.Itoa(searchWindow), strconv.Itoa(scopeWalk), strconv.Itoa(scopeDense)
		branches = append(branches, `(WITH walk AS MATERIALIZED (
		SELECT kind, id, `+col+` FROM (SELECT kind, id, owner, grp, `+col+` FROM `+s.ns+`._search
			WHERE `+where+` ORDER BY id DESC LIMIT `+walk+`) AS newest
		WHERE `+match+scope+` ORDER BY id DESC LIMIT `+window+`)
	SELECT * FROM walk WHERE (SELECT count(*) FROM walk) = `+window+`
	UNION ALL
	(SELECT kind, id, `+col+` FROM `+s.ns+`._search
	WHERE `+where+` AND `+match+scope+` AND (SELECT count(*) FROM walk) BETWEEN `+dense+` AND `+window+` - 1
	ORDER BY id DESC LIMIT `+window+`)
	UNION ALL
	(SELECT kind, id, `+col+` FROM (SELECT kind, id, `+col+` FROM `+s.ns+`._search
		WHERE `+where+` AND `+match+scope+` OFFSET 0) AS every
	WHERE (SELECT count(*) FROM walk) < `+dense+`
	ORDER BY id DESC LIMIT `+window+`))`)
	}
	return `SELECT kind, id, ts_rank('{0.2, 0.2, 0.4, 1.0}', ` + col + `, query) AS score
FROM (` + strings.Join(branches, "\nUNION ALL ") + `) AS w, to_tsquery('simple', $2) AS query
ORDER BY score DESC, kind, id LIMIT $3 OFFSET $4`, args
}

// searchWindow is how many of a query's matches of each kind SearchText
// ranks: those with the greatest ids, the newest records (itsm.NewID issues ids in time
// order). ts_rank reads and ranks the text of each row it scores, which
// made a word in a tenth of a million tickets cost over a second; matches
// beyond the window are not returned (a query matching more is one to
// narrow), and the pages of one query are stable while the entries do not
// change. The planner walks the key backwards for a broad word and asks
// the GIN index for a rare one.
const searchWindow = 1000

// scopeWalk is how many of the newest entries of a kind a scoped branch
// (an actor who reads some owners' or groups' records only) walks before
// it turns to the index. The planner estimates the scope and the word as
// independent, and walked the key of a million tickets to find none when
// the word was in a tenth of them but never in the agent's group (625 ms
// p95); walking a bounded stretch of the newest entries finds the window
// when the actor's matches are dense (a tenth of them or more), and
// otherwise the matches are few enough to fetch through the index of the
// scope and the text (_search_scope, btree_gin) and sort.
const scopeWalk = 5000

// scopeDense is how many of the actor's matches among the newest
// scopeWalk entries (1%) make a scoped branch that did not find the whole
// window there leave the plan to the planner (which walks the key for so
// broad a word) rather than fetch every match of the scope through the
// index: at a hundredth of a million entries both read about as many
// pages, and the fetch grows with the matches while the walk shrinks.
const scopeDense = 50
