package sqlite

// Audience tokens: the tenant, kind, owner and group of a text entry,
// indexed in the FTS5 table's aud column so that a search intersects the
// words' posting lists with those of the actor's read scope.

import (
	"context"
	"database/sql"
	"encoding/hex"
	"strings"

	"github.com/pillars-itsm/pillars/storage"
)

// audMark starts every audience token: U+E000, a private-use character.
// The unicode61 tokenizer keeps it inside a token (its default token
// characters are letters, numbers and the private-use category Co), while
// storage.Tokenize, which every query term passes (TextQuery.Check),
// splits words on it (it is neither a letter nor a number): no term can
// spell an audience token. Text containing the character is indexed in
// the text columns, never in aud, and words are matched in the text
// columns only, audience tokens in aud only.
const audMark = "\ue000"

// audToken returns the audience token of a tenant's entries of a kind
// (field 'k', no value), or of those whose owner ('o') or group ('g') is
// value: the mark, the field letter, and the hex of tenant, kind and value
// separated by 'x' (not a hex digit), so distinct triples never share a
// token. The statement of textAudience builds the same text in SQL.
func audToken(field byte, tenant, kind string, value ...string) string {
	var b strings.Builder
	b.WriteString(audMark)
	b.WriteByte(field)
	b.WriteString(hex.EncodeToString([]byte(tenant)))
	b.WriteByte('x')
	b.WriteString(hex.EncodeToString([]byte(kind)))
	for _, v := range value {
		b.WriteByte('x')
		b.WriteString(hex.EncodeToString([]byte(v)))
	}
	return b.String()
}

// audTokens returns the aud column of an entry: its kind's, owner's and
// group's tokens.
func audTokens(tenant, kind, owner, group string) string {
	return audToken('k', tenant, kind) + " " + audToken('o', tenant, kind, owner) + " " + audToken('g', tenant, kind, group)
}

// audSQL is audTokens in SQL over the columns of pillars_text m, for the
// rebuild of textAudience (hex() spells UTF-8 text's bytes, lower() its
// digits as hex.EncodeToString does).
const audSQL = `char(57344) || 'k' || lower(hex(m.tenant)) || 'x' || lower(hex(m.kind))
	|| ' ' || char(57344) || 'o' || lower(hex(m.tenant)) || 'x' || lower(hex(m.kind)) || 'x' || lower(hex(m.owner))
	|| ' ' || char(57344) || 'g' || lower(hex(m.tenant)) || 'x' || lower(hex(m.kind)) || 'x' || lower(hex(m.grp))`

// audMatch writes the FTS5 expression of the entries a checked query may
// match in tenant: for each kind, the kind's token, or, when the query
// scopes the kind, one of the scope's values' tokens (every scope of the
// kind, when it has several), as TextQuery.InScope decides.
func audMatch(b *strings.Builder, tenant string, q storage.TextQuery) {
	for i, k := range q.Kinds {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteByte('(')
		scoped := false
		for _, sc := range q.Scopes {
			if sc.Kind != k {
				continue
			}
			if scoped {
				b.WriteString(" AND ")
			}
			scoped = true
			field := byte('o')
			if sc.Field == "group" {
				field = 'g'
			}
			b.WriteByte('(')
			for j, v := range sc.Values {
				if j > 0 {
					b.WriteString(" OR ")
				}
				b.WriteByte('"')
				b.WriteString(audToken(field, tenant, k, v))
				b.WriteByte('"')
			}
			b.WriteByte(')')
		}
		if !scoped {
			b.WriteByte('"')
			b.WriteString(audToken('k', tenant, k))
			b.WriteByte('"')
		}
		b.WriteByte(')')
	}
}

// textAudience is migration 3: a file whose FTS5 table was created
// before the aud column (title, body and internal only) gets the table
// rebuilt with it, every entry's audience tokens computed from its
// mapping row, in the migration's transaction; Open runs it once. A file
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
		`CREATE VIRTUAL TABLE pillars_text_fts_v3 USING ` + ftsColumns,
		`INSERT INTO pillars_text_fts_v3 (rowid, title, body, internal, aud)
	SELECT f.rowid, f.title, f.body, f.internal, ` + audSQL + `
	FROM pillars_text_fts f JOIN pillars_text m ON m.rowid = f.rowid ORDER BY f.rowid`,
		`DROP TABLE pillars_text_fts`,
		`ALTER TABLE pillars_text_fts_v3 RENAME TO pillars_text_fts`,
	} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}
