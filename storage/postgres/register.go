package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// Register declares a kind; see storage.Backend.
//
// Each kind is one table named after it: id (text, COLLATE "C", primary
// key), _version (bigint), _data (bytea) and one NOT NULL column per indexed
// field (text COLLATE "C" for strings, so that ordering is bytewise like
// storage.Value.Compare; bigint for integers and for times as Unix
// microseconds). Every field but a CompositeOnly one gets an index on (field, id), and every
// declared storage.Index a composite index on (its fields..., id), so each
// ordering the contract allows runs on an index and pages end on a unique
// key.
//
// The kind's field list is recorded in the _kinds table. A Store that
// registers a kind already stored with other fields gets ErrConflict: the
// contract gives no way to fill a new field for existing documents, so such
// a change needs a migration of its own. Indexes added to a schema are
// created when it is registered; indexes dropped from it are left in place,
// but the own index of a field now declared CompositeOnly is dropped.
//
// A kind with human numbers (storage.NumberField) also gets a unique index
// on the number where it is not empty. A table created before that rule
// gets it when the kind is registered; when its documents already repeat a
// number, Register fails with a *storage.DuplicateNumberError naming one,
// and the kind stays unregistered until they hold distinct numbers.
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
		return fmt.Errorf("%w: postgres: kind %s is already registered with a different schema", itsm.ErrConflict, sc.Kind)
	}
	ki := newKindInfo(s.ns, sc)
	wantFields, err := json.Marshal(fieldsJSON(sc))
	if err != nil {
		return err
	}
	indexes := kindIndexes(sc)

	// Fast path: the table, its registry row and every index exist already.
	unwanted := unwantedIndexes(sc)
	ok, err := s.registered(ctx, sc.Kind, wantFields, indexes, unwanted)
	if err != nil {
		return err
	}
	if !ok {
		if err := s.createKind(ctx, ki, wantFields, indexes, unwanted); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.kinds[sc.Kind]; cur != nil { // a concurrent Register won
		if cur.schema.Equal(sc) {
			return nil
		}
		return fmt.Errorf("%w: postgres: kind %s is already registered with a different schema", itsm.ErrConflict, sc.Kind)
	}
	s.kinds[sc.Kind] = ki
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

// kindIndex is one index a kind's table needs.
type kindIndex struct {
	name   string
	cols   []string // quoted columns, id last (but in the unique index)
	unique string   // for the unique number index: its WHERE clause
}

func kindIndexes(sc storage.Schema) []kindIndex {
	var out []kindIndex
	seen := map[string]bool{}
	add := func(purpose string, fields []string) {
		cols := make([]string, 0, len(fields)+1)
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
			add("field", []string{f.Name})
		}
	}
	for _, ix := range sc.Indexes {
		add("index", ix.Fields)
	}
	if sc.NumberIndex() >= 0 {
		col := quoteIdent(columnName(storage.NumberField))
		out = append(out, kindIndex{name: numberIndexName(sc.Kind), cols: []string{col}, unique: col + " <> ''"})
	}
	return out
}

// unwantedIndexes names the own indexes of the CompositeOnly fields: an
// earlier schema may have declared them, and Register drops them so that
// writes stop maintaining them.
func unwantedIndexes(sc storage.Schema) []string {
	var out []string
	for _, f := range sc.Fields {
		if f.CompositeOnly {
			out = append(out, indexName(sc.Kind, "field", []string{f.Name}))
		}
	}
	return out
}

// registered reports whether the kind is stored with exactly these fields,
// has every index and none of the unwanted ones, and returns ErrConflict
// when it is stored with other fields.
func (s *Store) registered(ctx context.Context, kind string, fields []byte, indexes []kindIndex, unwanted []string) (bool, error) {
	names := make([]string, len(indexes))
	for i, ix := range indexes {
		names[i] = ix.name
	}
	var stored []byte
	var have, stale int
	err := s.pool.QueryRow(ctx,
		"SELECT (SELECT fields::text FROM "+s.kindsTable+" WHERE kind = $1), "+
			"(SELECT count(*) FROM pg_indexes WHERE schemaname = $2 AND tablename = $1 AND indexname = ANY ($3)), "+
			"(SELECT count(*) FROM pg_indexes WHERE schemaname = $2 AND tablename = $1 AND indexname = ANY ($4))",
		kind, s.schema, names, unwanted).Scan(&stored, &have, &stale)
	if err != nil {
		return false, interpretError(err, "register "+kind)
	}
	if stored == nil {
		return false, nil
	}
	if err := sameFields(kind, stored, fields); err != nil {
		return false, err
	}
	return have == len(indexes) && stale == 0, nil
}

