package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// Traverse walks the edge documents of ctx's tenant breadth first, one SQL
// statement per level, all inside one read transaction, so the walk sees
// one snapshot of the graph. Each statement selects the tenant's edges
// whose near end is in the frontier (passed as one JSON array, or in
// chunks of storage.MaxInValues parameters when an id is not valid UTF-8),
// through the index on (_tenant, near field), without pagination; Go then
// keeps the best hop per node exactly as the generic storage.Traverse does,
// so both return the same answer.
//
// A recursive CTE would save the per-level round trips, which cost
// microseconds in an embedded database, but SQL recursion cannot consult the
// set of nodes already reached: it would expand every (node, walk length)
// pair up to MaxDepth, E×MaxDepth rows on a graph with cycles, where the
// level walk touches each edge at most once per direction.
func (s *Store) Traverse(ctx context.Context, p storage.TraverseParams) ([]storage.Hop, error) {
	ctx = orBackground(ctx)
	if err := s.check(); err != nil {
		return nil, err
	}
	tenant, err := s.tenant(ctx)
	if err != nil {
		return nil, err
	}
	if err := p.Check(); err != nil {
		return nil, err
	}
	if len(p.Types) > storage.MaxInValues {
		return nil, itsm.Invalidf("storage/sqlite: traverse %s: %d relationship types, want at most %d", p.Edges.Kind, len(p.Types), storage.MaxInValues)
	}
	k, err := s.lookup(ctx, p.Edges.Kind)
	if err != nil {
		return nil, err
	}
	for _, f := range []string{p.FromField, p.ToField, p.TypeField} {
		if i := k.schema.FieldIndex(f); i < 0 || k.schema.Fields[i].Type != storage.TypeString {
			return nil, itsm.Invalidf("storage/sqlite: traverse %s: %q is not a registered string field", p.Edges.Kind, f)
		}
	}
	near, far := p.FromField, p.ToField
	if p.Direction == storage.Up {
		near, far = far, near
	}
	// INDEXED BY: without statistics the planner may prefer the index on
	// the type field, which holds a large share of all edges per value.
	head := "SELECT " + quoteIdent(near) + ", " + quoteIdent(far) + ", _id, " + quoteIdent(p.TypeField) +
		" FROM " + k.table + " INDEXED BY " + quoteIdent(fieldIndexName(p.Edges.Kind, near)) + " WHERE _tenant = ? AND "
	typeArgs := []any{} // after the frontier; the tenant goes first
	var typeCond string
	if len(p.Types) > 0 {
		typeCond = " AND " + quoteIdent(p.TypeField) + " IN (?" + strings.Repeat(", ?", len(p.Types)-1) + ")"
		for _, t := range p.Types {
			typeArgs = append(typeArgs, t)
		}
	}
	limit := p.Limit
	if limit == 0 {
		limit = storage.MaxTraverseHops
	}

	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.fail("traverse "+p.Edges.Kind, err)
	}
	defer tx.Rollback()
	frontier := slices.Clone(p.Start)
	slices.Sort(frontier)
	frontier = slices.Compact(frontier)
	seen := make(map[string]bool, len(frontier))
	for _, id := range frontier {
		seen[id] = true
	}
	var hops []storage.Hop
	var byJSON *sql.Stmt
	for depth := 1; depth <= p.MaxDepth && len(frontier) > 0; depth++ {
		best := map[string]storage.Hop{}
		if ids, ok := jsonStrings(frontier); ok {
			// The usual case: the whole level in one statement, prepared
			// once, the frontier as one JSON array parameter.
			if byJSON == nil {
				text := head + quoteIdent(near) + " IN (SELECT value FROM json_each(?))" + typeCond
				if byJSON, err = tx.PrepareContext(ctx, text); err != nil {
					return nil, s.fail("traverse "+p.Edges.Kind, err)
				}
				defer byJSON.Close()
			}
			args := append([]any{tenant, ids}, typeArgs...)
			if err := s.traverseLevel(ctx, byJSON, args, depth, seen, best); err != nil {
				return nil, fmt.Errorf("storage/sqlite: traverse %s: %w", p.Edges.Kind, err)
			}
		} else {
			err = s.traverseChunks(ctx, tx, head+quoteIdent(near), typeCond, tenant, typeArgs, frontier, depth, seen, best)
			if err != nil {
				return nil, fmt.Errorf("storage/sqlite: traverse %s: %w", p.Edges.Kind, err)
			}
		}
		next := make([]string, 0, len(best))
		for id := range best {
			next = append(next, id)
		}
		slices.Sort(next)
		for _, id := range next {
			if len(hops) == limit {
				return hops, nil
			}
			seen[id] = true
			hops = append(hops, best[id])
		}
		frontier = next
	}
	return hops, nil
}

// traverseChunks runs a level whose ids JSON cannot carry unchanged (not
// valid UTF-8) as statements with up to storage.MaxInValues parameters.
func (s *Store) traverseChunks(ctx context.Context, tx *sql.Tx, head, typeCond, tenant string, typeArgs []any, frontier []string, depth int, seen map[string]bool, best map[string]storage.Hop) error {
	for chunk := range slices.Chunk(frontier, storage.MaxInValues) {
		args := make([]any, 0, 1+len(chunk)+len(typeArgs))
		args = append(args, tenant)
		for _, id := range chunk {
			args = append(args, id)
		}
		args = append(args, typeArgs...)
		st, err := tx.PrepareContext(ctx, head+" IN (?"+strings.Repeat(", ?", len(chunk)-1)+")"+typeCond)
		if err != nil {
			return fmt.Errorf("level %d: %w", depth, interpretError(err))
		}
		err = s.traverseLevel(ctx, st, args, depth, seen, best)
		st.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// jsonStrings encodes ids as a JSON array when every id survives the round
// trip through JSON text unchanged, that is, is valid UTF-8.
func jsonStrings(ids []string) (string, bool) {
	for _, id := range ids {
		if !utf8.ValidString(id) {
			return "", false
		}
	}
	b, err := json.Marshal(ids)
	return string(b), err == nil
}

// traverseLevel runs one level query and keeps, for every node not seen yet,
// the hop with the smallest parent, then the smallest edge id.
func (s *Store) traverseLevel(ctx context.Context, st *sql.Stmt, args []any, depth int, seen map[string]bool, best map[string]storage.Hop) error {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return fmt.Errorf("level %d: %w", depth, interpretError(err))
	}
	defer rows.Close()
	for rows.Next() {
		var h storage.Hop
		if err := rows.Scan(&h.Parent, &h.ID, &h.Edge, &h.Type); err != nil {
			return &corruptError{What: "edge " + h.Edge, Err: err}
		}
		if seen[h.ID] {
			continue
		}
		h.Depth = depth
		if cur, ok := best[h.ID]; !ok || h.Parent < cur.Parent || h.Parent == cur.Parent && h.Edge < cur.Edge {
			best[h.ID] = h
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("level %d: %w", depth, interpretError(err))
	}
	return nil
}
