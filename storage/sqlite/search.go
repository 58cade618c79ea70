package sqlite

// Full-text search (storage.TextIndexer) on an FTS5 table. The tables are
// created by the first IndexText (CREATE ... IF NOT EXISTS), not by a
// numbered migration, so a store that never indexes text carries none of
// them; migration 3 (textAudience, in search_audience.go) rebuilds the
// FTS5 table of a file indexed before it held the audience column.

import (
	"context"
	"database/sql"
	"strconv"
	"strings"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

var _ storage.TextIndexer = (*Store)(nil)

// textDDL creates the text index: pillars_text maps (tenant, kind, id) to
// a rowid, pillars_text_fts holds the text under the same rowid. The FTS5
// table keeps its own copy of the text (not external content) so a row is
// deleted by rowid alone. Its aud column holds the entry's audience tokens
// (see audToken and audDDL), which a scoped search matches together with
// the words so that FTS5 itself keeps only the entries of the tenant,
// kinds and read scope of the query.
const textDDL = `
CREATE TABLE IF NOT EXISTS pillars_text (
	rowid  INTEGER PRIMARY KEY,
	tenant TEXT NOT NULL,
	kind   TEXT NOT NULL,
	id     TEXT NOT NULL,
	owner  TEXT NOT NULL DEFAULT '',
	grp    TEXT NOT NULL DEFAULT '',
	UNIQUE (tenant, kind, id)
);
CREATE VIRTUAL TABLE IF NOT EXISTS pillars_text_fts USING ` + ftsColumns + `;
` + audDDL

// ftsColumns declares the FTS5 table's columns and tokenizer.
const ftsColumns = `fts5(title, body, internal, aud, tokenize = 'unicode61 remove_diacritics 0')`

// IndexText implements storage.TextIndexer: one transaction on the writer
// connection replaces the entries' rows.
func (s *Store) IndexText(ctx context.Context, entries []storage.TextEntry) (err error) {
	ctx = orBackground(ctx)
	if err := s.check(); err != nil {
		return err
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
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.fail("index text", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, textDDL); err != nil {
		return s.fail("index text: create tables", err)
	}
	ids := audIDs{}
	for _, e := range entries {
		aud, err := ids.tokens(ctx, tx, tenant, e.Kind, e.Owner, e.Group)
		if err != nil {
			return s.fail("index text", err)
		}
		if err := removeText(ctx, tx, tenant, e.Kind, e.ID); err != nil {
			return s.fail("index text", err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO pillars_text (tenant, kind, id, owner, grp) VALUES (?, ?, ?, ?, ?)`, tenant, e.Kind, e.ID, e.Owner, e.Group)
		if err != nil {
			return s.fail("index text", err)
		}
		rowid, err := res.LastInsertId()
		if err != nil {
			return s.fail("index text", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO pillars_text_fts (rowid, title, body, internal, aud) VALUES (?, ?, ?, ?, ?)`,
			rowid, e.Number+" "+e.Title, e.Public, e.Internal, aud); err != nil {
			return s.fail("index text", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return s.fail("index text: commit", err)
	}
	return nil
}

func removeText(ctx context.Context, tx *sql.Tx, tenant, kind, id string) error {
	var rowid int64
	err := tx.QueryRowContext(ctx, `SELECT rowid FROM pillars_text WHERE tenant = ? AND kind = ? AND id = ?`, tenant, kind, id).Scan(&rowid)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM pillars_text_fts WHERE rowid = ?`, rowid); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM pillars_text WHERE rowid = ?`, rowid)
	return err
}

// RemoveText implements storage.TextIndexer.
func (s *Store) RemoveText(ctx context.Context, kind string, ids []string) (err error) {
	ctx = orBackground(ctx)
	if err := s.check(); err != nil {
		return err
	}
	tenant, err := s.tenant(ctx)
	if err != nil {
		return err
	}
	if !storage.ValidName(kind) {
		return itsm.Invalidf("search: kind %q is not a lower-case identifier", kind)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.fail("remove text", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, textDDL); err != nil {
		return s.fail("remove text: create tables", err)
	}
	for _, id := range ids {
		if err := removeText(ctx, tx, tenant, kind, id); err != nil {
			return s.fail("remove text", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return s.fail("remove text: commit", err)
	}
	return nil
}

// ftsWords builds the FTS5 expression of a checked query's words: each
// one a quoted string (a term holds letters and digits only, so no quote
// can close it early), the last a prefix, all required, in the title and
// body columns, and the internal one too with internal. The words never
// reach the aud column, and no word can spell an audience token (see
// audMark).
func ftsWords(q storage.TextQuery) string {
	var b strings.Builder
	if q.Internal {
		b.WriteString("{title body internal} : (")
	} else {
		b.WriteString("{title body} : (")
	}
	for i, t := range q.Terms {
		if i > 0 {
			b.WriteString(" AND ")
		}
		b.WriteByte('"')
		b.WriteString(t)
		b.WriteByte('"')
		if i == len(q.Terms)-1 {
			b.WriteByte('*')
		}
	}
	b.WriteByte(')')
	return b.String()
}

// ftsMatch builds the FTS5 expression of a checked query in tenant: its
// words (ftsWords) and, in the aud column, its audience (audMatch of the
// ids audLookup read), both required, so that FTS5 intersects the words'
// posting lists with the audience's and hands out only entries the query
// may return; false when no entry can match.
func ftsMatch(tenant string, q storage.TextQuery, ids audIDs) (string, bool) {
	var b strings.Builder
	b.WriteString(ftsWords(q))
	b.WriteString(" AND aud : (")
	ok := audMatch(&b, tenant, q, ids)
	b.WriteByte(')')
	return b.String(), ok
}

// searchWindow is how many of a query's matches SearchText ranks: the
// newest (most recently indexed: created or changed) of the tenant's
// entries the query, its kinds and its scopes match. Ranking every match
// made a word in a tenth of a million tickets cost one to two and a half
// seconds; matches beyond the window are not returned (a query matching
// more is one to narrow), and the pages of one query are stable while the
// entries do not change.
const searchWindow = 1000

// SearchText implements storage.TextIndexer with FTS5's bm25 (the title,
// which holds the number too, weighs three times the rest) over the newest
// searchWindow matches: in one statement (searchSQL) for a query without
// scopes, in two for a scoped one (windowSQL, then scopedSQL), which read
// one snapshot. The aud column weighs nothing in bm25, but its three
// tokens count in every entry's length, by which bm25 normalises: scores
// differ from those of the layout before migration 3 by about one percent
// at most, which reorders near ties (at a million tickets, 22 of 300
// first pages).
func (s *Store) SearchText(ctx context.Context, q storage.TextQuery) ([]storage.TextHit, error) {
	ctx = orBackground(ctx)
	if err := s.check(); err != nil {
		return nil, err
	}
	tenant, err := s.tenant(ctx)
	if err != nil {
		return nil, err
	}
	if err := q.Check(); err != nil {
		return nil, err
	}
	if len(q.Scopes) == 0 {
		query, args := searchSQL(tenant, q)
		return s.textHits(ctx, s.r, query, args)
	}
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.fail("search text", err)
	}
	defer tx.Rollback() // read only
	lo, hi, ids, err := scopedWindow(ctx, tx, tenant, q)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return nil, nil // nothing indexed yet
		}
		return nil, s.fail("search text", err)
	}
	if ids == "" {
		return nil, nil
	}
	query, args := scopedSQL(tenant, q, lo, hi, ids)
	return s.textHits(ctx, tx, query, args)
}

// scopedWindow returns the window of a scoped query (windowSQL): its
// lowest and highest rowid and its rowids as a JSON array, "" when it is
// empty.
func scopedWindow(ctx context.Context, tx *sql.Tx, tenant string, q storage.TextQuery) (lo, hi int64, ids string, err error) {
	aud, err := audLookup(ctx, tx, tenant, q)
	if err != nil {
		return 0, 0, "", err
	}
	query, args, ok := windowSQL(tenant, q, aud)
	if !ok {
		return 0, 0, "", nil
	}
	return textWindow(ctx, tx, query, args)
}

// textHits runs a statement of kind, id and score rows.
func (s *Store) textHits(ctx context.Context, db interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args []any) ([]storage.TextHit, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return nil, nil // nothing indexed yet
		}
		return nil, s.fail("search text", err)
	}
	defer rows.Close()
	var hits []storage.TextHit
	for rows.Next() {
		var h storage.TextHit
		if err := rows.Scan(&h.Kind, &h.ID, &h.Score); err != nil {
			return nil, s.fail("search text", err)
		}
		hits = append(hits, h)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("search text", err)
	}
	return hits, nil
}

// textWindow runs windowSQL and returns the lowest and highest rowid of
// the window and its rowids as a JSON array, "" when it is empty.
func textWindow(ctx context.Context, tx *sql.Tx, query string, args []any) (lo, hi int64, ids string, err error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, 0, "", err
	}
	defer rows.Close()
	var b []byte
	for rows.Next() {
		var r int64
		if err := rows.Scan(&r); err != nil {
			return 0, 0, "", err
		}
		if b == nil {
			hi, b = r, append(b, '[')
		} else {
			b = append(b, ',')
		}
		lo, b = r, strconv.AppendInt(b, r, 10)
	}
	if err := rows.Err(); err != nil {
		return 0, 0, "", err
	}
	if b == nil {
		return 0, 0, "", nil
	}
	return lo, hi, string(append(b, ']')), nil
}

// searchSQL returns SearchText's statement of a checked query without
// scopes and its arguments. The inner statement walks the matches newest
// first (FTS5 hands out rowids in either order without sorting), keeps
// those of the tenant and kinds, and stops at searchWindow; bm25 is
// computed for those rows only, and the outer statement ranks them. A word
// in a tenth of a million tickets thus costs a thousand rows, not 100,000.
func searchSQL(tenant string, q storage.TextQuery) (string, []any) {
	args := []any{ftsWords(q)}
	filter := mappingFilter(tenant, q, &args)
	args = append(args, searchWindow, q.Limit, q.Offset)
	return `SELECT kind, id, score FROM (
	SELECT m.kind AS kind, m.id AS id, -bm25(pillars_text_fts, 3.0, 1.0, 1.0, 0.0) AS score
	FROM pillars_text_fts JOIN pillars_text m ON m.rowid = pillars_text_fts.rowid
	WHERE pillars_text_fts MATCH ?` + filter + `
	ORDER BY pillars_text_fts.rowid DESC LIMIT ?)
ORDER BY score DESC, kind, id LIMIT ? OFFSET ?`, args
}

// mappingFilter returns the conditions on the mapping row m of a query's
// tenant, kinds and scopes, appending their arguments.
func mappingFilter(tenant string, q storage.TextQuery, args *[]any) string {
	var b strings.Builder
	b.WriteString(" AND m.tenant = ? AND m.kind IN (")
	*args = append(*args, tenant)
	for i, k := range q.Kinds {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('?')
		*args = append(*args, k)
	}
	b.WriteByte(')')
	for _, sc := range q.Scopes {
		col := "m.owner"
		if sc.Field == "group" {
			col = "m.grp"
		}
		b.WriteString(" AND (m.kind <> ? OR " + col + " IN (" + strings.TrimSuffix(strings.Repeat("?,", len(sc.Values)), ",") + "))")
		*args = append(*args, sc.Kind)
		for _, v := range sc.Values {
			*args = append(*args, v)
		}
	}
	return b.String()
}

// windowSQL returns the first statement of a scoped query: the rowids of
// the newest searchWindow entries FTS5 matches with the words and the
// audience (ftsMatch), newest first. The intersection of posting lists
// replaces the walk over every match reading its mapping row, which a
// broad word outside an agent's groups made a walk over 100,000 rows at a
// million tickets (see TestSearchScale). bm25 is not computed here: it
// weighs every phrase of the expression by the rows holding it, which for
// an audience token is a quarter or all of the index. False: no entry
// can match (an audience nobody carries).
func windowSQL(tenant string, q storage.TextQuery, aud audIDs) (string, []any, bool) {
	match, ok := ftsMatch(tenant, q, aud)
	return `SELECT rowid FROM pillars_text_fts WHERE pillars_text_fts MATCH ? ORDER BY rowid DESC LIMIT ?`,
		[]any{match, searchWindow}, ok
}

// scopedSQL returns the second statement of a scoped query: the entries of
// the window (ids, a JSON array of rowids from lo to hi) ranked by bm25 of
// the words alone, as searchSQL ranks, their mapping rows checked against
// the tenant, kinds and scopes as searchSQL checks them.
func scopedSQL(tenant string, q storage.TextQuery, lo, hi int64, ids string) (string, []any) {
	args := []any{ftsWords(q), lo, hi, ids}
	filter := mappingFilter(tenant, q, &args)
	args = append(args, q.Limit, q.Offset)
	return `SELECT m.kind, m.id, -bm25(pillars_text_fts, 3.0, 1.0, 1.0, 0.0) AS score
FROM pillars_text_fts JOIN pillars_text m ON m.rowid = pillars_text_fts.rowid
WHERE pillars_text_fts MATCH ? AND pillars_text_fts.rowid BETWEEN ? AND ?
	AND +pillars_text_fts.rowid IN (SELECT value FROM json_each(?))` + filter + `
ORDER BY score DESC, m.kind, m.id LIMIT ? OFFSET ?`, args
}
