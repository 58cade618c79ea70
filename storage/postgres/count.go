package postgres

import (
	"context"
	"strings"

	"github.com/pillars-itsm/pillars/storage"
)

var _ storage.Counter = (*Store)(nil)

// Count implements storage.Counter with one SELECT count(*), scoped to the
// tenant as Query is (role, tenant setting and row-level security, and the
// tenant in the WHERE clause): the WHERE clause Query builds, without the
// order, the cursor and the limit.
func (s *Store) Count(ctx context.Context, q storage.Query) (int, error) {
	if ctx == nil {
		return 0, errNilContext
	}
	tenant, err := s.tenant(ctx)
	if err != nil {
		return 0, err
	}
	q.Cursor, q.Limit = "", 0
	ki, err := s.kind(q.Kind)
	if err != nil {
		return 0, err
	}
	plan, err := ki.schema.CheckQueryFor(tenant, q)
	if err != nil {
		return 0, err
	}
	sql, args := countSQL(ki, plan)
	rows, err := s.query(ctx, s.pool, tenant, sql, args...)
	if err != nil {
		return 0, interpretError(err, "count "+q.Kind)
	}
	defer rows.Close()
	var n int64
	if rows.Next() {
		err = rows.Scan(&n)
	}
	if err == nil {
		err = rows.Err()
	}
	if err != nil {
		return 0, interpretError(err, "count "+q.Kind)
	}
	return int(n), nil
}

// countSQL is buildQuery's statement with count(*) for its select list and
// without its ORDER BY and LIMIT (the plan has no cursor: the WHERE clause
// is the tenant and the filters alone). It keeps the field types' comment
// that leads every statement of the kind (see newKindInfo).
func countSQL(ki *kindInfo, p storage.Plan) (string, []any) {
	sql, args := buildQuery(ki, p)
	sql = sql[len(ki.selectSQL):strings.LastIndex(sql, " ORDER BY ")]
	return typeSignature(ki.schema) + "SELECT count(*) FROM " + ki.table + sql, args
}
