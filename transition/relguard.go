package transition

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// KindRelationshipGuard is the kind of the guard documents Relate writes so
// that two units of work relating the same constrained endpoint cannot both
// pass the duplicate, cardinality and cycle checks.
const KindRelationshipGuard = "ci_rel_guard"

// relateRetries is how many times Relate runs again after a guard conflict
// with a concurrent writer; each attempt re-reads the guards and re-checks.
const relateRetries = 8

// RelationshipGuardSchema declares the guard documents: no indexed field,
// they are only read and written by id.
func RelationshipGuardSchema() storage.Schema { return storage.Schema{Kind: KindRelationshipGuard} }

// relGuard is the content of a guard document: the key it guards (for a
// person reading the store) and the last relationship written under it.
type relGuard struct {
	Key  string `json:"key"`
	Last string `json:"last"`
}

// guardKeys lists the guards a relationship of type t between parent and
// child writes. Every check Relate makes reads committed data, so each must
// be covered by a guard that any writer able to invalidate it also writes:
//
//   - duplicates and MaxPerParent: the (parent, type) guard, since an
//     identical relationship or another one counting against the parent's
//     cardinality has the same parent and type;
//   - MaxPerChild: the (child, type) guard;
//   - cycles of an acyclic type: a cycle can be closed by two relationships
//     with no end in common (a→b and c→d over existing paths b⇝c and d⇝a),
//     so no per-CI guard covers it; one guard per type does, serialising
//     the writers of that type.
//
// An acyclic type's guard covers the other two as well.
func guardKeys(t RelationshipType, parent, child string) []string {
	if t.Acyclic {
		return []string{"type|" + t.Name}
	}
	keys := []string{"parent|" + parent + "|" + t.Name}
	if t.MaxPerChild > 0 {
		keys = append(keys, "child|"+child+"|"+t.Name)
	}
	return keys
}

// guardID is the document id of a guard key: a hash, so ids stay short
// whatever the CI ids and type names are.
func guardID(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:16])
}

// heldGuard is a guard read at the start of a unit, to be written back at
// the next version when the unit relates.
type heldGuard struct {
	id, key string
	version int64
	last    string // the relationship written under it last
}

// readGuards reads the guards of the keys in id order (the order they are
// written in, so two units never wait on each other's rows in opposite
// orders). A missing guard has version 0.
func readGuards(ctx context.Context, tx storage.Tx, keys []string) ([]heldGuard, error) {
	out := make([]heldGuard, 0, len(keys))
	for _, k := range keys {
		out = append(out, heldGuard{id: guardID(k), key: k})
	}
	slices.SortFunc(out, func(a, b heldGuard) int { return cmpString(a.id, b.id) })
	for i := range out {
		d, err := tx.Get(ctx, KindRelationshipGuard, out[i].id)
		switch {
		case err == nil:
			var g relGuard
			if err := json.Unmarshal(d.Data, &g); err != nil {
				return nil, fmt.Errorf("%s %s: %w: %v", KindRelationshipGuard, out[i].id, itsm.ErrInvalid, err)
			}
			out[i].version, out[i].last = d.Version, g.Last
		case errors.Is(err, itsm.ErrNotFound):
		default:
			return nil, err
		}
	}
	return out, nil
}

// writeGuards writes each guard at the next version, expecting the version
// read: a concurrent unit that wrote one since makes this unit fail with
// ErrConflict (at the write or at commit, depending on the store).
func writeGuards(ctx context.Context, tx storage.Tx, gs []heldGuard, relID string) error {
	for _, g := range gs {
		data, err := json.Marshal(relGuard{Key: g.key, Last: relID})
		if err != nil {
			return err
		}
		if err := tx.Put(ctx, storage.Document{Kind: KindRelationshipGuard, ID: g.id, Version: g.version + 1, Data: data}, g.version); err != nil {
			return err
		}
	}
	return nil
}

// duplicateError is Relate's refusal of a relationship identical to an
// active one: a conflict no retry resolves.
type duplicateError struct{ err error }

func (e *duplicateError) Error() string { return e.err.Error() }
func (e *duplicateError) Unwrap() error { return e.err }

// retryableConflict reports whether err is a version conflict a new attempt
// may resolve (not a duplicate relationship).
func retryableConflict(err error) bool {
	var dup *duplicateError
	return errors.Is(err, itsm.ErrConflict) && !errors.As(err, &dup)
}

// hasEdge reports whether the graph has applied the relationship's creation
// (as an active edge, or removed but not yet compacted away).
func (g *Graph) hasEdge(id string) bool {
	if id == "" {
		return false
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	_, ok := g.lookupEdge(id)
	return ok
}
