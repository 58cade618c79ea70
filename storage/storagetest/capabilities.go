package storagetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// edgeKind declares an edge kind for traversals; weight is an int field the
// traversal must not accept as an end.
func edgeKind(kind string) storage.Schema {
	return storage.Schema{Kind: kind, Fields: []storage.Field{fString("src"), fString("dst"), fString("rel"), fInt("weight")}}
}

type edge struct{ id, from, to, rel string }

func edgeDoc(kind string, e edge) storage.Document {
	return storage.Document{Kind: kind, ID: e.id, Version: 1, Data: []byte(e.from + "->" + e.to),
		Fields: []storage.Value{storage.String(e.from), storage.String(e.to), storage.String(e.rel), storage.Int(int64(len(e.id)))}}
}

func (e *env) writeEdges(kind string, edges []edge) {
	e.t.Helper()
	docs := make([]storage.Document, len(edges))
	for i, ed := range edges {
		docs[i] = edgeDoc(kind, ed)
	}
	e.createMany(docs, 500)
}

// expectHops computes the traversal the contract specifies (storage.Hop),
// independently of any backend: breadth first, each node once at its
// smallest depth, Parent the smallest id one level up, Edge the smallest
// edge id from that parent, ordered by depth then id, cut at the limit.
func expectHops(edges []edge, p storage.TraverseParams) []storage.Hop {
	out := map[string][]edge{}
	for _, ed := range edges {
		if len(p.Types) > 0 && !slices.Contains(p.Types, ed.rel) {
			continue
		}
		if p.Direction == storage.Up {
			ed.from, ed.to = ed.to, ed.from
		}
		out[ed.from] = append(out[ed.from], ed)
	}
	limit := p.Limit
	if limit == 0 {
		limit = storage.MaxTraverseHops
	}
	seen := map[string]bool{}
	var frontier []string
	for _, s := range p.Start {
		if !seen[s] {
			seen[s] = true
			frontier = append(frontier, s)
		}
	}
	hops := []storage.Hop{}
	for depth := 1; depth <= p.MaxDepth && len(frontier) > 0; depth++ {
		best := map[string]storage.Hop{}
		for _, u := range frontier {
			for _, ed := range out[u] {
				if seen[ed.to] {
					continue
				}
				h := storage.Hop{ID: ed.to, Depth: depth, Parent: u, Edge: ed.id, Type: ed.rel}
				cur, ok := best[ed.to]
				if !ok || h.Parent < cur.Parent || h.Parent == cur.Parent && h.Edge < cur.Edge {
					best[ed.to] = h
				}
			}
		}
		frontier = frontier[:0:0]
		for id := range best {
			frontier = append(frontier, id)
		}
		slices.Sort(frontier)
		for _, id := range frontier {
			if len(hops) == limit {
				return hops
			}
			seen[id] = true
			hops = append(hops, best[id])
		}
	}
	return hops
}

// traversers returns the ways the suite traverses b: storage.Traverse (the
// backend's Traverser when it has one) and, when it has one, the generic
// fallback too.
func traversers(b storage.Backend) map[string]storage.Backend {
	out := map[string]storage.Backend{"Traverse": b}
	if _, ok := b.(storage.Traverser); ok {
		out["fallback"] = plainBackend{b}
	}
	return out
}

// checkTraverse compares every way of traversing with the expected hops.
func (e *env) checkTraverse(edges []edge, p storage.TraverseParams, msg string) {
	e.t.Helper()
	want := expectHops(edges, p)
	for how, b := range traversers(e.b) {
		got, err := storage.Traverse(e.ctx, b, p)
		require.NoError(e.t, err, "%s: %s", how, msg)
		if len(want) == 0 {
			require.Empty(e.t, got, "%s: %s", how, msg)
			continue
		}
		require.Equal(e.t, want, got, "%s: %s", how, msg)
	}
}

