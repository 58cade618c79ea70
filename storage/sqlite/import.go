package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// rowsPerInsert bounds the rows of one multi-row document INSERT; it is
// lowered further for wide kinds so a statement stays below SQLite's 32766
// parameters.
const rowsPerInsert = 256

// Import writes many new documents and their events, all of ctx's tenant,
// in one BEGIN IMMEDIATE transaction, with multi-row INSERT statements prepared once per kind and
// chunk size. Every document is checked against its kind's schema before
// anything is written; a document whose id exists already, in the store or
// earlier in docs, fails the whole import with a *itsm.ConflictError naming
// it. It is all or nothing, like the generic storage.Import. Documents of a
// kind are inserted in id order, whatever order docs has (docs itself is
// not reordered); events are appended in the order given.
//
// When a batch of at least 4096 rows goes into a table holding no more rows
// than the batch (a first load, a migration into a new kind), the table's
// secondary indexes are dropped and rebuilt after the insert, inside the same
// transaction, which is about twice as fast as maintaining them row by row.
//
// Import must not be called inside a unit of work (see Update).
func (s *Store) Import(ctx context.Context, docs []storage.Document, events []itsm.Event) error {
	ctx = orBackground(ctx)
	if err := s.check(); err != nil {
		return err
	}
	tenant, err := s.tenant(ctx)
	if err != nil {
		return err
	}
	type group struct {
		k    *kind
		docs []*storage.Document
	}
	var order []*group
	groups := map[string]*group{}
	seen := make(map[[2]string]struct{}, len(docs))
	numbers := map[[2]string]struct{}{} // kind, number
	for i := range docs {
		d := &docs[i]
		g := groups[d.Kind]
		if g == nil {
			k, err := s.lookup(ctx, d.Kind)
			if err != nil {
				return err
			}
			g = &group{k: k}
			groups[d.Kind] = g
			order = append(order, g)
		}
		if err := g.k.schema.CheckDocument(*d); err != nil {
			return err
		}
		key := [2]string{d.Kind, d.ID}
		if _, dup := seen[key]; dup {
			return &itsm.ConflictError{Kind: d.Kind, ID: d.ID}
		}
		seen[key] = struct{}{}
		if ni := g.k.schema.NumberIndex(); ni >= 0 && d.Fields[ni].Str() != "" {
			num := [2]string{d.Kind, d.Fields[ni].Str()}
			if _, dup := numbers[num]; dup {
				return &storage.DuplicateNumberError{Kind: d.Kind, Number: num[1], ID: d.ID}
			}
			numbers[num] = struct{}{}
		}
		g.docs = append(g.docs, d)
	}
	if len(docs) == 0 && len(events) == 0 {
		return nil
	}
	// Rows in id order go into the primary key's B-tree at its right edge
	// and fill the table's pages in turn; unordered ids (UUIDs, another
	// tool's keys) cost a descent and a page split here and there per row.
	// Sorting the pointers costs little beside that (about a third more
	// records per CPU second for shuffled ids, see BenchmarkImport).
	for _, g := range order {
		if !slices.IsSortedFunc(g.docs, byID) {
			slices.SortFunc(g.docs, byID)
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.fail("import", err)
	}
	defer tx.Rollback()
	for _, g := range order {
		err := s.rebuildingIndexes(ctx, tx, tableName(g.k.schema.Kind), len(g.docs), func() error {
			return s.insertDocs(ctx, tx, g.k, tenant, g.docs)
		})
		var ce *itsm.ConflictError
		var dn *storage.DuplicateNumberError
		if isConflict(err) && !errors.As(err, &ce) && !errors.As(err, &dn) {
			// The unique number index, rebuilt after the insert, found a
			// number held already.
			tx.Rollback()
			return s.importConflict(ctx, g.k, tenant, g.docs, err)
		}
		if err != nil {
			return err
		}
	}
	err = s.rebuildingIndexes(ctx, tx, "pillars_events", len(events), func() error {
		return insertEvents(ctx, tx, sqlImportEvent, events, tenant, s.fail)
	})
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.fail("import", err)
	}
	return nil
}

func byID(a, b *storage.Document) int { return strings.Compare(a.ID, b.ID) }

