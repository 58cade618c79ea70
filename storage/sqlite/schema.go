package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// kind is a schema known to the store, with the SQL of its document table.
//
// Each kind has its own table, pillars_doc_<kind>: the columns _id (TEXT),
// _version (INTEGER), _data (BLOB) and _tenant (TEXT) hold the document and
// its tenant, and every declared field is a column of its own name, TEXT
// with the binary collation for strings, INTEGER for ints and for times
// (Unix microseconds). The primary key is (_tenant, _id): a document is its
// tenant's, and the same id in two tenants is two documents, so no write of
// one tenant can touch or reveal another's. Every index leads with
// _tenant, so a tenant's queue among many tenants is one index range: the
// primary key's for listing by id, (_tenant, field, _id) per field but a
// CompositeOnly one, which only the composite indexes naming it serve, and
// (_tenant, fields..., _id) per declared composite Index. A kind with human
// numbers (storage.NumberField) also has a unique index on (_tenant,
// number) where the number is not empty. The system columns start with an
// underscore, which a field name cannot, so no declaration can clash with
// them.
type kind struct {
	schema     storage.Schema
	registered bool   // by Register on this Store value, not only found in the file
	table      string // quoted table name
	cols       string // select list: _id, _version, _data, then the fields in schema order

	insertCols string // _id, _version, _data, then the fields

	getSQL, insertSQL, updateSQL, deleteSQL, existsSQL string

	prep atomic.Pointer[kindStmts] // nil until prepared on the writer
}

// kindStmts are a kind's statements prepared on the writer connection.
type kindStmts struct {
	get, insert, update, delete, exists *sql.Stmt
}

func (ks *kindStmts) all() []*sql.Stmt {
	var out []*sql.Stmt
	for _, st := range []*sql.Stmt{ks.get, ks.insert, ks.update, ks.delete, ks.exists} {
		if st != nil {
			out = append(out, st)
		}
	}
	return out
}

// quoteIdent quotes an SQL identifier. Names reaching here passed
// storage.ValidName already; quoting them anyway keeps keywords (a field
// named "order") and any future looser rule safe.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func tableName(kindName string) string { return "pillars_doc_" + kindName }

func fieldIndexName(kindName, field string) string { return tableName(kindName) + "__f_" + field }

func compositeIndexName(kindName, index string) string { return tableName(kindName) + "__i_" + index }

func numberIndexName(kindName string) string { return tableName(kindName) + "__u_number" }

// numberIndexDDL creates the unique index that keeps a kind's human numbers
// unique within a tenant (see storage.Backend): partial, so that documents
// without a number ("") may be many.
func numberIndexDDL(kindName string) string {
	col := quoteIdent(storage.NumberField)
	return "CREATE UNIQUE INDEX IF NOT EXISTS " + quoteIdent(numberIndexName(kindName)) + " ON " + quoteIdent(tableName(kindName)) +
		" (_tenant, " + col + ") WHERE " + col + " <> ''"
}

// indexDDL returns the statements that create the indexes of sch's table
// that do not exist yet, but the unique number index: each field's own
// index and each composite index, all led by _tenant.
func indexDDL(sch storage.Schema) []string {
	qt := quoteIdent(tableName(sch.Kind))
	var ddl []string
	for _, f := range sch.Fields {
		if !f.CompositeOnly {
			ddl = append(ddl, "CREATE INDEX IF NOT EXISTS "+quoteIdent(fieldIndexName(sch.Kind, f.Name))+" ON "+qt+" (_tenant, "+quoteIdent(f.Name)+", _id)")
		}
	}
	for _, ix := range sch.Indexes {
		cols := make([]string, 0, len(ix.Fields)+2)
		cols = append(cols, "_tenant")
		for _, f := range ix.Fields {
			cols = append(cols, quoteIdent(f))
		}
		cols = append(cols, "_id")
		ddl = append(ddl, "CREATE INDEX IF NOT EXISTS "+quoteIdent(compositeIndexName(sch.Kind, ix.Name))+" ON "+qt+" ("+strings.Join(cols, ", ")+")")
	}
	return ddl
}

