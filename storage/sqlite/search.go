package sqlite

// Full-text search (storage.TextIndexer) on an FTS5 table. The tables are
// created by the first IndexText (CREATE ... IF NOT EXISTS), not by a
// numbered migration, so a store that never indexes text carries none of
// them and the migration sequence stays free for the document tables.

import (
	"context"
	"database/sql"
	"encoding/hex"
	"strings"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

var _ storage.TextIndexer = (*Store)(nil)

// textDDL creates the text index: pillars_text maps (tenant, kind, id) to
// a rowid, pillars_search holds the text under the same rowid. The FTS5
// table keeps its own copy of the text (not external content) so a row is
// deleted by rowid alone.
//
// Its meta column holds one token each for the entry's tenant, kind, owner
// and group (a letter and the value's bytes in hex, see metaToken), so
// that the tenant, the kinds and a read scope are matched inside FTS5,
// where doclists intersect, rather than row by row after it: a word in a
// tenth of a million tickets, none of them in an agent's group, costs a
// doclist merge instead of 100,000 lookups. The column weighs nothing in
// the ranking and user terms never reach it.
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
CREATE VIRTUAL TABLE IF NOT EXISTS pillars_search USING fts5(title, body, internal, meta, tokenize = 'unicode61 remove_diacritics 0');
`

// upgradeDDL moves the entries an earlier version kept in
// pillars_text_fts (without the meta column) into pillars_search; the
// meta tokens are computed as metaToken computes them.
const upgradeDDL = `
INSERT INTO pillars_search (rowid, title, body, internal, meta)
SELECT f.rowid, f.title, f.body, f.internal, 't' || hex(m.tenant) || ' k' || hex(m.kind) || ' o' || hex(m.owner) || ' g' || hex(m.grp)
FROM pillars_text_fts f JOIN pillars_text m ON m.rowid = f.rowid;
DROP TABLE pillars_text_fts;
`

// metaToken is the meta column's token of a value: a letter naming what
// it is (t tenant, k kind, o owner, g group) and the value's bytes in
// upper-case hex, as SQLite's hex() writes them, so any value is one token
// of letters and digits and no two values share one.
func metaToken(what byte, v string) string {
	return string(what) + strings.ToUpper(hex.EncodeToString([]byte(v)))
}

// ensureText creates the text tables in tx, moving an earlier version's
// entries into them.
func ensureText(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, textDDL); err != nil {
		return err
	}
	var old int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'pillars_text_fts'`).Scan(&old); err != nil {
		return err
	}
	if old > 0 {
		if _, err := tx.ExecContext(ctx, upgradeDDL); err != nil {
			return err
		}
	}
	return nil
}

// upgradeText moves the entries of an earlier version's text table into
// the current one (ensureText) and reports whether there was one.
func (s *Store) upgradeText(ctx context.Context) (moved bool, err error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, s.fail("search text: upgrade", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var old int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'pillars_text_fts'`).Scan(&old); err != nil {
		return false, s.fail("search text: upgrade", err)
	}
	if old == 0 {
		return false, tx.Rollback()
	}
	if err := ensureText(ctx, tx); err != nil {
		return false, s.fail("search text: upgrade", err)
	}
	if err := tx.Commit(); err != nil {
		return false, s.fail("search text: upgrade", err)
	}
	return true, nil
}

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
	if err := ensureText(ctx, tx); err != nil {
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
		meta := metaToken('t', tenant) + " " + metaToken('k', e.Kind) + " " + metaToken('o', e.Owner) + " " + metaToken('g', e.Group)
		if _, err := tx.ExecContext(ctx, `INSERT INTO pillars_search (rowid, title, body, internal, meta) VALUES (?, ?, ?, ?, ?)`,
			rowid, e.Number+" "+e.Title, e.Public, e.Internal, meta); err != nil {
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
	if _, err := tx.ExecContext(ctx, `DELETE FROM pillars_search WHERE rowid = ?`, rowid); err != nil {
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
	if err := ensureText(ctx, tx); err != nil {
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

// searchWindow is how many of a query's matches SearchText ranks: the
// newest (most recently indexed: created or changed) of the tenant's
// entries the query and its scopes match. Ranking every match made a word
// in a tenth of a million tickets cost one to two and a half seconds;
// matches beyond the window are not returned, and a query that matches
// more than this many is one to narrow.
const searchWindow = 1000

// ftsTerms builds the FTS5 expression of checked terms: each one a quoted
// string (a term holds letters and digits only, so no quote can close it
// early), the last a prefix, all required, in the title and body columns
// and, with internal, the internal one; never in meta.
func ftsTerms(terms []string, internal bool) string {
	var b strings.Builder
	if internal {
		b.WriteString("{title body internal} : (")
	} else {
		b.WriteString("{title body} : (")
	}
	for i, t := range terms {
		if i > 0 {
			b.WriteString(" AND ")
		}
		b.WriteByte('"')
		b.WriteString(t)
		b.WriteByte('"')
		if i == len(terms)-1 {
			b.WriteByte('*')
		}
	}
	b.WriteByte(')')
	return b.String()
}

// ftsMeta builds the FTS5 expression that limits a query to the tenant,
// the kinds and the scopes: meta : ("t.." AND ("k.." AND ("o.." OR ..) OR
// "k.."))
func ftsMeta(tenant string, q storage.TextQuery) string {
	var b strings.Builder
	b.WriteString(`meta : ("` + metaToken('t', tenant) + `" AND (`)
	for i, k := range q.Kinds {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString(`"` + metaToken('k', k) + `"`)
		for _, sc := range q.Scopes {
			if sc.Kind != k {
				continue
			}
			what := byte('o')
			if sc.Field == "group" {
				what = 'g'
			}
			b.WriteString(" AND (")
			for j, v := range sc.Values {
				if j > 0 {
					b.WriteString(" OR ")
				}
				b.WriteString(`"` + metaToken(what, v) + `"`)
			}
			b.WriteString(")")
		}
	}
	b.WriteString("))")
	return b.String()
}

// SearchText implements storage.TextIndexer with FTS5's bm25 (the title,
// which holds the number too, weighs three times the rest) over the
// newest searchWindow matches. The inner statement finds them by doclists
// alone (tenant, kinds and scopes included, see textDDL), newest first;
// the outer one ranks only those, so a broad word costs the window, not
// its every match. Pages are stable while the entries do not change.
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
	terms := ftsTerms(q.Terms, q.Internal)
	query := `SELECT m.kind, m.id, -bm25(pillars_search, 3.0, 1.0, 1.0, 0.0) AS score
FROM pillars_search JOIN pillars_text m ON m.rowid = pillars_search.rowid
WHERE pillars_search MATCH ? AND pillars_search.rowid IN (
	SELECT w.rowid FROM pillars_search AS w WHERE w.pillars_search MATCH ? ORDER BY w.rowid DESC LIMIT ?)
ORDER BY score DESC, m.kind, m.id LIMIT ? OFFSET ?`
	args := []any{terms, ftsMeta(tenant, q) + " AND " + terms, searchWindow, q.Limit, q.Offset}
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil && strings.Contains(err.Error(), "no such table") {
		// Nothing indexed yet, or indexed by an earlier version whose
		// entries move at the first write: moved now, then searched.
		moved, uerr := s.upgradeText(ctx)
		if uerr != nil || !moved {
			return nil, uerr
		}
		rows, err = s.r.QueryContext(ctx, query, args...)
	}
	if err != nil {
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
