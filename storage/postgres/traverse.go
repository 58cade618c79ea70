package postgres

import (
	"context"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// Traverse walks edge documents with one recursive query; it implements
// storage.Traverser and returns exactly what storage.Traverse's generic
// breadth-first search returns (see storage.Hop for the tie rules).
//
// Each round of the recursive CTE is one BFS level, carried as arrays: the
// frontier, the set of nodes seen so far (start nodes included) and the
// level's hops. A level takes the followed edges leaving the frontier (found
// through the index on the near field) whose far end is unseen (an
// anti-join against the seen array, not a linear "<> ALL") and keeps,
// per far node, the edge with the smallest (near id, edge id): the DISTINCT
// ON below. Everything compares bytewise (COLLATE "C"). The walk stops at
// MaxDepth, at an empty level, or once Limit hops are known; the final
// ORDER BY depth, id and LIMIT cut the answer exactly where the BFS stops.
func (s *Store) Traverse(ctx context.Context, p storage.TraverseParams) ([]storage.Hop, error) {
	if ctx == nil {
		return nil, errNilContext
	}
	tenant, err := s.tenant(ctx)
	if err != nil {
		return nil, err
	}
	if err := p.Check(); err != nil {
		return nil, err
	}
	ki, err := s.kind(p.Edges.Kind)
	if err != nil {
		return nil, err
	}
	if !ki.schema.Equal(p.Edges) {
		return nil, itsm.Invalidf("postgres: traverse %s: the edge schema differs from the registered one", p.Edges.Kind)
	}
	near, far := p.FromField, p.ToField
	if p.Direction == storage.Up {
		near, far = far, near
	}
	nearCol := "e." + ki.cols[ki.schema.FieldIndex(near)]
	farCol := "e." + ki.cols[ki.schema.FieldIndex(far)]
	typeCol := "e." + ki.cols[ki.schema.FieldIndex(p.TypeField)]
	limit := p.Limit
	if limit == 0 {
		limit = storage.MaxTraverseHops
	}
	// Strings the text type cannot hold match no stored edge; leave them
	// out of the parameters (a start id still counts as seen, and reached by
	// nothing).
	start := storableTexts(p.Start)
	args := []any{start, p.MaxDepth, limit, tenant}
	typeCond := ""
	if len(p.Types) > 0 {
		args = append(args, storableTexts(p.Types))
		typeCond = " AND " + typeCol + " = ANY ($5::text[])"
	}
	sql := `WITH RECURSIVE walk(depth, frontier, seen, total, ids, parents, edges, types) AS (
    SELECT 0, $1::text[] COLLATE "C", $1::text[] COLLATE "C", 0::bigint,
        '{}'::text[] COLLATE "C", '{}'::text[] COLLATE "C", '{}'::text[] COLLATE "C", '{}'::text[] COLLATE "C"
  UNION ALL
    SELECT w.depth + 1, lvl.ids, w.seen || lvl.ids, w.total + cardinality(lvl.ids), lvl.ids, lvl.parents, lvl.edges, lvl.types
    FROM walk w CROSS JOIN LATERAL (
        SELECT coalesce(array_agg(b.far ORDER BY b.far), '{}')::text[] AS ids,
               coalesce(array_agg(b.near ORDER BY b.far), '{}')::text[] AS parents,
               coalesce(array_agg(b.eid ORDER BY b.far), '{}')::text[] AS edges,
               coalesce(array_agg(b.typ ORDER BY b.far), '{}')::text[] AS types
        FROM (
            SELECT DISTINCT ON (` + farCol + `) ` + farCol + ` AS far, ` + nearCol + ` AS near, e.id AS eid, ` + typeCol + ` AS typ
            FROM ` + ki.table + ` e
            WHERE e.tenant = $4 AND ` + nearCol + ` = ANY (w.frontier)` + typeCond + `
              AND NOT EXISTS (SELECT 1 FROM unnest(w.seen) AS s(id) WHERE s.id = ` + farCol + `)
            ORDER BY ` + farCol + `, ` + nearCol + `, e.id
        ) b
    ) lvl
    WHERE w.depth < $2 AND cardinality(w.frontier) > 0 AND w.total < $3
)
SELECT w.depth, h.id, h.parent, h.edge, h.typ
FROM walk w CROSS JOIN LATERAL unnest(w.ids, w.parents, w.edges, w.types) AS h(id, parent, edge, typ)
ORDER BY w.depth, h.id COLLATE "C"
LIMIT $3`
	rows, err := s.query(ctx, s.pool, tenant, sql, args...)
	if err != nil {
		return nil, interpretError(err, "traverse "+p.Edges.Kind)
	}
	defer rows.Close()
	var hops []storage.Hop
	for rows.Next() {
		var h storage.Hop
		if err := rows.Scan(&h.Depth, &h.ID, &h.Parent, &h.Edge, &h.Type); err != nil {
			return nil, interpretError(err, "traverse "+p.Edges.Kind)
		}
		hops = append(hops, h)
	}
	if err := rows.Err(); err != nil {
		return nil, interpretError(err, "traverse "+p.Edges.Kind)
	}
	return hops, nil
}

// storableTexts returns the strings of ss that a text column can hold.
func storableTexts(ss []string) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if checkText(s) == nil {
			out = append(out, s)
		}
	}
	return out
}
