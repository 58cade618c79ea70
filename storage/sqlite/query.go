package sqlite

import (
	"context"
	"database/sql"
	"strings"

	"github.com/pillars-itsm/pillars/storage"
)

// Query returns one page of committed documents of ctx's tenant, read
// through the reader pool. The query is checked with Schema.CheckQuery and
// runs as one SQL statement on the kind's indexes, all led by the tenant:
// the tenant and parameterised filters, a keyset condition for the cursor,
// ORDER BY the sort fields then _id, LIMIT n+1.
func (s *Store) Query(ctx context.Context, q storage.Query) (storage.Page, error) {
	ctx = orBackground(ctx)
	if err := s.check(); err != nil {
		return storage.Page{}, err
	}
	tenant, err := s.tenant(ctx)
	if err != nil {
		return storage.Page{}, err
	}
	return s.query(ctx, nil, tenant, q)
}

// query runs q among tenant's documents in tx, or through the reader pool
// when tx is nil.
func (s *Store) query(ctx context.Context, tx *sql.Tx, tenant string, q storage.Query) (storage.Page, error) {
	k, err := s.lookup(ctx, q.Kind)
	if err != nil {
		return storage.Page{}, err
	}
	plan, err := k.schema.CheckQueryFor(tenant, q)
	if err != nil {
		return storage.Page{}, err
	}
	text, args := buildQuery(k, tenant, plan)
	var rows *sql.Rows
	if tx != nil {
		rows, err = tx.QueryContext(ctx, text, args...)
	} else {
		var rs *readStmt
		if rs, err = s.readStmt(ctx, text); err == nil {
			defer s.releaseRead(rs)
			rows, err = rs.st.QueryContext(ctx, args...)
		}
	}
	if err != nil {
		return storage.Page{}, s.fail("query "+q.Kind, err)
	}
	defer rows.Close()
	ds := newDocScanner(k)
	docs := make([]storage.Document, 0, min(plan.Limit+1, 64))
	for rows.Next() {
		d, err := ds.scan(rows)
		if err != nil {
			return storage.Page{}, err
		}
		docs = append(docs, d)
	}
	if err := rows.Err(); err != nil {
		return storage.Page{}, s.fail("query "+q.Kind, err)
	}
	var page storage.Page
	if len(docs) > plan.Limit {
		docs = docs[:plan.Limit]
		page.Next = plan.NextCursor(docs[len(docs)-1])
	}
	page.Docs = docs
	return page, nil
}

var opSQL = [...]string{storage.OpEq: " = ?", storage.OpLt: " < ?", storage.OpLte: " <= ?", storage.OpGt: " > ?", storage.OpGte: " >= ?"}

// buildQuery turns a checked plan into SQL text and its parameters. Field
// names come from the kind's schema (validated identifiers, quoted) and every
// value is a parameter, so nothing a caller passes becomes SQL.
//
//	SELECT cols FROM table
//	WHERE _tenant = ? AND <filters> AND <after the cursor>
//	ORDER BY s1 [DESC], ..., _id
//	LIMIT limit+1            -- one more row says whether there is a next page
//
// Keyset pagination: when every sort key ascends, the cursor condition is the
// row value (s1, ..., _id) > (?, ..., ?). Otherwise (id always ascends, so
// any DESC key mixes directions) it is the expanded form
//
//	s1 >= ? AND ((s1 > ?) OR (s1 = ? AND s2 < ?) OR (s1 = ? AND s2 = ? AND _id > ?))
//
// with > or < per key direction; the leading bound on s1 (>= ascending,
// <= descending) lets SQLite seek the index instead of scanning to the
// cursor.
//
// The tenant condition comes first, as every index of the table leads with
// _tenant: equality on it and on the filters, then the sort keys, is one
// range of the index.
func buildQuery(k *kind, tenant string, p storage.Plan) (string, []any) {
	var b strings.Builder
	args := make([]any, 0, 8)
	b.WriteString("SELECT ")
	b.WriteString(k.cols)
	b.WriteString(" FROM ")
	b.WriteString(k.table)
	b.WriteString(" WHERE _tenant = ?")
	args = append(args, tenant)
	and := " AND "
	for i, f := range p.Filters {
		col := quoteIdent(k.schema.Fields[p.FilterFields[i]].Name)
		b.WriteString(and)
		and = " AND "
		b.WriteString(col)
		if f.Op == storage.OpIn {
			b.WriteString(" IN (")
			for j, v := range f.Values {
				if j > 0 {
					b.WriteString(", ")
				}
				b.WriteByte('?')
				args = append(args, v.Any())
			}
			b.WriteByte(')')
			continue
		}
		b.WriteString(opSQL[f.Op])
		args = append(args, f.Values[0].Any())
	}
	sortCols := make([]string, len(p.SortFields)+1)
	desc := make([]bool, len(p.SortFields)+1)
	for i, fi := range p.SortFields {
		sortCols[i] = quoteIdent(k.schema.Fields[fi].Name)
		desc[i] = p.Sort[i].Desc
	}
	sortCols[len(sortCols)-1] = "_id"
	if p.AfterSet {
		after := make([]any, len(sortCols))
		for i, v := range p.After {
			after[i] = v.Any()
		}
		after[len(after)-1] = p.AfterID
		b.WriteString(and)
		anyDesc := false
		for _, d := range desc {
			anyDesc = anyDesc || d
		}
		if !anyDesc {
			b.WriteString("(" + strings.Join(sortCols, ", ") + ") > (?" + strings.Repeat(", ?", len(sortCols)-1) + ")")
			args = append(args, after...)
		} else {
			if len(sortCols) > 1 {
				b.WriteString(sortCols[0])
				if desc[0] {
					b.WriteString(" <= ? AND ")
				} else {
					b.WriteString(" >= ? AND ")
				}
				args = append(args, after[0])
			}
			b.WriteByte('(')
			for i := range sortCols {
				if i > 0 {
					b.WriteString(" OR ")
				}
				b.WriteByte('(')
				for j := 0; j < i; j++ {
					b.WriteString(sortCols[j] + " = ? AND ")
					args = append(args, after[j])
				}
				if desc[i] {
					b.WriteString(sortCols[i] + " < ?")
				} else {
					b.WriteString(sortCols[i] + " > ?")
				}
				args = append(args, after[i])
				b.WriteByte(')')
			}
			b.WriteByte(')')
		}
	}
	b.WriteString(" ORDER BY ")
	for i, c := range sortCols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c)
		if desc[i] {
			b.WriteString(" DESC")
		}
	}
	b.WriteString(" LIMIT ?")
	args = append(args, p.Limit+1)
	return b.String(), args
}
