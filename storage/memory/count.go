package memory

import (
	"context"

	"github.com/pillars-itsm/pillars/storage"
)

var _ storage.Counter = (*Store)(nil)

// Count implements storage.Counter: the documents of the tenant of ctx
// q's filters select, counted over the candidates Query would filter (the
// narrowest hash set or index prefix) without copying any.
func (s *Store) Count(ctx context.Context, q storage.Query) (int, error) {
	tenant, err := s.tenant(ctx)
	if err != nil {
		return 0, err
	}
	q.Cursor, q.Limit = "", 0
	s.mu.RLock()
	defer s.mu.RUnlock()
	kd, err := s.kind(tenant, q.Kind)
	if err != nil {
		return 0, err
	}
	p, err := kd.schema.CheckQueryFor(tenant, q)
	if err != nil {
		return 0, err
	}
	n := 0
	kd.eachCandidate(p, func(d storage.Document) {
		if p.Matches(d) {
			n++
		}
	})
	return n, nil
}
