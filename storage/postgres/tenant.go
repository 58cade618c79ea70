package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/pillars-itsm/pillars/storage"
)

// Tenancy. Every kind table and the event log have a tenant column, and
// every statement the store runs on them names the tenant of its call in
// its WHERE clause (or, for writes, in the row). Row-level security holds
// the same rule a second time, inside the database: each table's policy
// admits only rows whose tenant equals the setting pillars.tenant. The
// store sets it, transaction-local, in the same pipelined round trip as
// the statement it scopes:
//
//	SELECT set_config('role', 'pillars_store', true), set_config('pillars.tenant', 'acme', true)
//	SELECT ... FROM "ticket" WHERE tenant = $1 AND ...
//	Sync
//
// Both statements run in one implicit transaction, so the settings end
// with it and the connection goes back to the pool as it came: nothing
// leaks to the next statement, to another tenant, or to the host's own
// use of a pool it shares with the store. A statement run without the
// setting sees and writes nothing (the policies compare with NULL or '').
//
// The role: superusers and BYPASSRLS roles bypass every policy, and the
// tables FORCE row-level security so that their owner does not. The store
// switches to a role that is subject to the policies (DefaultRole, see
// WithRole) for the same transaction, in the same statement that sets the
// tenant; DDL (Migrate, Register, number sequences) runs as the pool's
// user, which owns the tables.

// allTenants is the pillars.tenant value under which the event log's read
// policy admits every tenant's events: ReadEvents with storage.AllTenants
// sets it for its reads. It is no tenant id (itsm.CheckTenant
// refuses '*'), and no other table's policy admits it.
const allTenants = "*"

// scopeSQL returns the statement that sets the role (when there is one) and
// the tenant for the rest of the transaction.
func scopeSQL(role string) string {
	if role == "" {
		return "SELECT set_config('pillars.tenant', $1, true)"
	}
	return "SELECT set_config('pillars.tenant', $1, true), set_config('role', $2, true)"
}

// scope queues the statement that sets the role and tenant for the
// statements queued after it in b (all of them run in one transaction),
// and returns how many statements it queued: 1, or 0 with the test hook
// noScope.
func (s *Store) scope(b *pgx.Batch, tenant string) int {
	switch {
	case s.noScope:
		return 0
	case s.role == "":
		b.Queue(s.scopeSQL, tenant)
	default:
		b.Queue(s.scopeSQL, tenant, s.role)
	}
	return 1
}

// tenant returns the tenant of a call: storage.TenantOf under the store's
// WithRequireTenant.
func (s *Store) tenant(ctx context.Context) (string, error) {
	return storage.TenantOf(ctx, s.requireTenant)
}

// batcher sends a pipeline: a pool (which lends a connection for it) or a
// connection.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// query runs sql scoped to tenant in one round trip: the scope statement
// and sql, pipelined. The rows must be closed.
func (s *Store) query(ctx context.Context, c batcher, tenant, sql string, args ...any) (pgx.Rows, error) {
	b := &pgx.Batch{}
	scoped := s.scope(b, tenant)
	b.Queue(sql, args...)
	br := c.SendBatch(ctx, b)
	for range scoped {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return nil, err
		}
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// scoped returns a queryFunc running each statement scoped to tenant on c.
func (s *Store) scoped(c batcher, tenant string) queryFunc {
	return func(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
		return s.query(ctx, c, tenant, sql, args...)
	}
}

// batchRows are the rows of the last statement of a batch; closing them
// ends the batch (and returns a pool's connection).
type batchRows struct {
	pgx.Rows
	br     pgx.BatchResults
	closed bool
	err    error
}

func (r *batchRows) Close() {
	r.Rows.Close()
	if r.closed {
		return
	}
	r.closed = true
	if err := r.br.Close(); err != nil && r.Rows.Err() == nil {
		r.err = err
	}
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// Next closes the batch as soon as the rows are done, so that Err reports
// a failure of the batch's end as well.
func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

// scanOne scans the first row of rows into dest and closes them;
// pgx.ErrNoRows when there is none.
func scanOne(rows pgx.Rows, err error) func(dest ...any) error {
	return func(dest ...any) error {
		if err != nil {
			return err
		}
		defer rows.Close()
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return err
			}
			return pgx.ErrNoRows
		}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		rows.Close()
		return rows.Err()
	}
}
