package sqlite

// Audience tokens: the tenant, kind, owner and group of a text entry,
// indexed in the FTS5 table's aud column so that a search intersects the
// words' posting lists with those of the actor's read scope.

import (
	"context"
	"database/sql"
	"strconv"
	"strings"

	"github.com/pillars-itsm/pillars/storage"
)

// audDDL creates the audience dictionary: one row, and its id, for each
// (tenant, kind, field, value) the entries carry, field 'k' (every entry
// of the kind, with an empty value) or 'o' (its owner) or 'g' (its
// group). Rows are never removed: an audience nobody carries any more
// costs a row.
const audDDL = `
CREATE TABLE IF NOT EXISTS pillars_text_aud (
	id     INTEGER PRIMARY KEY,
	tenant TEXT NOT NULL,
	kind   TEXT NOT NULL,
	field  TEXT NOT NULL,
	value  TEXT NOT NULL,
	UNIQUE (tenant, kind, field, value)
);
`

// audMark starts every audience token: U+E000, a private-use character.
// The unicode61 tokenizer keeps it inside a token (its default token
// characters are letters, numbers and the private-use category Co), while
// storage.Tokenize, which every query term passes (TextQuery.Check),
// splits words on it (it is neither a letter nor a number): no term can
// spell an audience token. Text containing the character is indexed in
// the text columns, never in aud, and words are matched in the text
// columns only, audience tokens in aud only.
const audMark = "\ue000"

// audToken returns the token of the audience whose dictionary id is id:
// the mark, 'a' and the id in decimal, a few bytes per token (hex of the
// tenant, kind and value made the aud column 160 bytes an entry).
func audToken(id int64) string {
	return audMark + "a" + strconv.FormatInt(id, 10)
}

// audKey is one audience of the dictionary.
type audKey struct {
	tenant, kind string
	field        byte
	value        string
}

// audIDs caches the dictionary ids one IndexText reads or creates.
type audIDs map[audKey]int64

