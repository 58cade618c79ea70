package sqlite

// Full-text search (storage.TextIndexer) on an FTS5 table. The tables are
// created by the first IndexText (CREATE ... IF NOT EXISTS), not by a
// numbered migration, so a store that never indexes text carries none of
// them; migration 3 (textAudience, in search_audience.go) rebuilds the
// FTS5 table of a file indexed before it held the audience column.

import (
	"context"
	"database/sql"
	"strings"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

var _ storage.TextIndexer = (*Store)(nil)

// textDDL creates the text index: pillars_text maps (tenant, kind, id) to
// a rowid, pillars_text_fts holds the text under the same rowid. The FTS5
// table keeps its own copy of the text (not external content) so a row is
// deleted by rowid alone. Its aud column holds the entry's audience tokens
// (see audTokens), which SearchText matches together with the words so
// that FTS5 itself keeps only the entries of the tenant, kinds and read
// scope of a query.
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
`

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
	for _, e := range entries {
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
			rowid, e.Number+" "+e.Title, e.Public, e.Internal, audTokens(tenant, e.Kind, e.Owner, e.Group)); err != nil {
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

// ftsMatch builds the FTS5 query of a checked query in tenant: its words
// in the text columns and its audience (audMatch) in the aud column, both
// required, so that FTS5 intersects the words' posting lists with the
// audience's and hands out only entries the query may return. Each word is
// a quoted string (a term holds letters and digits only, so no quote can
// close it early), the last a prefix, all required; without internal the
// words are matched in the title and body columns only. The words never
// reach the aud column, and no word can spell an audience token (see
// audToken).
func ftsMatch(tenant string, q storage.TextQuery) string {
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
	b.WriteString(") AND aud : (")
	audMatch(&b, tenant, q)
	b.WriteByte(')')
	return b.String()
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
// searchWindow matches (see searchSQL).
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
	query, args := searchSQL(tenant, q)
	rows, err := s.r.QueryContext(ctx, query, args...)
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

// searchSQL returns SearchText's statement of a checked query and its
// arguments. The inner statement walks the matches newest first (FTS5
// hands out rowids in either order without sorting) and stops at
// searchWindow; bm25 is computed for those rows only, and the outer
// statement ranks them. A word in a tenth of a million tickets thus costs
// a thousand rows, not 100,000. FTS5 matches only entries of the tenant,
// kinds and scopes (ftsMatch), so a broad word outside an agent's groups
// is an intersection of posting lists, not a walk over every match reading
// each one's mapping row; the mapping row's tenant, kind and scope columns
// are still checked for the rows FTS5 returns. The aud column weighs
// nothing in bm25; its tokens do count in the entry's length, which bm25
// normalises by (every entry has three, see audTokens).
func searchSQL(tenant string, q storage.TextQuery) (string, []any) {
	args := []any{ftsMatch(tenant, q), tenant}
	marks := make([]string, len(q.Kinds))
	for i, k := range q.Kinds {
		marks[i] = "?"
		args = append(args, k)
	}
	var scopes strings.Builder
	for _, sc := range q.Scopes {
		col := "m.owner"
		if sc.Field == "group" {
			col = "m.grp"
		}
		scopes.WriteString(" AND (m.kind <> ? OR " + col + " IN (" + strings.TrimSuffix(strings.Repeat("?,", len(sc.Values)), ",") + "))")
		args = append(args, sc.Kind)
		for _, v := range sc.Values {
			args = append(args, v)
		}
	}
	args = append(args, searchWindow, q.Limit, q.Offset)
	return `SELECT kind, id, score FROM (
	SELECT m.kind AS kind, m.id AS id, -bm25(pillars_text_fts, 3.0, 1.0, 1.0, 0.0) AS score
	FROM pillars_text_fts JOIN pillars_text m ON m.rowid = pillars_text_fts.rowid
	WHERE pillars_text_fts MATCH ? AND m.tenant = ? AND m.kind IN (` + strings.Join(marks, ",") + `)` + scopes.String() + `
	ORDER BY pillars_text_fts.rowid DESC LIMIT ?)
ORDER BY score DESC, kind, id LIMIT ? OFFSET ?`, args
}
