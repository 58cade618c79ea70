package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pillars-itsm/pillars/itsm"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one embedded schema step, numbered by its file name prefix.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded steps in version order. File names are
// NNNN_description.sql with consecutive numbers from 1.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	out := make([]migration, 0, len(names))
	for i, n := range names {
		base := strings.TrimPrefix(n, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v != i+1 {
			return nil, fmt.Errorf("postgres: migration %s is not numbered %04d", base, i+1)
		}
		body, err := migrationFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, sql: string(body)})
	}
	return out, nil
}

// SchemaVersion is the schema version this package migrates to.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

// Migrate brings the store's schema (namespace) up to SchemaVersion: it
// creates the namespace when missing and applies every embedded migration
// not applied yet, all in one transaction. It is safe to run from several
// processes at once: a transaction-level advisory lock scoped to the
// namespace lets one of them migrate while the others wait and then find
// nothing left to do. A database migrated by a newer release (a version this
// package does not know) is refused.
func (s *Store) Migrate(ctx context.Context) error {
	if ctx == nil {
		return errNilContext
	}
	ms, err := migrations()
	if err != nil {
		return err
	}
	ns := quoteIdent(s.schema)
	return s.lockedTx(ctx, "ddl", func(tx pgx.Tx) error {
		stmts := []string{
			"CREATE SCHEMA IF NOT EXISTS " + ns,
			"CREATE TABLE IF NOT EXISTS " + ns + "._migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
		}
		for _, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return interpretError(err, "migrate "+s.schema)
			}
		}
		var current int
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+ns+"._migrations").Scan(&current); err != nil {
			return interpretError(err, "migrate "+s.schema+": read version")
		}
		if current > len(ms) {
			return fmt.Errorf("postgres: schema %s is at version %d, newer than this release knows (%d)", s.schema, current, len(ms))
		}
		for _, m := range ms[current:] {
			body := strings.ReplaceAll(m.sql, "{{schema}}", ns)
			if _, err := tx.Exec(ctx, body); err != nil {
				return interpretError(err, "migrate "+s.schema+": "+m.name)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO "+ns+"._migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
				return interpretError(err, "migrate "+s.schema+": record "+m.name)
			}
		}
		if s.role == "" {
			return nil
		}
		return s.grantRole(ctx, tx)
	})
}

// grantRole makes the store's role ready to run its statements: it creates
// the role when it is missing (NOLOGIN, with no attribute: row-level
// security holds it), makes the migrating user a member (so that it may SET
// ROLE to it), refuses a role that would bypass row-level security, and
// grants it the store's tables: reading and appending the event log (never
// changing it), reading and writing documents. DDL stays with the
// migrating user, the tables' owner. Creating the role needs CREATEROLE; a
// DBA may create it beforehand instead (and grant it to the store's user).
func (s *Store) grantRole(ctx context.Context, tx pgx.Tx) error {
	role := quoteIdent(s.role)
	lit := "'" + s.role + "'" // a lower-case identifier (storage.ValidName): no quote to escape
	ensure := `DO $pillars$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = ` + lit + `) THEN
		BEGIN
			CREATE ROLE ` + role + ` NOLOGIN;
		EXCEPTION WHEN duplicate_object OR unique_violation THEN
			NULL; -- another store created it meanwhile
		END;
	END IF;
	IF NOT pg_catalog.pg_has_role(current_user, ` + lit + `, 'MEMBER') THEN
		EXECUTE format('GRANT %I TO %I', ` + lit + `, current_user);
	END IF;
END
$pillars$`
	if _, err := tx.Exec(ctx, ensure); err != nil {
		return fmt.Errorf("postgres: migrate %s: the store runs its statements as role %s, which could not be created or granted to the migrating user (create it, NOLOGIN NOSUPERUSER NOBYPASSRLS, and GRANT it to the store's user; or choose another with WithRole): %w",
			s.schema, s.role, interpretError(err, "role"))
	}
	var bypass bool
	if err := tx.QueryRow(ctx, "SELECT rolsuper OR rolbypassrls FROM pg_catalog.pg_roles WHERE rolname = $1", s.role).Scan(&bypass); err != nil {
		return interpretError(err, "migrate "+s.schema+": role "+s.role)
	}
	if bypass {
		return itsm.Invalidf("postgres: role %s is a superuser or BYPASSRLS: row-level security would not hold it; WithRole must name a role without these attributes", s.role)
	}
	ns := quoteIdent(s.schema)
	stmts := []string{
		"GRANT USAGE ON SCHEMA " + ns + " TO " + role,
		"GRANT SELECT, INSERT ON " + ns + "._events TO " + role,
		"GRANT USAGE ON SEQUENCE " + ns + "._event_seq TO " + role,
	}
	rows, err := tx.Query(ctx, "SELECT kind FROM "+ns+"._kinds ORDER BY kind")
	if err != nil {
		return interpretError(err, "migrate "+s.schema+": list kinds")
	}
	kinds, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return interpretError(err, "migrate "+s.schema+": list kinds")
	}
	for _, k := range kinds {
		stmts = append(stmts, "GRANT SELECT, INSERT, UPDATE, DELETE ON "+ns+"."+quoteIdent(k)+" TO "+role)
	}
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return interpretError(err, "migrate "+s.schema+": grant")
		}
	}
	return nil
}

// checkVersion reports whether the schema is at exactly SchemaVersion, for
// stores built without running migrations.
func (s *Store) checkVersion(ctx context.Context) error {
	ns := quoteIdent(s.schema)
	var exists bool
	if err := s.pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", ns+"._migrations").Scan(&exists); err != nil {
		return interpretError(err, "check schema version of "+s.schema)
	}
	current := 0
	if exists {
		if err := s.pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+ns+"._migrations").Scan(&current); err != nil {
			return interpretError(err, "check schema version of "+s.schema)
		}
	}
	if want := SchemaVersion(); current != want {
		return fmt.Errorf("postgres: schema %s is at version %d, want %d: run Migrate (or build the store with WithMigrate(true))", s.schema, current, want)
	}
	return nil
}

// lockedTx runs fn in a transaction on a pooled connection while holding
// the namespace's advisory lock for purpose, so that stores doing the same
// DDL at once take turns. Migrate and Register share one ("ddl"): both
// GRANT on the kinds' tables, and PostgreSQL refuses concurrent GRANTs on
// one object ("tuple concurrently updated"). The lock is taken at session level before the
// transaction begins: a transaction that began earlier and then waited for
// the lock could still resolve names from before the other store's commit
// ("IF NOT EXISTS" then collides).
func (s *Store) lockedTx(ctx context.Context, purpose string, fn func(pgx.Tx) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return interpretError(err, purpose+": acquire connection")
	}
	defer conn.Release()
	return withSessionLock(ctx, conn.Conn(), advisoryKey(s.schema, purpose), purpose, fn)
}

// withSessionLock holds the advisory lock key on conn around a transaction
// running fn. If the lock cannot be released, the connection is closed,
// which releases it.
func withSessionLock(ctx context.Context, conn *pgx.Conn, key int64, purpose string, fn func(pgx.Tx) error) error {
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		return interpretError(err, purpose+": lock")
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", key); err != nil {
			_ = conn.Close(uctx)
		}
	}()
	return pgx.BeginFunc(ctx, conn, fn)
}
