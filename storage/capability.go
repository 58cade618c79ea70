package storage

// This file holds every optional capability of a Backend and the generic
// fallback used when a backend lacks it, so the "fast path if present" logic
// lives in one place.

import (
	"context"
	"fmt"
	"slices"

	"github.com/pillars-itsm/pillars/itsm"
)

// Direction says which way a traversal follows edges.
type Direction uint8

// The traversal directions. Down follows edges from their From field to their
// To field ("what does this depend on"); Up follows them backwards ("what
// depends on this").
const (
	Down Direction = iota + 1
	Up
)

// TraverseParams describes a graph traversal over edge documents of one kind.
// Edges are documents of the kind Edges.Kind whose indexed fields FromField,
// ToField and TypeField (all TypeString) hold the ids of their ends and their
// relationship type.
type TraverseParams struct {
	Edges     Schema // the edge kind's schema, as registered
	FromField string
	ToField   string
	TypeField string
	Start     []string  // ids to start from (depth 0, not reported)
	Direction Direction // Down or Up
	Types     []string  // relationship types to follow; empty follows all
	MaxDepth  int       // 1..MaxTraverseDepth
	Limit     int       // stop after this many hops (0: MaxTraverseHops)
}

// MaxTraverseDepth and MaxTraverseHops bound a traversal.
const (
	MaxTraverseDepth = 64
	MaxTraverseHops  = 1_000_000
)

// Hop is one node reached by a traversal. Each node is reported once, at the
// smallest depth it is reached; Parent is the smallest id among the nodes one
// level up with a followed edge to it, and Edge/Type are the smallest-id such
// edge from that parent. Results are ordered by Depth, then ID, so every
// backend returns the same answer.
type Hop struct {
	ID     string
	Depth  int
	Parent string
	Edge   string
	Type   string
}

// Traverser is the optional graph capability: a backend that can walk edges
// natively (a recursive CTE, a graph index) implements it. Without it,
// Traverse runs a breadth-first search through Query, one level per round
// trip. Implementations must return exactly what the fallback returns.
type Traverser interface {
	Traverse(ctx context.Context, p TraverseParams) ([]Hop, error)
}

// BulkImporter is the optional bulk-write capability for migrating history:
// insert many new documents and their events in one unit of work, with
// multi-row statements or COPY. Every document must not exist yet (expected
// version 0) and is written at its own Version. Without it, Import runs the
// same writes one by one inside Update. Either way it is all or nothing, and
// human numbers stay unique: a number held already, or given to two of the
// documents, fails the whole import with a *DuplicateNumberError.
type BulkImporter interface {
	Import(ctx context.Context, docs []Document, events []itsm.Event) error
}

// Check validates the traversal parameters; it is exported so Traverser
// implementations refuse exactly what the fallback refuses.
func (p TraverseParams) Check() error {
	switch {
	case !ValidName(p.Edges.Kind):
		return itsm.Invalidf("traverse: edge kind %q is not a lower-case identifier", p.Edges.Kind)
	case p.Direction != Down && p.Direction != Up:
		return itsm.Invalidf("traverse %s: direction must be Down or Up", p.Edges.Kind)
	case p.MaxDepth < 1 || p.MaxDepth > MaxTraverseDepth:
		return itsm.Invalidf("traverse %s: depth %d outside 1..%d", p.Edges.Kind, p.MaxDepth, MaxTraverseDepth)
	case p.Limit < 0 || p.Limit > MaxTraverseHops:
		return itsm.Invalidf("traverse %s: limit %d outside 0..%d", p.Edges.Kind, p.Limit, MaxTraverseHops)
	case len(p.Start) == 0:
		return itsm.Invalidf("traverse %s: no start ids", p.Edges.Kind)
	}
	if err := p.Edges.Validate(); err != nil {
		return err
	}
	for _, f := range []string{p.FromField, p.ToField, p.TypeField} {
		i := p.Edges.FieldIndex(f)
		if i < 0 || p.Edges.Fields[i].Type != TypeString {
			return itsm.Invalidf("traverse %s: %q is not a declared string field", p.Edges.Kind, f)
		}
		if f != p.TypeField && p.Edges.Fields[i].CompositeOnly {
			return itsm.Invalidf("traverse %s: %q is CompositeOnly; a traversal reads edges by their from and to fields, which need indexes of their own", p.Edges.Kind, f)
		}
	}
	return nil
}

// Traverse walks the graph with the backend's Traverser when it has one, and
// with a breadth-first search over Query otherwise.
func Traverse(ctx context.Context, b Backend, p TraverseParams) ([]Hop, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	if t, ok := b.(Traverser); ok {
		return t.Traverse(ctx, p)
	}
	return traverseBFS(ctx, b, p)
}