// importInsert starts Import's INSERT statements. Inside a transaction,
// SQLite keeps a statement journal for every statement that may fail
// half-way (a duplicate id, a NOT NULL column), copying each page before the
// statement's first change to it, so that the statement alone can be undone;
// that was a third of the cost of a multi-row INSERT. OR ROLLBACK makes a
// failure end the whole transaction instead, which needs no statement
// journal, and an Import is all or nothing anyway.
const importInsert = "INSERT OR ROLLBACK INTO "

// insertDocs inserts documents of one kind and tenant with multi-row
// INSERTs: a statement for full chunks, prepared once, and one for the
// remainder.
func (s *Store) insertDocs(ctx context.Context, tx *sql.Tx, k *kind, tenant string, docs []*storage.Document) error {
	width := 4 + len(k.schema.Fields)
	per := min(rowsPerInsert, 32766/width)
	row := "(?" + strings.Repeat(", ?", width-1) + ")"
	head := importInsert + k.table + " (" + k.insertCols + ") VALUES "
	text := func(n int) string { return head + row + strings.Repeat(", "+row, n-1) }
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	args := make([]any, 0, min(per, len(docs))*width)
	for start := 0; start < len(docs); start += per {
		chunk := docs[start:min(start+per, len(docs))]
		args = args[:0]
		for _, d := range chunk {
			args = append(args, d.ID, d.Version, d.Data, tenant)
			for _, v := range d.Fields {
				args = append(args, v.Any())
			}
		}
		var err error
		if len(chunk) == per {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, text(per)); err != nil {
					return s.fail("import "+k.schema.Kind, err)
				}
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, text(len(chunk)), args...)
		}
		if err != nil {
			err = s.fail("import "+k.schema.Kind, err)
			if isConflict(err) {
				return s.importConflict(ctx, k, tenant, chunk, err)
			}
			return err
		}
	}
	return nil
}

// importConflict names the document of chunk that the tenant holds
// already, or whose number another document of the tenant holds. The failed INSERT (OR ROLLBACK) has ended the import's
// transaction, so it asks a reader: ids and numbers that appear twice in one
// import were refused before it began, so the conflict is with a committed
// document.
func (s *Store) importConflict(ctx context.Context, k *kind, tenant string, chunk []*storage.Document, cause error) error {
	for _, d := range chunk {
		var v int64
		err := s.r.QueryRowContext(ctx, k.existsSQL, d.ID, tenant).Scan(&v)
		if err == nil {
			return &itsm.ConflictError{Kind: d.Kind, ID: d.ID}
		}
	}
	for _, d := range chunk {
		if dn := numberHeld(ctx, s.r, k, tenant, *d); dn != nil {
			return dn
		}
	}
	return cause
}

// rebuildMin is the smallest batch for which Import considers rebuilding a
// table's indexes instead of maintaining them row by row.
const rebuildMin = 4096

// rebuildingIndexes runs insert, which adds n rows to table. When the table
// holds no more rows than are being added (a first load, a migration into a
// new kind), it drops the table's secondary indexes first and recreates them
// afterwards from their stored definitions: building an index by sorting
// costs a fraction of n random B-tree inserts per index. All of it happens
// in the import's transaction, so other connections keep seeing the old
// table and indexes until it commits, and a failed import restores them.
func (s *Store) rebuildingIndexes(ctx context.Context, tx *sql.Tx, table string, n int, insert func() error) error {
	if n < rebuildMin {
		return insert()
	}
	fail := func(err error) error { return s.fail("import "+table, err) }
	var more int
	// Is there a row at offset n? Reads at most n+1 rows of the smallest index.
	switch err := tx.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM "+quoteIdent(table)+" LIMIT 1 OFFSET ?)", n).Scan(&more); {
	case err != nil:
		return fail(err)
	case more > 0:
		return insert()
	}
	rows, err := tx.QueryContext(ctx, "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL ORDER BY name", table)
	if err != nil {
		return fail(err)
	}
	var names, defs []string
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			rows.Close()
			return fail(err)
		}
		names, defs = append(names, name), append(defs, def)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	for _, name := range names {
		if _, err := tx.ExecContext(ctx, "DROP INDEX "+quoteIdent(name)); err != nil {
			return fail(err)
		}
	}
	if err := insert(); err != nil {
		return err
	}
	for _, def := range defs {
		if _, err := tx.ExecContext(ctx, def); err != nil {
			return fail(err)
		}
	}
	return nil
}
