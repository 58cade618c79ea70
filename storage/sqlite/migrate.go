package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/storage"
)

// The schema migrations, one file per version: NNNN_name.sql, applied in
// version order and recorded in schema_migrations.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations is the parsed, ordered content of migrationFS.
var migrations = func() []migration {
	var ms []migration
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			panic("storage/sqlite: bad migration file name " + e.Name())
		}
		b, err := migrationFS.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			panic(err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			panic(fmt.Sprintf("storage/sqlite: migration %d missing", i+1))
		}
	}
	return ms
}()

// migrationStep returns the Go part of a migration, run after its SQL in the
// same transaction, for the tables whose names are data (a kind's document
// table); nil when the migration is SQL alone.
func migrationStep(version int) func(context.Context, *sql.Tx) error {
	switch version {
	case 2:
		return tenantKindTables
	case 3:
		return textAudience
	}
	return nil
}

// tenantKindTables is migration 2 for document tables. Every registered
// kind's table is rebuilt (SQLite cannot change a primary key in place):
// a new table keyed (_tenant, _id) receives every row, in the default
// tenant, with the columns of the fields the stored schema declares
// (columns a removed field left behind go), and its indexes are created
// led by _tenant. The unique number index is created only where the table
// had it: a file written before numbers were unique gets it from Register,
// which names a repeated number.
func tenantKindTables(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT kind, schema FROM pillars_kinds ORDER BY kind`)
	if err != nil {
		return err
	}
	var schemas []storage.Schema
	for rows.Next() {
		var name, text string
		if err := rows.Scan(&name, &text); err != nil {
			rows.Close()
			return err
		}
		sch, err := decodeSchema(name, text)
		if err != nil {
			rows.Close()
			return err
		}
		schemas = append(schemas, sch)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, sch := range schemas {
		table := tableName(sch.Kind)
		have, err := tableColumns(ctx, tx, table)
		if err != nil {
			return err
		}
		if len(have) == 0 {
			continue // no table: nothing was ever written
		}
		var names []string
		irows, err := tx.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL AND substr(name, 1, ?) = ?`,
			table, len(table)+2, table+"__")
		if err != nil {
			return err
		}
		for irows.Next() {
			var n string
			if err := irows.Scan(&n); err != nil {
				irows.Close()
				return err
			}
			names = append(names, n)
		}
		irows.Close()
		if err := irows.Err(); err != nil {
			return err
		}
		hadNumber := slices.Contains(names, numberIndexName(sch.Kind))
		cols := []string{"_id", "_version", "_data"}
		for _, f := range sch.Fields {
			if _, ok := have[f.Name]; ok {
				cols = append(cols, quoteIdent(f.Name))
			}
		}
		list := strings.Join(cols, ", ")
		ddl := []string{
			tableDDL(table+"__v2", sch),
			"INSERT INTO " + quoteIdent(table+"__v2") + " (" + list + ", _tenant) SELECT " + list + ", 'default' FROM " + quoteIdent(table) + " ORDER BY _id",
			"DROP TABLE " + quoteIdent(table), // and its indexes
			"ALTER TABLE " + quoteIdent(table+"__v2") + " RENAME TO " + quoteIdent(table),
		}
		ddl = append(ddl, indexDDL(sch)...)
		if hadNumber && sch.NumberIndex() >= 0 {
			ddl = append(ddl, numberIndexDDL(sch.Kind))
		}
		for _, stmt := range ddl {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
	}
	return nil
}

// migrationVersion is the schema version this package needs.
var migrationVersion = migrations[len(migrations)-1].version

const sqlCreateMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at INTEGER NOT NULL
)`

// Migrate applies the schema migrations the database file lacks, each once,
// in one BEGIN IMMEDIATE transaction: two processes migrating the same file
// at once are serialised by SQLite's write lock, and the second finds nothing
// left to do. A file migrated by a newer version of this package is refused.
// Open calls Migrate unless given WithMigrate(false).
func (s *Store) Migrate(ctx context.Context) error {
	ctx = orBackground(ctx)
	if s.closed.Load() {
		return ErrClosed
	}
	s.regMu.Lock()
	defer s.regMu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.fail("migrate", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, sqlCreateMigrations); err != nil {
		return s.fail("migrate", err)
	}
	applied, err := appliedVersions(ctx, tx)
	if err != nil {
		return err
	}
	for _, m := range migrations {
		if applied[m.version] {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return s.fail(fmt.Sprintf("migration %d (%s)", m.version, m.name), err)
		}
		if step := migrationStep(m.version); step != nil {
			if err := step(ctx, tx); err != nil {
				return s.fail(fmt.Sprintf("migration %d (%s)", m.version, m.name), err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.version, m.name, time.Now().UnixMicro()); err != nil {
			return s.fail(fmt.Sprintf("migration %d (%s)", m.version, m.name), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return s.fail("migrate", err)
	}
	s.ready.Store(true)
	return s.loadKinds(ctx)
}

// appliedVersions reads schema_migrations and refuses a file from the future.
func appliedVersions(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) (map[int]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("storage/sqlite: read schema_migrations: %w", interpretError(err))
	}
	defer rows.Close()
	applied := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("storage/sqlite: read schema_migrations: %w", err)
		}
		if v > migrationVersion {
			return nil, fmt.Errorf("storage/sqlite: database schema version %d is newer than this package's %d", v, migrationVersion)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage/sqlite: read schema_migrations: %w", interpretError(err))
	}
	return applied, nil
}

// SchemaVersion returns the highest migration applied to the file, 0 for a
// new one.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	ctx = orBackground(ctx)
	if s.closed.Load() {
		return 0, ErrClosed
	}
	var exists int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&exists); err != nil {
		return 0, s.fail("schema version", err)
	}
	if exists == 0 {
		return 0, nil
	}
	applied, err := appliedVersions(ctx, s.r)
	if err != nil {
		return 0, err
	}
	v := 0
	for v+1 <= migrationVersion && applied[v+1] {
		v++
	}
	return v, nil
}

// checkVersion marks the store ready when the file needs no migration.
func (s *Store) checkVersion(ctx context.Context) error {
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if v < migrationVersion {
		return nil // not ready: every call says to run Migrate
	}
	s.ready.Store(true)
	return s.loadKinds(ctx)
}
