package storage

import (
	"context"

	"github.com/pillars-itsm/pillars/itsm"
)

// Count returns how many records q selects for the actor in ctx: the
// number of records Query would hand out over all its pages (q's filters
// and the actor's read scope; Sort, Limit and Cursor aside), in the tenant
// of ctx. An actor who may read none of the kind gets an error matching
// itsm.ErrForbidden, as Query does.
//
// When the actor's read rules are wholly the scope filter (no Authorizer,
// or one that implements itsm.RecordFreeAuthorizer and reports reads of
// the kind record-free, as RoleAuthorizer does when no rule is added for
// reads), the store counts with the scope as a filter: through its
// Counter (one count(*) statement on SQLite and PostgreSQL) when it has
// one. Otherwise every record may still be refused on its own, and Count
// walks Query's pages and counts the records handed out: exact, at the
// cost of reading them.
func (r *Records[T, P]) Count(ctx context.Context, q Query) (int, error) {
	if ctx == nil {
		return 0, itsm.Invalidf("%s: nil context", r.coll.Kind())
	}
	s, err := r.scope(ctx)
	if err != nil {
		return 0, err
	}
	q.Kind = r.coll.Kind()
	q.Cursor, q.Limit = "", 0
	if r.readsRecordFree() { // scope has authorised the read of the kind
		return Count(ctx, r.backend, scoped(q, s))
	}
	q.Limit = MaxLimit
	n := 0
	for {
		recs, next, err := r.Query(ctx, q)
		if err != nil {
			return 0, err
		}
		n += len(recs)
		if next == "" {
			return n, nil
		}
		q.Cursor = next
	}
}

// readsRecordFree reports whether Authorize's read decision on a record of
// the kind is the same for every record.
func (r *Records[T, P]) readsRecordFree() bool {
	if r.cfg.Authorizer == nil {
		return true
	}
	rf, ok := r.cfg.Authorizer.(itsm.RecordFreeAuthorizer)
	return ok && rf.RecordFree(r.coll.Kind(), itsm.ActionRead)
}