// tableDDL creates the document table of sch under the name table.
func tableDDL(table string, sch storage.Schema) string {
	cols := []string{"_id TEXT NOT NULL COLLATE BINARY", "_version INTEGER NOT NULL", "_data BLOB",
		"_tenant TEXT NOT NULL DEFAULT 'default' COLLATE BINARY"}
	for _, f := range sch.Fields {
		cols = append(cols, columnDef(f))
	}
	cols = append(cols, "PRIMARY KEY (_tenant, _id)")
	return "CREATE TABLE IF NOT EXISTS " + quoteIdent(table) + " (\n\t" + strings.Join(cols, ",\n\t") + "\n)"
}

// zeroSQL is storage.ZeroValue of t as an SQL literal: the value a column
// of type t holds for documents written before its field was declared (the
// empty string, 0, or the zero time.Time in Unix microseconds).
func zeroSQL(t storage.FieldType) string {
	switch t {
	case storage.TypeString:
		return "''"
	case storage.TypeTime:
		return strconv.FormatInt(storage.ZeroValue(t).Int64(), 10)
	}
	return "0"
}

// schemaChange checks that next may follow old (storage.CompareSchemas): a
// changed field type is a *storage.SchemaChangeError, wrapped with what
// the store was doing.
func schemaChange(old, next storage.Schema) error {
	if _, err := storage.CompareSchemas(old, next); err != nil {
		return fmt.Errorf("storage/sqlite: register %s: %w", next.Kind, err)
	}
	return nil
}

func columnType(t storage.FieldType) string {
	if t == storage.TypeString {
		return "TEXT"
	}
	return "INTEGER"
}

// columnDef declares a field's column. Its default is the field's
// storage.ZeroValue, which documents written before the field was added
// hold until they are rewritten.
func columnDef(f storage.Field) string {
	if f.Type == storage.TypeString {
		return quoteIdent(f.Name) + " TEXT NOT NULL DEFAULT '' COLLATE BINARY"
	}
	return quoteIdent(f.Name) + " INTEGER NOT NULL DEFAULT " + zeroSQL(f.Type)
}

func cloneSchema(s storage.Schema) storage.Schema {
	c := storage.Schema{Kind: s.Kind, Fields: slices.Clone(s.Fields)}
	for _, ix := range s.Indexes {
		c.Indexes = append(c.Indexes, storage.Index{Name: ix.Name, Fields: slices.Clone(ix.Fields)})
	}
	return c
}

func newKind(s storage.Schema, registered bool) *kind {
	k := &kind{schema: s, registered: registered, table: quoteIdent(tableName(s.Kind))}
	names := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		names[i] = quoteIdent(f.Name)
	}
	k.cols = strings.Join(append([]string{"_id", "_version", "_data"}, names...), ", ")
	k.insertCols = strings.Join(append([]string{"_id", "_version", "_data", "_tenant"}, names...), ", ")
	k.getSQL = "SELECT " + k.cols + " FROM " + k.table + " WHERE _id = ? AND _tenant = ?"
	k.insertSQL = "INSERT INTO " + k.table + " (" + k.insertCols + ") VALUES (?, ?, ?, ?" + strings.Repeat(", ?", len(names)) + ")"
	set := []string{"_version = ?", "_data = ?"}
	for _, n := range names {
		set = append(set, n+" = ?")
	}
	k.updateSQL = "UPDATE " + k.table + " SET " + strings.Join(set, ", ") + " WHERE _id = ? AND _version = ? AND _tenant = ?"
	k.deleteSQL = "DELETE FROM " + k.table + " WHERE _id = ? AND _version = ? AND _tenant = ?"
	k.existsSQL = "SELECT _version FROM " + k.table + " WHERE _id = ? AND _tenant = ?"
	return k
}