func traverseBFS(ctx context.Context, b Backend, p TraverseParams) ([]Hop, error) {
	near, far := p.FromField, p.ToField
	if p.Direction == Up {
		near, far = far, near
	}
	limit := p.Limit
	if limit == 0 {
		limit = MaxTraverseHops
	}
	seen := map[string]bool{}
	frontier := slices.Clone(p.Start)
	slices.Sort(frontier)
	frontier = slices.Compact(frontier)
	for _, s := range frontier {
		seen[s] = true
	}
	var hops []Hop
	for depth := 1; depth <= p.MaxDepth && len(frontier) > 0; depth++ {
		best := map[string]Hop{} // node -> best hop at this depth
		for chunk := range slices.Chunk(frontier, MaxInValues) {
			vals := make([]Value, len(chunk))
			for i, id := range chunk {
				vals[i] = String(id)
			}
			q := Query{Kind: p.Edges.Kind, Filters: []Filter{In(near, vals...)}, Limit: MaxLimit}
			if len(p.Types) > 0 {
				tv := make([]Value, len(p.Types))
				for i, t := range p.Types {
					tv[i] = String(t)
				}
				q.Filters = append(q.Filters, In(p.TypeField, tv...))
			}
			err := eachPage(ctx, b, p.Edges, q, func(plan Plan, d Document) {
				from := d.Fields[plan.Schema.FieldIndex(near)].Str()
				to := d.Fields[plan.Schema.FieldIndex(far)].Str()
				if seen[to] {
					return
				}
				h := Hop{ID: to, Depth: depth, Parent: from, Edge: d.ID, Type: d.Fields[plan.Schema.FieldIndex(p.TypeField)].Str()}
				if cur, ok := best[to]; !ok || h.Parent < cur.Parent || h.Parent == cur.Parent && h.Edge < cur.Edge {
					best[to] = h
				}
			})
			if err != nil {
				return nil, err
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

// eachPage runs q page by page, calling fn for every document with the plan
// that resolves field positions.
func eachPage(ctx context.Context, b Backend, s Schema, q Query, fn func(Plan, Document)) error {
	plan, err := s.CheckQuery(q)
	if err != nil {
		return err
	}
	for {
		page, err := b.Query(ctx, q)
		if err != nil {
			return fmt.Errorf("traverse: %w", err)
		}
		for _, d := range page.Docs {
			fn(plan, d)
		}
		if page.Next == "" {
			return nil
		}
		if page.Next == q.Cursor {
			return itsm.Invalidf("traverse %s: backend returned the same cursor twice", q.Kind)
		}
		q.Cursor = page.Next
	}
}

// Import writes many new documents and their events in one unit of work,
// through the backend's BulkImporter when it has one.
//
// Import keeps the numbers the documents hold but cannot tell which of them
// a sequence would issue (it knows no prefixes): a host importing numbered
// documents this way moves each kind's sequence past them with KeepNumbers,
// in a unit of work before or after the import (a failed import then leaves
// at most a gap in the numbering). Records.Create does it by itself.
func Import(ctx context.Context, b Backend, docs []Document, events []itsm.Event) error {
	if bi, ok := b.(BulkImporter); ok {
		return bi.Import(ctx, docs, events)
	}
	return b.Update(ctx, func(tx Tx) error {
		for _, d := range docs {
			if err := tx.Put(ctx, d, 0); err != nil {
				return err
			}
		}
		return tx.Append(ctx, events...)
	})
}

// EventScanner is the optional capability of reading the event log without
// copying it: a backend that holds its events in memory hands them to fn in
// place of building a slice of copies. ScanEvents calls fn with runs of
// consecutive events, together at most limit of them, with Seq > after, in
// Seq order, with the same guarantees as Backend.ReadEvents (the tenant's
// events, or every tenant's under AllTenants; a reader passing the last Seq
// it saw never misses or repeats an event); it
// reaches events committed while it runs, so under steady writes an
// unbounded scan ends once it has caught up. How long the runs are is the
// backend's choice; each holds at least one event, and its capacity ends
// with it (len == cap), so an append to it copies instead of writing into
// the backend. Before each run ScanEvents checks ctx and returns its error
// once it is done.
//
// The events may be the backend's own. The run and the events' Changes
// slices are valid only during the call: fn must neither keep them nor
// modify the events or what their slices hold, and copies what it needs.
// Strings never change, so fn may keep the events' strings (ids, values).
// fn may call the backend, writes included. Handing over runs rather than
// single events lets a consumer look ahead within one (to start loading
// what the next events need) and costs one call per run. An error from fn
// stops the scan and is returned as is. A limit below 1, or a nil fn, is
// ErrInvalid.
type EventScanner interface {
	ScanEvents(ctx context.Context, after int64, limit int, fn func([]itsm.Event) error) error
}

// scanBatch is how many events the ScanEvents fallback reads per
// ReadEvents call.
const scanBatch = 5000

// ScanEvents hands fn the events after Seq after, up to limit of them, in
// Seq order and in runs (see EventScanner), through the backend's
// EventScanner when it has one and by ReadEvents in batches otherwise.
// Consumers that catch up on a long log (KPI engines, projections, audits)
// use it to skip the copy of every event.
func ScanEvents(ctx context.Context, b Backend, after int64, limit int, fn func([]itsm.Event) error) error {
	switch {
	case ctx == nil:
		return itsm.Invalidf("scan events: nil context")
	case b == nil || fn == nil:
		return itsm.Invalidf("scan events: nil backend or function")
	case limit < 1:
		return itsm.Invalidf("scan events: limit %d, want at least 1", limit)
	}
	if sc, ok := b.(EventScanner); ok {
		return sc.ScanEvents(ctx, after, limit, fn)
	}
	for limit > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch, err := b.ReadEvents(ctx, after, min(limit, scanBatch))
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		n := min(len(batch), limit) // a backend may hand out more than asked
		batch = batch[:n:n]
		if err := fn(batch); err != nil {
			return err
		}
		after = batch[len(batch)-1].Seq
		limit -= len(batch)
	}
	return nil
}

// TextIndexer is the optional full-text capability: a backend that keeps a
// text index of its own (SQLite FTS5, a PostgreSQL tsvector with a GIN
// index) implements it. Without it, TextIndexFor hands out an in-memory
// index (NewMemoryTextIndex) that lives as long as the value the host
// keeps. Every method belongs to the tenant of its context (TenantOf): an
// entry indexed under one tenant is never found under another.
//
// IndexText replaces the entries of the same kind and id (an upsert);
// RemoveText forgets them (ids not indexed are no error). SearchText takes
// terms already split by Tokenize, never engine syntax: an implementation
// quotes every term, so no term is read as an operator. It matches the
// entries holding every term (the last as a prefix, as a person types) in
// their title or public text, and in their internal text too when
// q.Internal is set, best first, q.Offset entries skipped, at most q.Limit.
// Ties are broken by kind and id so that pages do not overlap. An index
// may rank a bounded window of the matches rather than every one, saying
// which in its doc comment (the SQLite store ranks the newest 1,000 of the
// actor's), so that a word in a tenth of a million records costs the
// window, not its every match.
type TextIndexer interface {
	IndexText(ctx context.Context, entries []TextEntry) error
	RemoveText(ctx context.Context, kind string, ids []string) error
	SearchText(ctx context.Context, q TextQuery) ([]TextHit, error)
}

// TextIndexFor returns b's own TextIndexer when it has one, and otherwise
// a new in-memory index: the fallback, which the host builds once (it
// starts empty: SearchService.Reindex fills it) and keeps.
func TextIndexFor(b Backend) TextIndexer {
	if ti, ok := b.(TextIndexer); ok {
		return ti
	}
	return NewMemoryTextIndex()
}

// Counter is the optional count capability: a backend that can count the
// documents a query selects without reading them (SELECT count(*), an
// index walk) implements it. Count answers for the tenant of ctx, the
// query's filters only: Sort, Limit and Cursor are checked as Query checks
// them and then ignored. Without it, Count walks Query's pages.
// Implementations must return exactly what the fallback returns.
type Counter interface {
	Count(ctx context.Context, q Query) (int, error)
}

// Count returns how many documents of the tenant of ctx q's filters
// select, through the backend's Counter when it has one and otherwise by
// walking Query's pages.
func Count(ctx context.Context, b Backend, q Query) (int, error) {
	if ctx == nil || b == nil {
		return 0, itsm.Invalidf("count: nil context or backend")
	}
	q.Cursor, q.Limit = "", 0
	if c, ok := b.(Counter); ok {
		return c.Count(ctx, q)
	}
	q.Limit = MaxLimit
	n := 0
	for {
		page, err := b.Query(ctx, q)
		if err != nil {
			return 0, err
		}
		n += len(page.Docs)
		if page.Next == "" {
			return n, nil
		}
		if page.Next == q.Cursor {
			return 0, itsm.Invalidf("count %s: backend returned the same cursor twice", q.Kind)
		}
		q.Cursor = page.Next
	}
}
