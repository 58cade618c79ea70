package sqlite

import (
	"context"
	"strings"

	"github.com/pillars-itsm/pillars/storage"
)

var _ storage.Counter = (*Store)(nil)

// Count implements storage.Counter with one SELECT count(*) through the
// reader pool: the WHERE clause Query builds (the tenant first, then the
// filters, on the same indexes), without the order, the cursor and the
// limit.
func (s *Store) Count(ctx context.Context, q storage.Query) (int, error) {
	ctx = orBackground(ctx)
	if err := s.check(); err != nil {
		return 0, err
	}
	tenant, err := s.tenant(ctx)
	if err != nil {
		return 0, err
	}
	q.Cursor, q.Limit = "", 0
	k, err := s.lookup(ctx, q.Kind)
	if err != nil {
		return 0, err
	}
	plan, err := k.schema.CheckQueryFor(tenant, q)
	if err != nil {
		return 0, err
	}
	text, args := countSQL(k, tenant, plan)
	rs, err := s.readStmt(ctx, text)
	if err != nil {
		return 0, s.fail("count "+q.Kind, err)
	}
	defer s.releaseRead(rs)
	var n int
	if err := rs.st.QueryRowContext(ctx, args...).Scan(&n); err != nil {
		return 0, s.fail("count "+q.Kind, err)
	}
	return n, nil
}

// countSQL is buildQuery's statement with count(*) for its select list and
// without its ORDER BY and LIMIT (the plan has no cursor, so the WHERE
// clause is the tenant and the filters alone, and the last argument is the
// limit's).
func countSQL(k *kind, tenant string, p storage.Plan) (string, []any) {
	text, args := buildQuery(k, tenant, p)
	text = strings.TrimPrefix(text, "SELECT "+k.cols)
	text = "SELECT count(*)" + text[:strings.LastIndex(text, " ORDER BY ")]
	return text, args[:len(args)-1]
}