// sameFields compares a stored field list with a declared one.
func sameFields(kind string, stored, want []byte) error {
	var a, b []fieldJSON
	if err := json.Unmarshal(stored, &a); err != nil {
		return fmt.Errorf("postgres: kind %s: stored field list is corrupt: %w", kind, err)
	}
	if err := json.Unmarshal(want, &b); err != nil {
		return err
	}
	if !slices.Equal(a, b) {
		return fmt.Errorf("%w: postgres: kind %s is stored with fields %v, the schema declares %v; changing the fields of a stored kind needs a migration",
			itsm.ErrConflict, kind, a, b)
	}
	return nil
}

// createKind creates the kind's table, registry row and missing indexes in
// one transaction, under an advisory lock (see lockedTx) so that stores
// registering the same kind at once do not race on DDL.
func (s *Store) createKind(ctx context.Context, ki *kindInfo, fields []byte, indexes []kindIndex, unwanted []string) error {
	kind := ki.schema.Kind
	return s.lockedTx(ctx, "register", func(tx pgx.Tx) error {
		var stored []byte
		err := tx.QueryRow(ctx, "SELECT fields::text FROM "+s.kindsTable+" WHERE kind = $1", kind).Scan(&stored)
		switch {
		case err == pgx.ErrNoRows:
			cols := []string{`id text COLLATE "C" PRIMARY KEY`, "_version bigint NOT NULL", "_data bytea NOT NULL"}
			for i, f := range ki.schema.Fields {
				typ := "bigint"
				if f.Type == storage.TypeString {
					typ = `text COLLATE "C"`
				}
				cols = append(cols, ki.cols[i]+" "+typ+" NOT NULL")
			}
			if _, err := tx.Exec(ctx, "CREATE TABLE "+ki.table+" ("+strings.Join(cols, ", ")+")"); err != nil {
				return interpretError(err, "register "+kind+": create table")
			}
			if _, err := tx.Exec(ctx, "INSERT INTO "+s.kindsTable+" (kind, fields) VALUES ($1, $2::text::jsonb)", kind, string(fields)); err != nil {
				return interpretError(err, "register "+kind)
			}
		case err != nil:
			return interpretError(err, "register "+kind)
		default:
			if err := sameFields(kind, stored, fields); err != nil {
				return err
			}
		}
		for _, name := range unwanted {
			if _, err := tx.Exec(ctx, "DROP INDEX IF EXISTS "+s.ns+"."+quoteIdent(name)); err != nil {
				return interpretError(err, "register "+kind+": drop index")
			}
		}
		for _, ix := range indexes {
			var exists bool
			if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", s.ns+"."+quoteIdent(ix.name)).Scan(&exists); err != nil {
				return interpretError(err, "register "+kind)
			}
			if exists {
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
		return nil
	})
}

// repeatedNumber explains a unique number index that could not be built: a
// *storage.DuplicateNumberError naming a number that stored documents
// repeat, or cause when none is found. It reads on a pooled connection,
// outside the failed transaction.
func (s *Store) repeatedNumber(ctx context.Context, ki *kindInfo, cause error) error {
	col := quoteIdent(columnName(storage.NumberField))
	var num string
	err := s.pool.QueryRow(ctx, "SELECT "+col+" FROM "+ki.table+" WHERE "+col+" <> '' GROUP BY "+col+" HAVING count(*) > 1 LIMIT 1").Scan(&num)
	if err != nil {
		return cause
	}
	return fmt.Errorf("postgres: register %s: documents repeat a number; give them distinct numbers, then register again: %w",
		ki.schema.Kind, &storage.DuplicateNumberError{Kind: ki.schema.Kind, Number: num})
}