func (h *harness) testTraverse(t *testing.T) {
	t.Run("Graph", func(t *testing.T) {
		e := h.setup(t)
		s := e.register(edgeKind(name("edge")))
		// Diamonds (a-b-d, a-c-d), parallel edges (b-d three times), a
		// cycle (b-d-e-b), a cycle back to the start (a-c-f-a) and a
		// self-loop (d-d).
		edges := []edge{
			{"e01", "a", "b", "depends"}, {"e02", "a", "c", "depends"}, {"e03", "b", "d", "depends"},
			{"e04", "c", "d", "runs_on"}, {"e05", "d", "e", "depends"}, {"e06", "e", "b", "depends"},
			{"e07", "c", "f", "connects"}, {"e08", "f", "a", "depends"}, {"e09", "b", "d", "runs_on"},
			{"e00", "b", "d", "monitors"}, {"e10", "d", "d", "depends"}, {"e11", "z", "y", "depends"},
		}
		e.writeEdges(s.Kind, edges)
		base := storage.TraverseParams{Edges: s, FromField: "src", ToField: "dst", TypeField: "rel", MaxDepth: 10, Direction: storage.Down}

		// One answer spelled out, to anchor expectHops itself.
		p := base
		p.Start = []string{"a"}
		require.Equal(t, []storage.Hop{
			{ID: "b", Depth: 1, Parent: "a", Edge: "e01", Type: "depends"},
			{ID: "c", Depth: 1, Parent: "a", Edge: "e02", Type: "depends"},
			{ID: "d", Depth: 2, Parent: "b", Edge: "e00", Type: "monitors"},
			{ID: "f", Depth: 2, Parent: "c", Edge: "e07", Type: "connects"},
			{ID: "e", Depth: 3, Parent: "d", Edge: "e05", Type: "depends"},
		}, expectHops(edges, p))

		cases := map[string]func(p *storage.TraverseParams){
			"down from a":       func(p *storage.TraverseParams) { p.Start = []string{"a"} },
			"down depends only": func(p *storage.TraverseParams) { p.Start = []string{"a"}; p.Types = []string{"depends"} },
			"down runs_on only": func(p *storage.TraverseParams) { p.Start = []string{"a"}; p.Types = []string{"runs_on"} },
			"down two types":    func(p *storage.TraverseParams) { p.Start = []string{"a"}; p.Types = []string{"runs_on", "depends"} },
			"down unknown type": func(p *storage.TraverseParams) { p.Start = []string{"a"}; p.Types = []string{"nope"} },
			"down depth 1":      func(p *storage.TraverseParams) { p.Start = []string{"a"}; p.MaxDepth = 1 },
			"down depth 2":      func(p *storage.TraverseParams) { p.Start = []string{"a"}; p.MaxDepth = 2 },
			"down limit 3":      func(p *storage.TraverseParams) { p.Start = []string{"a"}; p.Limit = 3 },
			"down limit 1":      func(p *storage.TraverseParams) { p.Start = []string{"b"}; p.Limit = 1 },
			"up from e":         func(p *storage.TraverseParams) { p.Start = []string{"e"}; p.Direction = storage.Up },
			"up runs_on": func(p *storage.TraverseParams) {
				p.Start = []string{"d"}
				p.Direction = storage.Up
				p.Types = []string{"runs_on"}
			},
			"up depth 2":             func(p *storage.TraverseParams) { p.Start = []string{"e"}; p.Direction = storage.Up; p.MaxDepth = 2 },
			"up from a":              func(p *storage.TraverseParams) { p.Start = []string{"a"}; p.Direction = storage.Up },
			"several starts":         func(p *storage.TraverseParams) { p.Start = []string{"e", "a", "a"} },
			"starts reach eachother": func(p *storage.TraverseParams) { p.Start = []string{"d", "b"}; p.Direction = storage.Up },
			"unknown start":          func(p *storage.TraverseParams) { p.Start = []string{"nowhere"} },
			"leaf start":             func(p *storage.TraverseParams) { p.Start = []string{"y"} },
			"max depth":              func(p *storage.TraverseParams) { p.Start = []string{"f"}; p.MaxDepth = storage.MaxTraverseDepth },
			"max hops":               func(p *storage.TraverseParams) { p.Start = []string{"f"}; p.Limit = storage.MaxTraverseHops },
		}
		for what, fn := range cases {
			p := base
			fn(&p)
			e.checkTraverse(edges, p, what)
		}
	})

	t.Run("Wide", func(t *testing.T) {
		e := h.setup(t)
		s := e.register(edgeKind(name("edge")))
		// A level wider than storage.MaxInValues.
		n := storage.MaxInValues + 200
		var edges []edge
		for i := range n {
			leaf := fmt.Sprintf("l%05d", i)
			edges = append(edges, edge{fmt.Sprintf("w%05d", n-i), "hub", leaf, "contains"})
			edges = append(edges, edge{fmt.Sprintf("x%05d", i), leaf, "sink", []string{"feeds", "drains"}[i%2]})
		}
		e.writeEdges(s.Kind, edges)
		base := storage.TraverseParams{Edges: s, FromField: "src", ToField: "dst", TypeField: "rel", MaxDepth: 5}
		for what, fn := range map[string]func(p *storage.TraverseParams){
			"down": func(p *storage.TraverseParams) { p.Start, p.Direction = []string{"hub"}, storage.Down },
			"up":   func(p *storage.TraverseParams) { p.Start, p.Direction = []string{"sink"}, storage.Up },
			"up one type": func(p *storage.TraverseParams) {
				p.Start, p.Direction, p.Types = []string{"sink"}, storage.Up, []string{"drains"}
			},
			"down limited": func(p *storage.TraverseParams) { p.Start, p.Direction, p.Limit = []string{"hub"}, storage.Down, n-1 },
			"many starts": func(p *storage.TraverseParams) {
				p.Start, p.Direction = []string{"l00001", "l00002", "hub"}, storage.Down
			},
			"up depth one": func(p *storage.TraverseParams) { p.Start, p.Direction, p.MaxDepth = []string{"sink"}, storage.Up, 1 },
			"down no match": func(p *storage.TraverseParams) {
				p.Start, p.Direction, p.Types = []string{"hub"}, storage.Down, []string{"feeds"}
			},
		} {
			p := base
			fn(&p)
			e.checkTraverse(edges, p, what)
		}
	})

	t.Run("Random", func(t *testing.T) {
		e := h.setup(t)
		s := e.register(edgeKind(name("edge")))
		r := rand.New(rand.NewPCG(3, 3))
		nodes, nEdges := 150, 450
		rels := []string{"depends", "runs_on", "connects"}
		node := func() string { return fmt.Sprintf("n%03d", r.IntN(nodes)) }
		var edges []edge
		for i := range nEdges {
			edges = append(edges, edge{fmt.Sprintf("r%04d", r.IntN(10_000)*10+i%10), node(), node(), rels[r.IntN(len(rels))]})
		}
		slices.SortFunc(edges, func(a, b edge) int { return strings.Compare(a.id, b.id) })
		edges = slices.CompactFunc(edges, func(a, b edge) bool { return a.id == b.id })
		e.writeEdges(s.Kind, edges)
		for i := range h.scale(40, 10) {
			p := storage.TraverseParams{Edges: s, FromField: "src", ToField: "dst", TypeField: "rel",
				Direction: storage.Direction(1 + r.IntN(2)), MaxDepth: 1 + r.IntN(6)}
			for range 1 + r.IntN(3) {
				p.Start = append(p.Start, node())
			}
			for _, rel := range rels {
				if r.IntN(3) == 0 {
					p.Types = append(p.Types, rel)
				}
			}
			if r.IntN(4) == 0 {
				p.Limit = 1 + r.IntN(40)
			}
			e.checkTraverse(edges, p, fmt.Sprintf("case %d: %+v", i, p))
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		e := h.setup(t)
		s := e.register(edgeKind(name("edge")))
		e.writeEdges(s.Kind, []edge{{"e1", "a", "b", "depends"}})
		base := storage.TraverseParams{Edges: s, FromField: "src", ToField: "dst", TypeField: "rel", MaxDepth: 3, Direction: storage.Down, Start: []string{"a"}}
		cases := map[string]func(p *storage.TraverseParams){
			"unregistered kind": func(p *storage.TraverseParams) { p.Edges = edgeKind(name("edge")) },
			"bad kind name":     func(p *storage.TraverseParams) { p.Edges.Kind = "Bad Kind" },
			"no direction":      func(p *storage.TraverseParams) { p.Direction = 0 },
			"unknown direction": func(p *storage.TraverseParams) { p.Direction = 3 },
			"depth zero":        func(p *storage.TraverseParams) { p.MaxDepth = 0 },
			"depth too large":   func(p *storage.TraverseParams) { p.MaxDepth = storage.MaxTraverseDepth + 1 },
			"negative limit":    func(p *storage.TraverseParams) { p.Limit = -1 },
			"limit too large":   func(p *storage.TraverseParams) { p.Limit = storage.MaxTraverseHops + 1 },
			"no start":          func(p *storage.TraverseParams) { p.Start = nil },
			"undeclared from":   func(p *storage.TraverseParams) { p.FromField = "from" },
			"undeclared to":     func(p *storage.TraverseParams) { p.ToField = "" },
			"int type field":    func(p *storage.TraverseParams) { p.TypeField = "weight" },
			"invalid edge schema": func(p *storage.TraverseParams) {
				p.Edges.Indexes = []storage.Index{{Name: "empty"}} // an index of no fields
			},
			"CompositeOnly end": func(p *storage.TraverseParams) {
				p.Edges = edgeKind(p.Edges.Kind)
				p.Edges.Fields[0].CompositeOnly = true
				p.Edges.Indexes = []storage.Index{{Name: "by_src", Fields: []string{"src", "rel"}}}
			},
		}
		for what, fn := range cases {
			p := base
			fn(&p)
			_, err := storage.Traverse(e.ctx, e.b, p)
			require.ErrorIs(t, err, itsm.ErrInvalid, what)
			if tr, ok := e.b.(storage.Traverser); ok {
				// A Traverser refuses exactly what the fallback refuses.
				err := noPanic(t, "Traverser.Traverse "+what, func() error { _, err := tr.Traverse(e.ctx, p); return err })
				require.ErrorIs(t, err, itsm.ErrInvalid, "Traverser: "+what)
			}
		}
	})
}

// importers returns the ways the suite imports into b: storage.Import (the
// backend's BulkImporter when it has one) and, when it has one, the generic
// fallback too.
func importers(b storage.Backend) map[string]storage.Backend {
	out := map[string]storage.Backend{"Import": b}
	if _, ok := b.(storage.BulkImporter); ok {
		out["fallback"] = plainBackend{b}
	}
	return out
}

// history builds a record at version v with its chain of events; the
// document's data is its head hash.
func history(kind, id string, v int) (storage.Document, []itsm.Event) {
	evs := chain(kind, id, v)
	head := evs[len(evs)-1].Hash
	return sdoc(kind, id, int64(v), head, id, int64(v), eventBase.Add(time.Duration(v)*time.Hour)), evs
}

func (h *harness) testImport(t *testing.T) {
	t.Run("Many", func(t *testing.T) {
		e := h.setup(t)
		for how, b := range importers(e.b) {
			s := e.docSchema("imp")
			var docs []storage.Document
			var events []itsm.Event
			for i := range h.scale(500, 150) {
				d, evs := history(s.Kind, fmt.Sprintf("imp%04d", i), 1+i%4)
				docs = append(docs, d)
				events = append(events, evs...)
			}
			require.NoError(t, storage.Import(e.ctx, b, docs, events), how)
			for _, d := range docs {
				e.requireDoc(d)
			}
			requireStoredEvents(t, events, e.events(s.Kind), how+": events in the order given")
			for _, d := range docs[:min(len(docs), 50)] {
				hist, err := e.b.History(e.ctx, s.Kind, d.ID)
				require.NoError(t, err)
				require.Len(t, hist, int(d.Version))
				require.NoError(t, itsm.Verify(hist, string(d.Data)), how)
			}
			got := e.queryAll(storage.Query{Kind: s.Kind, Filters: []storage.Filter{storage.Eq("n", storage.Int(4))}, Limit: storage.MaxLimit}, len(docs))
			require.Len(t, got, len(docs)/4, "%s: imported documents are indexed", how)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		e := h.setup(t)
		for how, b := range importers(e.b) {
			require.NoError(t, storage.Import(e.ctx, b, nil, nil), how)
		}
	})

	t.Run("AllOrNothing", func(t *testing.T) {
		e := h.setup(t)
		for how, b := range importers(e.b) {
			s := e.docSchema("imp")
			existing, existingEvents := history(s.Kind, "existing", 2)
			e.create(existing)
			e.appendEvents(existingEvents...)
			before := e.snapshot(s.Kind)
			good := func(id string) (storage.Document, []itsm.Event) { return history(s.Kind, id, 3) }
			a, aEvents := good("a")
			z, zEvents := good("z")
			clash, _ := good("existing")
			dup, _ := good("a")
			invalid, _ := good("invalid")
			invalid.Fields = invalid.Fields[:1]
			big, _ := good("big")
			big.Data = make([]byte, storage.MaxDocumentSize+1)
			stranger := sdoc(name("unregistered"), "x", 1, "", "x", 1, time.Unix(0, 0))
			cases := map[string]struct {
				bad  storage.Document
				want error
			}{
				"existing document":  {clash, itsm.ErrConflict},
				"duplicate in batch": {dup, itsm.ErrConflict},
				"invalid fields":     {invalid, itsm.ErrInvalid},
				"oversized":          {big, itsm.ErrInvalid},
				"unregistered kind":  {stranger, itsm.ErrInvalid},
			}
			for what, c := range cases {
				docs := []storage.Document{a, c.bad, z}
				events := append(append(slices.Clone(aEvents), zEvents...), sealed(s.Kind, "other", 1, ""))
				err := noPanic(t, "Import", func() error { return storage.Import(e.ctx, b, docs, events) })
				require.ErrorIs(t, err, c.want, "%s: %s", how, what)
				requireSame(t, before, e.snapshot(s.Kind), how+": "+what)
			}
		}
	})
}