// lookup returns the kind, loading it from the file when another process
// registered it after this store was opened; an unknown kind is ErrInvalid.
// It reads through the reader pool, so it is safe inside a unit of work.
func (s *Store) lookup(ctx context.Context, name string) (*kind, error) {
	s.mu.RLock()
	k := s.kinds[name]
	s.mu.RUnlock()
	if k != nil {
		return k, nil
	}
	if !storage.ValidName(name) {
		return nil, itsm.Invalidf("storage/sqlite: kind %q is not registered", name)
	}
	var text string
	err := s.r.QueryRowContext(ctx, `SELECT schema FROM pillars_kinds WHERE kind = ?`, name).Scan(&text)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, itsm.Invalidf("storage/sqlite: kind %q is not registered", name)
	}
	if err != nil {
		return nil, s.fail("kind "+name, err)
	}
	sch, err := decodeSchema(name, text)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := s.kinds[name]; k != nil {
		return k, nil
	}
	k = newKind(sch, false)
	s.kinds[name] = k
	s.pending.Store(true)
	return k, nil
}

func decodeSchema(name, text string) (storage.Schema, error) {
	var sch storage.Schema
	if err := json.Unmarshal([]byte(text), &sch); err != nil {
		return sch, &corruptError{What: "schema of kind " + name, Err: err}
	}
	if err := sch.Validate(); err != nil || sch.Kind != name {
		return sch, &corruptError{What: "schema of kind " + name, Err: fmt.Errorf("invalid stored schema %+v: %v", sch, err)}
	}
	return sch, nil
}

// loadKinds reads every registered schema from the file.
func (s *Store) loadKinds(ctx context.Context) error {
	rows, err := s.r.QueryContext(ctx, `SELECT kind, schema FROM pillars_kinds ORDER BY kind`)
	if err != nil {
		return s.fail("load kinds", err)
	}
	defer rows.Close()
	loaded := map[string]storage.Schema{}
	for rows.Next() {
		var name, text string
		if err := rows.Scan(&name, &text); err != nil {
			return &corruptError{What: "pillars_kinds", Err: err}
		}
		sch, err := decodeSchema(name, text)
		if err != nil {
			return err
		}
		loaded[name] = sch
	}
	if err := rows.Err(); err != nil {
		return s.fail("load kinds", err)
	}
	s.mu.Lock()
	for name, sch := range loaded {
		if _, ok := s.kinds[name]; !ok {
			s.kinds[name] = newKind(sch, false)
		}
	}
	s.mu.Unlock()
	return s.prepareWriter(ctx)
}

// Register declares a kind: it creates the kind's table, a column and an
// index per field and an index per composite Index, and records the schema
// in the file, all in one transaction.
//
// Registering the schema the store already holds for the kind is a no-op.
// A different schema for a kind registered earlier, on this Store value, by
// an earlier run or by another process, is a migration: fields that are new
// get their column (existing documents hold storage.ZeroValue until they
// are rewritten) and index, indexes
// that changed are rebuilt, indexes no longer declared are dropped, and
// columns of fields no longer declared are kept but ignored (a field
// declared again later starts from the zero value). Documents read
// afterwards carry the fields of the schema registered last. A field whose
// type changed is ErrConflict naming it: its stored values cannot be
// converted. A kind with human numbers whose table lacks the unique number
// index (a file written before numbers were unique) gets it; when its
// documents already repeat a number within a tenant, Register fails with a
// *storage.DuplicateNumberError naming one until they are renumbered.
//
// Register must not be called inside a unit of work: it needs the writer
// connection that the unit holds.
func (s *Store) Register(ctx context.Context, sch storage.Schema) error {
	ctx = orBackground(ctx)
	if err := s.check(); err != nil {
		return err
	}
	// A kind's table serves every tenant: registering needs no tenant,
	// even WithRequireTenant (storage.Backend), but a malformed one is
	// refused like everywhere else.
	if _, err := storage.TenantOf(ctx, false); err != nil {
		return err
	}
	if err := sch.Validate(); err != nil {
		return err
	}
	sch = cloneSchema(sch)
	s.regMu.Lock()
	defer s.regMu.Unlock()
	s.mu.RLock()
	cur := s.kinds[sch.Kind]
	s.mu.RUnlock()
	if cur != nil && cur.schema.Equal(sch) {
		if !cur.registered {
			// Found in the file: a table created before human numbers
			// were unique gets its index now.
			if err := s.ensureNumberIndex(ctx, sch); err != nil {
				return err
			}
		}
		cur.registered = true // registered is only touched under regMu
		return nil
	}
	if cur != nil {
		if err := schemaChange(cur.schema, sch); err != nil {
			return err
		}
	}
	if err := s.applySchema(ctx, sch); err != nil {
		return err
	}
	// applySchema leaves a table stored with this very schema as it is,
	// perhaps by an earlier version without the number index.
	if err := s.ensureNumberIndex(ctx, sch); err != nil {
		return err
	}
	k := newKind(sch, true)
	s.mu.Lock()
	s.kinds[sch.Kind] = k
	s.mu.Unlock()
	if cur != nil {
		// A unit of work may still run on the old statements: retire them
		// until Close.
		if p := cur.prep.Load(); p != nil {
			s.stmtMu.Lock()
			s.retired = append(s.retired, p.all()...)
			s.stmtMu.Unlock()
		}
	}
	return s.prepareWriter(ctx)
}

