package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// Register declares a kind; see storage.Backend.
//
// Each kind is one table named after it: tenant and id (text, COLLATE "C";
// the primary key is (tenant, id), so a document's id names it within its
// tenant and another tenant's document of the same id is another
// document), _version (bigint), _data
// (bytea) and one NOT NULL column per indexed field (text COLLATE "C" for
// strings, so that ordering is bytewise like storage.Value.Compare; bigint
// for integers and for times as Unix microseconds), each with the field's
// storage.ZeroValue as its default. Every index leads with the tenant:
// the primary key, (tenant, field, id) for every field but a CompositeOnly
// one, and (tenant, fields..., id) for every declared storage.Index, so
// each ordering the contract allows runs on an index within one tenant and
// pages end on a unique key. The table has row-level security, FORCEd,
// with one policy: rows of the tenant the transaction names (see
// tenant.go).
//
// The kind's field list is recorded in the _kinds table. Registering a
// kind stored with another schema migrates it, under a lock, in one
// transaction: added fields become columns (existing documents hold the
// zero value until rewritten) and get their indexes; removed fields keep
// their column (with its default, so stores still running the old schema
// go on writing it) but lose their indexes; indexes no longer declared are
// dropped. A field whose type changes is a *storage.SchemaChangeError
// (ErrConflict) and nothing changes. The same holds between Store values
// and processes sharing the schema: the last schema registered is recorded,
// and each Store reads documents with the schema it registered last.
//
// A kind with human numbers (storage.NumberField) also gets a unique index
// on (tenant, number) where the number is not empty. A table created before
// that rule gets it when the kind is registered; when its documents already
// repeat a number within a tenant, Register fails with a
// *storage.DuplicateNumberError naming one, and the kind stays unregistered
// until they hold distinct numbers.
func (s *Store) Register(ctx context.Context, sc storage.Schema) error {
	if ctx == nil {
		return errNilContext
	}
	if err := sc.Validate(); err != nil {
		return err
	}
	s.mu.RLock()
	cur := s.kinds[sc.Kind]
	s.mu.RUnlock()
	if cur != nil {
		if cur.schema.Equal(sc) {
			return nil
		}
		if err := typeChange(sc.Kind, fieldsJSON(cur.schema), sc); err != nil {
			return err
		}
	}
	ki := newKindInfo(s.ns, sc)
	wantFields, err := json.Marshal(fieldsJSON(sc))
	if err != nil {
		return err
	}
	indexes := kindIndexes(sc)

	// Fast path: the table, its registry row and every index exist already,
	// and no other index of ours.
	ok, err := s.registered(ctx, sc, wantFields, indexes)
	if err != nil {
		return err
	}
	if !ok {
		if err := s.migrateKind(ctx, ki, wantFields, indexes); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.kinds[sc.Kind] = ki
	s.mu.Unlock()
	return nil
}

// fieldJSON is how a field is recorded in _kinds.
type fieldJSON struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

func fieldsJSON(sc storage.Schema) []fieldJSON {
	out := make([]fieldJSON, len(sc.Fields))
	for i, f := range sc.Fields {
		out[i] = fieldJSON{f.Name, f.Type.String()}
	}
	return out
}

// typeChange returns a *storage.SchemaChangeError when next declares a
// field of the list with another type.
func typeChange(kind string, was []fieldJSON, next storage.Schema) error {
	for _, old := range was {
		i := next.FieldIndex(old.Name)
		if i < 0 {
			continue
		}
		if to := next.Fields[i].Type; to.String() != old.Type {
			return &storage.SchemaChangeError{Kind: kind, Field: old.Name, From: parseFieldType(old.Type), To: to}
		}
	}
	return nil
}

// parseFieldType reads a type recorded in _kinds.
func parseFieldType(name string) storage.FieldType {
	for _, t := range []storage.FieldType{storage.TypeString, storage.TypeInt, storage.TypeTime} {
		if t.String() == name {
			return t
		}
	}
	return 0
}

// kindIndex is one index a kind's table needs.
type kindIndex struct {
	name   string
	cols   []string // quoted columns, tenant first, id last (but in the unique index)
	unique string   // for the unique number index: its WHERE clause
}

func kindIndexes(sc storage.Schema) []kindIndex {
	var out []kindIndex // the primary key (tenant, id) orders by id
	seen := map[string]bool{}
	add := func(purpose string, fields []string) {
		cols := make([]string, 0, len(fields)+2)
		cols = append(cols, "tenant")
		for _, f := range fields {
			cols = append(cols, quoteIdent(columnName(f)))
		}
		cols = append(cols, "id")
		if key := strings.Join(cols, ","); !seen[key] { // an Index of one field is that field's index
			seen[key] = true
			out = append(out, kindIndex{name: indexName(sc.Kind, purpose, fields), cols: cols})
		}
	}
	for _, f := range sc.Fields {
		if !f.CompositeOnly {
			add("tenant field", []string{f.Name})
		}
	}
	for _, ix := range sc.Indexes {
		add("tenant index", ix.Fields)
	}
	if sc.NumberIndex() >= 0 {
		col := quoteIdent(columnName(storage.NumberField))
		out = append(out, kindIndex{name: numberIndexName(sc.Kind), cols: []string{"tenant", col}, unique: col + " <> ''"})
	}
	return out
}

// ownIndexes lists the store's own indexes of a kind's table: every one
// but the primary key (<kind>_pkey) starts with an underscore.
const ownIndexes = "FROM pg_catalog.pg_indexes WHERE schemaname = $1 AND tablename = $2 AND starts_with(indexname, '_')"

// registered reports whether the kind is stored with exactly these fields,
// has every index and no other index of ours, and returns a
// *storage.SchemaChangeError when it is stored with a field of another type.
func (s *Store) registered(ctx context.Context, sc storage.Schema, fields []byte, indexes []kindIndex) (bool, error) {
	names := indexNames(indexes)
	var stored []byte
	var have, stale int
	err := s.pool.QueryRow(ctx,
		"SELECT (SELECT fields::text FROM "+s.kindsTable+" WHERE kind = $2), "+
			"(SELECT count(*) "+ownIndexes+" AND indexname = ANY ($3)), "+
			"(SELECT count(*) "+ownIndexes+" AND NOT indexname = ANY ($3))",
		s.schema, sc.Kind, names).Scan(&stored, &have, &stale)
	if err != nil {
		return false, interpretError(err, "register "+sc.Kind)
	}
	if stored == nil {
		return false, nil
	}
	same, err := compareFields(sc, stored, fields)
	if err != nil || !same {
		return false, err
	}
	return have == len(indexes) && stale == 0, nil
}

func indexNames(indexes []kindIndex) []string {
	names := make([]string, len(indexes))
	for i, ix := range indexes {
		names[i] = ix.name
	}
	return names
}

// compareFields compares a stored field list with a declared one: whether
// they are the same, and a *storage.SchemaChangeError when a field changes
// its type.
func compareFields(sc storage.Schema, stored, want []byte) (bool, error) {
	var a []fieldJSON
	if err := json.Unmarshal(stored, &a); err != nil {
		return false, fmt.Errorf("postgres: kind %s: stored field list is corrupt: %w", sc.Kind, err)
	}
	if err := typeChange(sc.Kind, a, sc); err != nil {
		return false, err
	}
	return string(stored) == string(want) || slices.Equal(a, fieldsJSON(sc)), nil
}

// zeroLiteral is the SQL default of a field column: the field type's
// storage.ZeroValue.
func zeroLiteral(t storage.FieldType) string {
	if t == storage.TypeString {
		return "''"
	}
	return strconv.FormatInt(storage.ZeroValue(t).Int64(), 10)
}

// columnType is the SQL type of a field column.
func columnType(t storage.FieldType) string {
	if t == storage.TypeString {
		return `text COLLATE "C"`
	}
	return "bigint"
}

// migrateKind brings the kind's table, registry row and indexes to the
// schema in one transaction, under an advisory lock (see lockedTx) so that
// stores registering the kind at once take turns: it creates the table, or
// adds the columns of new fields, creates the missing indexes and drops the
// ones the schema no longer wants. See Register.
func (s *Store) migrateKind(ctx context.Context, ki *kindInfo, fields []byte, indexes []kindIndex) error {
	kind := ki.schema.Kind
	return s.lockedTx(ctx, "ddl", func(tx pgx.Tx) error {
		exec := func(what, q string, args ...any) error {
			if _, err := tx.Exec(ctx, q, args...); err != nil {
				return interpretError(err, "register "+kind+": "+what)
			}
			return nil
		}
		var stored []byte
		err := tx.QueryRow(ctx, "SELECT fields::text FROM "+s.kindsTable+" WHERE kind = $1", kind).Scan(&stored)
		switch {
		case err == pgx.ErrNoRows:
			cols := []string{`tenant text COLLATE "C" NOT NULL DEFAULT 'default'`, `id text COLLATE "C" NOT NULL`, "_version bigint NOT NULL", "_data bytea NOT NULL"}
			for i, f := range ki.schema.Fields {
				cols = append(cols, ki.cols[i]+" "+columnType(f.Type)+" NOT NULL DEFAULT "+zeroLiteral(f.Type))
			}
			cols = append(cols, "PRIMARY KEY (tenant, id)")
			if err := exec("create table", "CREATE TABLE "+ki.table+" ("+strings.Join(cols, ", ")+")"); err != nil {
				return err
			}
			for _, q := range tenantPolicy(ki.table) {
				if err := exec("row-level security", q); err != nil {
					return err
				}
			}
			if err := exec("record", "INSERT INTO "+s.kindsTable+" (kind, fields) VALUES ($1, $2::text::jsonb)", kind, string(fields)); err != nil {
				return err
			}
		case err != nil:
			return interpretError(err, "register "+kind)
		default:
			if _, err := compareFields(ki.schema, stored, fields); err != nil {
				return err
			}
			if err := s.migrateColumns(ctx, tx, ki); err != nil {
				return err
			}
			if err := exec("record", "UPDATE "+s.kindsTable+" SET fields = $2::text::jsonb WHERE kind = $1", kind, string(fields)); err != nil {
				return err
			}
		}
		if s.role != "" {
			if err := exec("grant", "GRANT SELECT, INSERT, UPDATE, DELETE ON "+ki.table+" TO "+quoteIdent(s.role)); err != nil {
				return err
			}
		}
		var have []string
		rows, err := tx.Query(ctx, "SELECT indexname::text "+ownIndexes, s.schema, kind)
		if err == nil {
			have, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
		if err != nil {
			return interpretError(err, "register "+kind+": list indexes")
		}
		want := indexNames(indexes)
		for _, ix := range indexes {
			if slices.Contains(have, ix.name) {
				continue
			}
			q := "CREATE INDEX " + quoteIdent(ix.name) + " ON " + ki.table + " (" + strings.Join(ix.cols, ", ") + ")"
			if ix.unique != "" {
				q = "CREATE UNIQUE INDEX " + quoteIdent(ix.name) + " ON " + ki.table + " (" + strings.Join(ix.cols, ", ") + ") WHERE " + ix.unique
			}
			if _, err := tx.Exec(ctx, q); err != nil {
				err = interpretError(err, "register "+kind+": create index")
				if ix.unique != "" && errors.Is(err, itsm.ErrConflict) {
					return s.repeatedNumber(ctx, ki, err)
				}
				return err
			}
		}
		// Indexes of removed fields and indexes, and those from before
		// tenancy, go once their replacements exist.
		for _, name := range have {
			if !slices.Contains(want, name) {
				if err := exec("drop index", "DROP INDEX "+s.ns+"."+quoteIdent(name)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// tenantPolicy returns the statements that put a kind's table under
// row-level security: FORCEd (the owner is held too) and one policy for
// every command, rows of the transaction's tenant (see tenant.go).
func tenantPolicy(table string) []string {
	return []string{
		"ALTER TABLE " + table + " ENABLE ROW LEVEL SECURITY",
		"ALTER TABLE " + table + " FORCE ROW LEVEL SECURITY",
		"CREATE POLICY _tenant ON " + table + " USING (tenant = current_setting('pillars.tenant', true)) WITH CHECK (tenant = current_setting('pillars.tenant', true))",
	}
}

// migrateColumns gives the kind's table a column for every field of the
// schema, of the field's type, and a default to every field column (those
// of removed fields included, so that writes not naming them succeed). A
// column left by a field removed earlier and now declared again with
// another type is replaced.
func (s *Store) migrateColumns(ctx context.Context, tx pgx.Tx, ki *kindInfo) error {
	kind := ki.schema.Kind
	type column struct {
		typ        string
		hasDefault bool
	}
	have := map[string]column{}
	rows, err := tx.Query(ctx, "SELECT attname::text, format_type(atttypid, NULL), atthasdef FROM pg_catalog.pg_attribute "+
		"WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped", ki.table)
	if err == nil {
		var name, typ string
		var def bool
		_, err = pgx.ForEachRow(rows, []any{&name, &typ, &def}, func() error {
			have[name] = column{typ, def}
			return nil
		})
	}
	if err != nil {
		return interpretError(err, "register "+kind+": list columns")
	}
	declared := map[string]bool{}
	for i, f := range ki.schema.Fields {
		name := columnName(f.Name)
		declared[name] = true
		sqlType := "bigint"
		if f.Type == storage.TypeString {
			sqlType = "text"
		}
		add := "ALTER TABLE " + ki.table + " ADD COLUMN " + ki.cols[i] + " " + columnType(f.Type) + " NOT NULL DEFAULT " + zeroLiteral(f.Type)
		var q []string
		switch c, ok := have[name]; {
		case !ok:
			q = []string{add}
		case c.typ != sqlType:
			q = []string{"ALTER TABLE " + ki.table + " DROP COLUMN " + ki.cols[i], add}
		case !c.hasDefault:
			q = []string{"ALTER TABLE " + ki.table + " ALTER COLUMN " + ki.cols[i] + " SET DEFAULT " + zeroLiteral(f.Type)}
		}
		for _, stmt := range q {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return interpretError(err, "register "+kind+": column "+f.Name)
			}
		}
	}
	for name, c := range have {
		if declared[name] || c.hasDefault || strings.HasPrefix(name, "_") || name == "id" {
			continue
		}
		def := "''"
		if c.typ != "text" {
			def = "0"
		}
		if _, err := tx.Exec(ctx, "ALTER TABLE "+ki.table+" ALTER COLUMN "+quoteIdent(name)+" SET DEFAULT "+def); err != nil {
			return interpretError(err, "register "+kind+": column "+name)
		}
	}
	return nil
}

// repeatedNumber explains a unique number index that could not be built: a
// *storage.DuplicateNumberError naming a number that stored documents
// repeat, or cause when none is found. It reads on a pooled connection,
// outside the failed transaction.
func (s *Store) repeatedNumber(ctx context.Context, ki *kindInfo, cause error) error {
	col := quoteIdent(columnName(storage.NumberField))
	var num string
	err := s.pool.QueryRow(ctx, "SELECT "+col+" FROM "+ki.table+" WHERE "+col+" <> '' GROUP BY tenant, "+col+" HAVING count(*) > 1 LIMIT 1").Scan(&num)
	if err != nil {
		return cause
	}
	return fmt.Errorf("postgres: register %s: documents repeat a number; give them distinct numbers, then register again: %w",
		ki.schema.Kind, &storage.DuplicateNumberError{Kind: ki.schema.Kind, Number: num})
}