// id returns the audience's id, adding it to the dictionary if needed.
func (c audIDs) id(ctx context.Context, tx *sql.Tx, k audKey) (int64, error) {
	if id, ok := c[k]; ok {
		return id, nil
	}
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM pillars_text_aud WHERE tenant = ? AND kind = ? AND field = ? AND value = ?`,
		k.tenant, k.kind, string(k.field), k.value).Scan(&id)
	if err == sql.ErrNoRows {
		var res sql.Result
		res, err = tx.ExecContext(ctx, `INSERT INTO pillars_text_aud (tenant, kind, field, value) VALUES (?, ?, ?, ?)`,
			k.tenant, k.kind, string(k.field), k.value)
		if err == nil {
			id, err = res.LastInsertId()
		}
	}
	if err != nil {
		return 0, err
	}
	c[k] = id
	return id, nil
}

// tokens returns the aud column of an entry: its kind's, owner's and
// group's tokens.
func (c audIDs) tokens(ctx context.Context, tx *sql.Tx, tenant, kind, owner, group string) (string, error) {
	var b strings.Builder
	for i, k := range []audKey{{tenant, kind, 'k', ""}, {tenant, kind, 'o', owner}, {tenant, kind, 'g', group}} {
		id, err := c.id(ctx, tx, k)
		if err != nil {
			return "", err
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(audToken(id))
	}
	return b.String(), nil
}

// audLookup reads the dictionary ids of the audiences a checked query in
// tenant names: each unscoped kind's, and each scope's values'. An
// audience missing from the dictionary has no entry.
func audLookup(ctx context.Context, tx *sql.Tx, tenant string, q storage.TextQuery) (audIDs, error) {
	var b strings.Builder
	args := []any{tenant}
	b.WriteString(`SELECT kind, field, value, id FROM pillars_text_aud WHERE tenant = ? AND (`)
	for i, k := range q.Kinds {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString("(kind = ? AND field = 'k')")
		args = append(args, k)
	}
	for _, sc := range q.Scopes {
		b.WriteString(" OR (kind = ? AND field = ? AND value IN (" + strings.TrimSuffix(strings.Repeat("?,", len(sc.Values)), ",") + "))")
		args = append(args, sc.Kind, string(scopeField(sc)))
		for _, v := range sc.Values {
			args = append(args, v)
		}
	}
	b.WriteByte(')')
	rows, err := tx.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := audIDs{}
	for rows.Next() {
		var k audKey
		var field string
		var id int64
		if err := rows.Scan(&k.kind, &field, &k.value, &id); err != nil {
			return nil, err
		}
		k.tenant, k.field = tenant, field[0]
		ids[k] = id
	}
	return ids, rows.Err()
}

// scopeField returns the dictionary field of a scope.
func scopeField(sc storage.TextScope) byte {
	if sc.Field == "group" {
		return 'g'
	}
	return 'o'
}

// audMatch writes the FTS5 expression of the entries a checked query may
// match in tenant, as TextQuery.InScope decides, from the ids audLookup
// read: for each kind, the kind's token, or, when the query scopes the
// kind, one of the scope's values' tokens (every scope of the kind, when
// it has several). A kind no token can match is left out; false means no
// kind is left, and nothing can match.
func audMatch(b *strings.Builder, tenant string, q storage.TextQuery, ids audIDs) bool {
	n := 0
	for _, k := range q.Kinds {
		var kb strings.Builder
		scoped, empty := false, false
		for _, sc := range q.Scopes {
			if sc.Kind != k {
				continue
			}
			if scoped {
				kb.WriteString(" AND ")
			}
			scoped = true
			kb.WriteByte('(')
			found := 0
			for _, v := range sc.Values {
				id, ok := ids[audKey{tenant, k, scopeField(sc), v}]
				if !ok {
					continue
				}
				if found > 0 {
					kb.WriteString(" OR ")
				}
				found++
				kb.WriteString(`"` + audToken(id) + `"`)
			}
			kb.WriteByte(')')
			empty = empty || found == 0
		}
		if !scoped {
			id, ok := ids[audKey{tenant, k, 'k', ""}]
			empty = !ok
			kb.WriteString(`"` + audToken(id) + `"`)
		}
		if empty {
			continue
		}
		if n > 0 {
			b.WriteString(" OR ")
		}
		n++
		b.WriteString("(" + kb.String() + ")")
	}
	return n > 0
}

// textAudience is migration 3: a file whose FTS5 table was created
// before the aud column (title, body and internal only) gets the audience
// dictionary filled from the mapping rows and the table rebuilt with the
// column, in the migration's transaction; Open runs it once (at a million
// entries: 15 to 17 s of CPU, 31 to 73 s on a loaded two-core machine; the
// text index grows by 12%, 359 to 402 MiB, and the old table's pages are
// left free in the file for later writes or VACUUM). A file
// without a text index has nothing to rebuild (the first IndexText creates
// the new layout). Searching the old layout would fail (no aud column),
// never answer wrongly; a store opened WithMigrate(false) on such a file
// asks for Migrate as for any pending migration.
func textAudience(ctx context.Context, tx *sql.Tx) error {
	cols, err := tableColumns(ctx, tx, "pillars_text_fts")
	if err != nil {
		return err
	}
	if len(cols) == 0 {
		return nil
	}
	if _, ok := cols["aud"]; ok {
		return nil
	}
	for _, stmt := range []string{
		audDDL,
		`INSERT OR IGNORE INTO pillars_text_aud (tenant, kind, field, value)
	SELECT DISTINCT tenant, kind, 'k', '' FROM pillars_text
	UNION SELECT DISTINCT tenant, kind, 'o', owner FROM pillars_text
	UNION SELECT DISTINCT tenant, kind, 'g', grp FROM pillars_text`,
		`CREATE VIRTUAL TABLE pillars_text_fts_v3 USING ` + ftsColumns,
		`INSERT INTO pillars_text_fts_v3 (rowid, title, body, internal, aud)
	SELECT f.rowid, f.title, f.body, f.internal,
		char(57344) || 'a' || ak.id || ' ' || char(57344) || 'a' || ao.id || ' ' || char(57344) || 'a' || ag.id
	FROM pillars_text_fts f JOIN pillars_text m ON m.rowid = f.rowid
	JOIN pillars_text_aud ak ON ak.tenant = m.tenant AND ak.kind = m.kind AND ak.field = 'k' AND ak.value = ''
	JOIN pillars_text_aud ao ON ao.tenant = m.tenant AND ao.kind = m.kind AND ao.field = 'o' AND ao.value = m.owner
	JOIN pillars_text_aud ag ON ag.tenant = m.tenant AND ag.kind = m.kind AND ag.field = 'g' AND ag.value = m.grp
	ORDER BY f.rowid`,
		`DROP TABLE pillars_text_fts`,
		`ALTER TABLE pillars_text_fts_v3 RENAME TO pillars_text_fts`,
	} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}