// applySchema brings the file's table for sch.Kind to sch, in one write
// transaction that re-reads what the file holds, so two processes registering
// at once see each other's work.
func (s *Store) applySchema(ctx context.Context, sch storage.Schema) error {
	fail := func(err error) error { return s.fail("register "+sch.Kind, err) }
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	var text string
	var stored *storage.Schema
	switch err := tx.QueryRowContext(ctx, `SELECT schema FROM pillars_kinds WHERE kind = ?`, sch.Kind).Scan(&text); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fail(err)
	default:
		old, err := decodeSchema(sch.Kind, text)
		if err != nil {
			return err
		}
		if old.Equal(sch) {
			return nil // another process got here first
		}
		stored = &old
	}
	ddl, err := schemaDDL(ctx, tx, sch, stored)
	if err != nil {
		return err
	}
	for _, stmt := range ddl {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			if stmt == numberIndexDDL(sch.Kind) {
				return numberIndexFailed(ctx, tx, sch.Kind, fail(err))
			}
			return fail(err)
		}
	}
	js, err := json.Marshal(sch)
	if err != nil {
		return fail(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO pillars_kinds (kind, schema, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (kind) DO UPDATE SET schema = excluded.schema, updated_at = excluded.updated_at`,
		sch.Kind, string(js), time.Now().UnixMicro()); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return nil
}

// schemaDDL returns the statements that create the kind's table and indexes,
// or, when stored is the schema the file holds, that bring it to sch.
func schemaDDL(ctx context.Context, tx *sql.Tx, sch storage.Schema, stored *storage.Schema) ([]string, error) {
	table := tableName(sch.Kind)
	qt := quoteIdent(table)
	var ddl []string
	if stored == nil {
		ddl = append(ddl, tableDDL(table, sch))
	} else {
		have, err := tableColumns(ctx, tx, table)
		if err != nil {
			return nil, fmt.Errorf("storage/sqlite: register %s: %w", sch.Kind, err)
		}
		// Indexes go first: a column a removed field leaves may be
		// dropped below only when no index names it.
		for _, f := range stored.Fields {
			if i := sch.FieldIndex(f.Name); i < 0 || sch.Fields[i].CompositeOnly {
				ddl = append(ddl, "DROP INDEX IF EXISTS "+quoteIdent(fieldIndexName(sch.Kind, f.Name)))
			}
		}
		for _, old := range stored.Indexes {
			i := slices.IndexFunc(sch.Indexes, func(ix storage.Index) bool { return ix.Name == old.Name })
			if i < 0 || !slices.Equal(sch.Indexes[i].Fields, old.Fields) {
				ddl = append(ddl, "DROP INDEX IF EXISTS "+quoteIdent(compositeIndexName(sch.Kind, old.Name)))
			}
		}
		if err := schemaChange(*stored, sch); err != nil {
			return nil, err
		}
		for _, f := range sch.Fields {
			t, ok := have[f.Name]
			switch {
			case !ok:
				ddl = append(ddl, "ALTER TABLE "+qt+" ADD COLUMN "+columnDef(f))
			case stored.FieldIndex(f.Name) >= 0 && t != columnType(f.Type):
				return nil, fmt.Errorf("storage/sqlite: register %s: %w: column %s is %s in the database, field is %s",
					sch.Kind, itsm.ErrConflict, f.Name, t, f.Type)
			case stored.FieldIndex(f.Name) >= 0:
			case t != columnType(f.Type):
				// Declared again with another type after it was
				// removed: the column left behind holds values of the
				// old one. Start it afresh.
				ddl = append(ddl, "ALTER TABLE "+qt+" DROP COLUMN "+quoteIdent(f.Name), "ALTER TABLE "+qt+" ADD COLUMN "+columnDef(f))
			default:
				// Declared again after it was removed: documents written
				// meanwhile never set the column, so every document
				// starts from the zero value, like a new field's.
				ddl = append(ddl, "UPDATE "+qt+" SET "+quoteIdent(f.Name)+" = "+zeroSQL(f.Type))
			}
		}
	}
	ddl = append(ddl, indexDDL(sch)...)
	if sch.NumberIndex() >= 0 {
		ddl = append(ddl, numberIndexDDL(sch.Kind))
	} else {
		ddl = append(ddl, "DROP INDEX IF EXISTS "+quoteIdent(numberIndexName(sch.Kind)))
	}
	return ddl, nil
}

// tableColumns returns the columns of table with their declared types, upper
// case.
func tableColumns(ctx context.Context, tx *sql.Tx, table string) (map[string]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, type FROM pragma_table_info(?)`, table)
	if err != nil {
		return nil, interpretError(err)
	}
	defer rows.Close()
	have := map[string]string{}
	for rows.Next() {
		var n, t string
		if err := rows.Scan(&n, &t); err != nil {
			return nil, err
		}
		have[n] = strings.ToUpper(t)
	}
	if err := rows.Err(); err != nil {
		return nil, interpretError(err)
	}
	return have, nil
}

// ensureNumberIndex creates the unique number index of a kind whose table
// was created by an earlier version of this package, when the kind has
// numbers and the index is missing. Stored documents that already repeat a
// number make it fail with a *storage.DuplicateNumberError naming one.
func (s *Store) ensureNumberIndex(ctx context.Context, sch storage.Schema) error {
	if sch.NumberIndex() < 0 {
		return nil
	}
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ?`, numberIndexName(sch.Kind)).Scan(&n); err != nil {
		return s.fail("register "+sch.Kind, err)
	}
	if n > 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.fail("register "+sch.Kind, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, numberIndexDDL(sch.Kind)); err != nil {
		return numberIndexFailed(ctx, tx, sch.Kind, s.fail("register "+sch.Kind+": unique numbers", err))
	}
	if err := tx.Commit(); err != nil {
		return s.fail("register "+sch.Kind, err)
	}
	return nil
}

// numberIndexFailed explains a failed creation of the unique number index:
// a *storage.DuplicateNumberError naming a number that stored documents
// repeat, or cause when none does.
func numberIndexFailed(ctx context.Context, tx *sql.Tx, kindName string, cause error) error {
	if !isConflict(cause) {
		return cause
	}
	col := quoteIdent(storage.NumberField)
	var num string
	err := tx.QueryRowContext(ctx, "SELECT "+col+" FROM "+quoteIdent(tableName(kindName))+" WHERE "+col+" <> '' GROUP BY _tenant, "+col+" HAVING count(*) > 1 LIMIT 1").Scan(&num)
	if err != nil {
		return cause
	}
	return fmt.Errorf("storage/sqlite: register %s: documents repeat a number; give them distinct numbers, then register again: %w",
		kindName, &storage.DuplicateNumberError{Kind: kindName, Number: num})
}
