package transition

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/stream"
)

// Graph is an in-memory index of the CMDB's active relationships and the
// classes of its CIs, built as a projection of the domain event log, so it
// works the same over every store. Impact analysis on a Graph answers
// exactly what storage.Traverse answers on the store (same hops, depths,
// parents and edges), in microseconds instead of one query per level.
//
// The relationships loaded at build time sit in compressed sparse rows (one
// array of neighbours per direction, ids in one string arena), about 60
// bytes per relationship; later changes, read by Refresh, go to a small
// overlay that Refresh folds back in once it grows. A Graph is safe for
// concurrent use: traversals share a read lock, Refresh takes the write lock.
type Graph struct {
	mu sync.RWMutex

	backend storage.Backend // nil for a graph built with a GraphBuilder
	seq     int64           // last event applied

	// Base nodes, sorted by id: node i is nodeArena[nodeOff[i]:nodeOff[i+1]].
	nodeArena string
	nodeOff   []uint32
	nBase     int32
	// Nodes added after the build, numbered from nBase.
	extraNodes []string
	extraIdx   map[string]int32
	class      []uint16 // per node
	classNames []string
	classIdx   map[string]uint16

	// Base edges, sorted by id: edge e is edgeArena[edgeOff[e]:edgeOff[e+1]].
	edgeArena string
	edgeOff   []uint32
	eUp, eDn  []int32 // upstream and downstream node of each base edge
	eType     []uint8
	removed   []uint64 // bitset of base edges removed since the build
	nRemoved  int

	// Compressed sparse rows over base nodes: down follows upstream →
	// downstream, up the reverse. Entry i of node u is at off[u]+i.
	downOff, upOff   []uint32
	downAdj, upAdj   []int32 // neighbour node
	downEdge, upEdge []int32 // base edge index
	downTyp, upTyp   []uint8

	// Overlay edges added since the build; their index in the traversal
	// encoding is -(i+1).
	xEdges  []xEdge
	xIdx    map[string]int32
	xDown   map[int32][]int32
	xUp     map[int32][]int32
	xActive int

	types   []string
	typeIdx map[string]uint8

	scratch sync.Pool
}

type xEdge struct {
	id      string
	up, dn  int32
	typ     uint8
	removed bool
}

// GraphBuilder collects CIs and relationships for a Graph. A host with its
// own inventory feed, or a test, builds one directly; LoadGraph builds one
// from the event log.
type GraphBuilder struct {
	nodes map[string]string // id -> class
	edges []builderEdge
	edgeI map[string]int
}

type builderEdge struct {
	id, up, dn, typ string
	removed         bool
}

// NewGraphBuilder returns an empty builder.
func NewGraphBuilder() *GraphBuilder {
	return &GraphBuilder{nodes: map[string]string{}, edgeI: map[string]int{}}
}

// AddCI declares a CI and its class (adding it again updates the class).
func (b *GraphBuilder) AddCI(id, class string) { b.nodes[id] = class }

// AddRelationship declares an active relationship with id, from its
// upstream (dependent) end to its downstream end; unknown ends are added
// with no class.
func (b *GraphBuilder) AddRelationship(id, upstream, downstream, typ string) {
	for _, n := range []string{upstream, downstream} {
		if _, ok := b.nodes[n]; !ok {
			b.nodes[n] = ""
		}
	}
	if i, ok := b.edgeI[id]; ok {
		b.edges[i] = builderEdge{id: id, up: upstream, dn: downstream, typ: typ}
		return
	}
	b.edgeI[id] = len(b.edges)
	b.edges = append(b.edges, builderEdge{id: id, up: upstream, dn: downstream, typ: typ})
}

// RemoveRelationship drops a relationship added before.
func (b *GraphBuilder) RemoveRelationship(id string) {
	if i, ok := b.edgeI[id]; ok {
		b.edges[i].removed = true
	}
}

// Build compiles the graph. It fails with ErrInvalid when an id is not a
// valid store id (empty, over 128 bytes, NUL or not UTF-8), a relationship
// has no type, more than 255 relationship types, 65535 classes or 2^31
// nodes are used, or the ids do not fit in 4 GiB.
func (b *GraphBuilder) Build() (*Graph, error) {
	for id := range b.nodes {
		if !validID(id) {
			return nil, itsm.Invalidf("cmdb graph: CI id %.64q is empty, longer than 128 bytes, or not NUL-free UTF-8", id)
		}
	}
	for _, e := range b.edges {
		if !validID(e.id) || e.typ == "" {
			return nil, itsm.Invalidf("cmdb graph: relationship %.64q has a bad id or no type", e.id)
		}
	}
	g := &Graph{extraIdx: map[string]int32{}, classIdx: map[string]uint16{}, xIdx: map[string]int32{},
		xDown: map[int32][]int32{}, xUp: map[int32][]int32{}, typeIdx: map[string]uint8{}}
	ids := make([]string, 0, len(b.nodes))
	for id := range b.nodes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if len(ids) >= 1<<31-1 {
		return nil, itsm.Invalidf("cmdb graph: %d nodes is too many", len(ids))
	}
	var arena strings.Builder
	g.nodeOff = make([]uint32, 0, len(ids)+1)
	g.class = make([]uint16, len(ids))
	idx := make(map[string]int32, len(ids))
	for i, id := range ids {
		if uint64(arena.Len())+uint64(len(id)) > 1<<32-1 {
			return nil, itsm.Invalidf("cmdb graph: node ids exceed 4 GiB")
		}
		g.nodeOff = append(g.nodeOff, uint32(arena.Len()))
		arena.WriteString(id)
		idx[id] = int32(i)
		c, err := g.internClass(b.nodes[id])
		if err != nil {
			return nil, err
		}
		g.class[i] = c
	}
	g.nodeOff = append(g.nodeOff, uint32(arena.Len()))
	g.nodeArena = arena.String()
	g.nBase = int32(len(ids))

	edges := make([]builderEdge, 0, len(b.edges))
	for _, e := range b.edges {
		if !e.removed {
			edges = append(edges, e)
		}
	}
	slices.SortFunc(edges, func(a, b builderEdge) int { return cmp.Compare(a.id, b.id) })
	n := len(edges)
	var earena strings.Builder
	g.edgeOff = make([]uint32, 0, n+1)
	g.eUp, g.eDn, g.eType = make([]int32, n), make([]int32, n), make([]uint8, n)
	for i, e := range edges {
		if uint64(earena.Len())+uint64(len(e.id)) > 1<<32-1 {
			return nil, itsm.Invalidf("cmdb graph: relationship ids exceed 4 GiB")
		}
		g.edgeOff = append(g.edgeOff, uint32(earena.Len()))
		earena.WriteString(e.id)
		t, err := g.internType(e.typ)
		if err != nil {
			return nil, err
		}
		g.eUp[i], g.eDn[i], g.eType[i] = idx[e.up], idx[e.dn], t
	}
	g.edgeOff = append(g.edgeOff, uint32(earena.Len()))
	g.edgeArena = earena.String()
	g.removed = make([]uint64, (n+63)/64)
	g.downOff, g.downAdj, g.downEdge, g.downTyp = g.csr(g.eUp, g.eDn)
	g.upOff, g.upAdj, g.upEdge, g.upTyp = g.csr(g.eDn, g.eUp)
	return g, nil
}

// csr lays the base edges out as rows keyed by from.
func (g *Graph) csr(from, to []int32) (off []uint32, adj, edge []int32, typ []uint8) {
	off = make([]uint32, g.nBase+1)
	for _, f := range from {
		off[f+1]++
	}
	for i := 1; i < len(off); i++ {
		off[i] += off[i-1]
	}
	pos := slices.Clone(off[:len(off)-1])
	adj, edge, typ = make([]int32, len(from)), make([]int32, len(from)), make([]uint8, len(from))
	for e, f := range from {
		p := pos[f]
		pos[f]++
		adj[p], edge[p], typ[p] = to[e], int32(e), g.eType[e]
	}
	return off, adj, edge, typ
}

func (g *Graph) internClass(c string) (uint16, error) {
	if i, ok := g.classIdx[c]; ok {
		return i, nil
	}
	if len(g.classNames) >= 1<<16-1 {
		return 0, itsm.Invalidf("cmdb graph: more than 65535 classes")
	}
	g.classIdx[c] = uint16(len(g.classNames))
	g.classNames = append(g.classNames, c)
	return uint16(len(g.classNames) - 1), nil
}

func (g *Graph) internType(t string) (uint8, error) {
	if i, ok := g.typeIdx[t]; ok {
		return i, nil
	}
	if len(g.types) >= 255 {
		return 0, itsm.Invalidf("cmdb graph: more than 255 relationship types")
	}
	g.typeIdx[t] = uint8(len(g.types))
	g.types = append(g.types, t)
	return uint8(len(g.types) - 1), nil
}

// nodeID returns the id of node i.
func (g *Graph) nodeID(i int32) string {
	if i < g.nBase {
		return g.nodeArena[g.nodeOff[i]:g.nodeOff[i+1]]
	}
	return g.extraNodes[i-g.nBase]
}

// edgeID returns the id of edge e (negative for overlay edges).
func (g *Graph) edgeID(e int32) string {
	if e >= 0 {
		return g.edgeArena[g.edgeOff[e]:g.edgeOff[e+1]]
	}
	return g.xEdges[-e-1].id
}

// lookup returns the node index of id.
func (g *Graph) lookup(id string) (int32, bool) {
	i := sort.Search(int(g.nBase), func(i int) bool { return g.nodeID(int32(i)) >= id })
	if i < int(g.nBase) && g.nodeID(int32(i)) == id {
		return int32(i), true
	}
	x, ok := g.extraIdx[id]
	return x, ok
}

func (g *Graph) lookupEdge(id string) (int32, bool) {
	n := len(g.eType)
	i := sort.Search(n, func(i int) bool { return g.edgeID(int32(i)) >= id })
	if i < n && g.edgeID(int32(i)) == id {
		return int32(i), true
	}
	if x, ok := g.xIdx[id]; ok {
		return -x - 1, true
	}
	return 0, false
}

// nodeLess orders nodes by id; base nodes are numbered in id order.
func (g *Graph) nodeLess(a, b int32) bool {
	if a < g.nBase && b < g.nBase {
		return a < b
	}
	return g.nodeID(a) < g.nodeID(b)
}

func (g *Graph) edgeLess(a, b int32) bool {
	if a >= 0 && b >= 0 {
		return a < b
	}
	return g.edgeID(a) < g.edgeID(b)
}

func (g *Graph) addNode(id, class string) (int32, error) {
	if i, ok := g.lookup(id); ok {
		if class != "" {
			c, err := g.internClass(class)
			if err != nil {
				return 0, err
			}
			g.class[i] = c
		}
		return i, nil
	}
	c, err := g.internClass(class)
	if err != nil {
		return 0, err
	}
	i := g.nBase + int32(len(g.extraNodes))
	g.extraNodes = append(g.extraNodes, id)
	g.extraIdx[id] = i
	g.class = append(g.class, c)
	return i, nil
}

func (g *Graph) addEdge(id, up, dn, typ string) error {
	if e, ok := g.lookupEdge(id); ok {
		if e >= 0 && g.removed[e/64]&(1<<(e%64)) == 0 || e < 0 && !g.xEdges[-e-1].removed {
			return nil // already present
		}
	}
	u, err := g.addNode(up, "")
	if err != nil {
		return err
	}
	d, err := g.addNode(dn, "")
	if err != nil {
		return err
	}
	t, err := g.internType(typ)
	if err != nil {
		return err
	}
	x := int32(len(g.xEdges))
	g.xEdges = append(g.xEdges, xEdge{id: id, up: u, dn: d, typ: t})
	g.xIdx[id] = x
	g.xDown[u] = append(g.xDown[u], x)
	g.xUp[d] = append(g.xUp[d], x)
	g.xActive++
	return nil
}

func (g *Graph) removeEdge(id string) {
	e, ok := g.lookupEdge(id)
	if !ok {
		return
	}
	if e >= 0 {
		if g.removed[e/64]&(1<<(e%64)) == 0 {
			g.removed[e/64] |= 1 << (e % 64)
			g.nRemoved++
		}
		return
	}
	if x := &g.xEdges[-e-1]; !x.removed {
		x.removed = true
		g.xActive--
	}
}

// GraphStats describes a graph's size.
type GraphStats struct {
	CIs           int   // nodes
	Relationships int   // active relationships
	Overlay       int   // relationships changed since the last compaction
	Bytes         int64 // approximate memory held by the index
	Seq           int64 // the last event applied
}

// Stats returns the graph's size and approximate memory use.
func (g *Graph) Stats() GraphStats {
	g.mu.RLock()
	defer g.mu.RUnlock()
	b := int64(len(g.nodeArena)) + 4*int64(len(g.nodeOff)) + 2*int64(len(g.class)) +
		int64(len(g.edgeArena)) + 4*int64(len(g.edgeOff)) + 9*int64(len(g.eType)) + 8*int64(len(g.removed)) +
		4*int64(len(g.downOff)+len(g.upOff)) + 9*int64(len(g.downAdj)+len(g.upAdj))
	for _, s := range g.extraNodes {
		b += int64(len(s)) + 40
	}
	b += int64(len(g.xEdges)) * 100
	return GraphStats{
		CIs: int(g.nBase) + len(g.extraNodes), Relationships: len(g.eType) - g.nRemoved + g.xActive,
		Overlay: len(g.xEdges) + g.nRemoved, Bytes: b, Seq: g.seq,
	}
}

// ClassOf returns the class the graph knows for a CI, and whether it knows
// the CI.
func (g *Graph) ClassOf(id string) (string, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	i, ok := g.lookup(id)
	if !ok {
		return "", false
	}
	return g.classNames[g.class[i]], true
}

// rawHop is a hop in node indexes.
type rawHop struct {
	node, parent, edge, depth int32
}

type slot struct {
	gen uint32 // the walk that reached the node
	at  int32  // its position in the walk's hops, -1 for a start node
}

type scratch struct {
	mark     []uint32 // fast path: the walk that reached each node
	slots    []slot
	gen      uint32
	hops     []rawHop
	frontier []int32
}

func (g *Graph) getScratch() *scratch {
	n := int(g.nBase) + len(g.extraNodes)
	s, _ := g.scratch.Get().(*scratch)
	if s == nil {
		s = &scratch{}
	}
	if len(s.mark) < n {
		s.mark = make([]uint32, n+n/8)
		s.slots = nil
		s.gen = 0
	}
	if len(s.slots) < n && (len(g.xEdges) > 0 || len(g.extraNodes) > 0) {
		s.slots = make([]slot, len(s.mark))
		clear(s.mark)
		s.gen = 0
	}
	s.gen++
	if s.gen == 0 {
		clear(s.slots)
		clear(s.mark)
		s.gen = 1
	}
	s.hops = s.hops[:0]
	return s
}

// walk is the breadth-first search behind Traverse: each node once, at its
// smallest depth, with the smallest parent (and the smallest edge from it)
// among the nodes of the level above. Hops come level by level, unordered
// within a level. The caller holds the read lock.
func (g *Graph) walk(s *scratch, start []int32, dir storage.Direction, mask *[256]bool, maxDepth, limit int) ([]rawHop, bool) {
	if len(g.xEdges) == 0 && len(g.extraNodes) == 0 {
		return g.walkSorted(s, start, dir, mask, maxDepth, limit), true
	}
	return g.walkGeneral(s, start, dir, mask, maxDepth, limit), false
}

// walkSorted is the walk when every node and edge sits in the rows, where
// node and edge indexes follow id order. Each level is expanded in node
// order and each row lists its edges in edge order, so the first edge to
// reach a node is the one the rules pick (smallest parent, then smallest
// edge): no tie-breaking, one 4-byte mark per node, and each level comes
// out already sorted.
func (g *Graph) walkSorted(s *scratch, start []int32, dir storage.Direction, mask *[256]bool, maxDepth, limit int) []rawHop {
	mark, gen := s.mark, s.gen
	hops := s.hops
	for _, n := range start {
		mark[n] = gen
	}
	off, adj, edg, typ := g.downOff, g.downAdj, g.downEdge, g.downTyp
	if dir == storage.Up {
		off, adj, edg, typ = g.upOff, g.upAdj, g.upEdge, g.upTyp
	}
	removed := g.nRemoved > 0
	frontier := append(s.frontier[:0], start...)
	for depth := int32(1); int(depth) <= maxDepth && len(frontier) > 0; depth++ {
		levelStart := len(hops)
		for _, u := range frontier {
			for p, end := off[u], off[u+1]; p < end; p++ {
				v := adj[p]
				if mark[v] == gen {
					continue
				}
				if mask != nil && !mask[typ[p]] {
					continue
				}
				e := edg[p]
				if removed && g.removed[e>>6]&(1<<(e&63)) != 0 {
					continue
				}
				mark[v] = gen
				hops = append(hops, rawHop{node: v, parent: u, edge: e, depth: depth})
			}
		}
		level := hops[levelStart:]
		g.sortLevel(level)
		if len(hops) >= limit {
			hops = hops[:limit]
			break
		}
		frontier = frontier[:0]
		for _, h := range level {
			frontier = append(frontier, h.node)
		}
	}
	s.hops, s.frontier = hops, frontier
	return hops
}

// walkGeneral is the walk with an overlay: nodes and edges added since the
// build do not follow id order, so a node reached twice in one level keeps
// the smaller parent and edge by comparison.
func (g *Graph) walkGeneral(s *scratch, start []int32, dir storage.Direction, mask *[256]bool, maxDepth, limit int) []rawHop {
	slots, gen := s.slots, s.gen
	hops := s.hops
	for _, n := range start {
		slots[n] = slot{gen: gen, at: -1}
	}
	off, adj, edg, typ := g.downOff, g.downAdj, g.downEdge, g.downTyp
	xadj := g.xDown
	if dir == storage.Up {
		off, adj, edg, typ = g.upOff, g.upAdj, g.upEdge, g.upTyp
		xadj = g.xUp
	}
	removed := g.nRemoved > 0
	nBase := g.nBase
	overlay := len(xadj) > 0
	frontier := append(s.frontier[:0], start...)
	for depth := int32(1); int(depth) <= maxDepth && len(frontier) > 0; depth++ {
		levelStart := int32(len(hops))
		for _, u := range frontier {
			if u < nBase {
				for p, end := off[u], off[u+1]; p < end; p++ {
					v := adj[p]
					sl := &slots[v]
					if sl.gen == gen && sl.at < levelStart {
						continue // reached at an earlier level: the common case
					}
					if mask != nil && !mask[typ[p]] {
						continue
					}
					e := edg[p]
					if removed && g.removed[e>>6]&(1<<(e&63)) != 0 {
						continue
					}
					if sl.gen != gen {
						*sl = slot{gen: gen, at: int32(len(hops))}
						hops = append(hops, rawHop{node: v, parent: u, edge: e, depth: depth})
					} else if sl.at >= levelStart {
						g.tie(&hops[sl.at], u, e)
					}
				}
			}
			if overlay {
				for _, x := range xadj[u] {
					xe := &g.xEdges[x]
					if xe.removed || mask != nil && !mask[xe.typ] {
						continue
					}
					v := xe.dn
					if dir == storage.Up {
						v = xe.up
					}
					sl := &slots[v]
					if sl.gen != gen {
						*sl = slot{gen: gen, at: int32(len(hops))}
						hops = append(hops, rawHop{node: v, parent: u, edge: -x - 1, depth: depth})
					} else if sl.at >= levelStart {
						g.tie(&hops[sl.at], u, -x-1)
					}
				}
			}
		}
		if len(hops) >= limit {
			if len(hops) > limit {
				g.sortLevel(hops[levelStart:])
				hops = hops[:limit]
			}
			break
		}
		frontier = frontier[:0]
		for _, h := range hops[levelStart:] {
			frontier = append(frontier, h.node)
		}
	}
	s.hops, s.frontier = hops, frontier
	return hops
}

// tie keeps, for a node reached twice in one level, the smallest parent and
// the smallest edge from it.
func (g *Graph) tie(h *rawHop, u, e int32) {
	if u == h.parent {
		if g.edgeLess(e, h.edge) {
			h.edge = e
		}
	} else if g.nodeLess(u, h.parent) {
		h.parent, h.edge = u, e
	}
}

// sortLevel orders one level's hops by node id: a radix sort on the node
// index when every node is a base node (numbered in id order), a comparison
// sort otherwise.
func (g *Graph) sortLevel(level []rawHop) {
	if len(level) < 2 {
		return
	}
	for _, h := range level {
		if h.node >= g.nBase {
			slices.SortFunc(level, func(a, b rawHop) int { return g.cmpNode(a.node, b.node) })
			return
		}
	}
	if len(level) < 256 {
		slices.SortFunc(level, func(a, b rawHop) int { return cmp.Compare(a.node, b.node) })
		return
	}
	tmp := make([]rawHop, len(level))
	src, dst := level, tmp
	for shift := 0; shift < 32 && int64(1)<<shift <= int64(g.nBase); shift += 11 {
		var count [2049]int
		for _, h := range src {
			count[(h.node>>shift)&2047+1]++
		}
		for i := 1; i < len(count); i++ {
			count[i] += count[i-1]
		}
		for _, h := range src {
			k := (h.node >> shift) & 2047
			dst[count[k]] = h
			count[k]++
		}
		src, dst = dst, src
	}
	if &src[0] != &level[0] {
		copy(level, src)
	}
}

func (g *Graph) cmpNode(a, b int32) int {
	switch {
	case a == b:
		return 0
	case g.nodeLess(a, b):
		return -1
	}
	return 1
}

// Traverse walks the graph from start, answering exactly what
// storage.Traverse answers on the store the graph projects: every node
// once, at its smallest depth, ordered by depth then id. Unknown start ids
// are ignored (they have no relationships). The parameters are checked as
// storage.TraverseParams.Check does.
func (g *Graph) Traverse(start []string, dir storage.Direction, types []string, maxDepth, limit int) ([]storage.Hop, error) {
	if err := checkWalk(dir, maxDepth, limit, start); err != nil {
		return nil, err
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	s, hops, sorted, ok := g.run(start, dir, types, maxDepth, limit)
	if !ok {
		return nil, nil
	}
	defer g.scratch.Put(s)
	if !sorted {
		g.sortHops(hops)
	}
	out := make([]storage.Hop, len(hops))
	for i, h := range hops {
		out[i] = storage.Hop{ID: g.nodeID(h.node), Depth: int(h.depth), Parent: g.nodeID(h.parent),
			Edge: g.edgeID(h.edge), Type: g.types[g.edgeType(h.edge)]}
	}
	return out, nil
}

func (g *Graph) edgeType(e int32) uint8 {
	if e >= 0 {
		return g.eType[e]
	}
	return g.xEdges[-e-1].typ
}

// run resolves the start ids and the type mask and walks; ok is false when
// nothing can be reached. The caller holds the read lock and returns s to
// the pool.
func (g *Graph) run(start []string, dir storage.Direction, types []string, maxDepth, limit int) (*scratch, []rawHop, bool, bool) {
	var mask *[256]bool
	if len(types) > 0 {
		mask = new([256]bool)
		any := false
		for _, t := range types {
			if i, ok := g.typeIdx[t]; ok {
				mask[i], any = true, true
			}
		}
		if !any {
			return nil, nil, false, false
		}
	}
	if limit == 0 {
		limit = storage.MaxTraverseHops
	}
	idx := make([]int32, 0, len(start))
	for _, id := range start {
		if i, ok := g.lookup(id); ok {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil, nil, false, false
	}
	slices.SortFunc(idx, g.cmpNode)
	idx = slices.Compact(idx)
	s := g.getScratch()
	hops, sorted := g.walk(s, idx, dir, mask, maxDepth, limit)
	return s, hops, sorted, true
}

// sortHops orders hops by depth then node id. Hops arrive level by level.
func (g *Graph) sortHops(hops []rawHop) {
	for i := 0; i < len(hops); {
		j := i
		for j < len(hops) && hops[j].depth == hops[i].depth {
			j++
		}
		g.sortLevel(hops[i:j])
		i = j
	}
}

func checkWalk(dir storage.Direction, maxDepth, limit int, start []string) error {
	switch {
	case dir != storage.Down && dir != storage.Up:
		return itsm.Invalidf("cmdb graph: direction must be Down or Up")
	case maxDepth < 1 || maxDepth > storage.MaxTraverseDepth:
		return itsm.Invalidf("cmdb graph: depth %d outside 1..%d", maxDepth, storage.MaxTraverseDepth)
	case limit < 0 || limit > storage.MaxTraverseHops:
		return itsm.Invalidf("cmdb graph: limit %d outside 0..%d", limit, storage.MaxTraverseHops)
	case len(start) == 0:
		return itsm.Invalidf("cmdb graph: no start ids")
	}
	for _, id := range start {
		if !validID(id) {
			return itsm.Invalidf("cmdb graph: start id %.64q is empty, longer than 128 bytes, or not NUL-free UTF-8", id)
		}
	}
	return nil
}

// LoadGraph builds the graph of the CMDB's store by reading its event log
// from the beginning, so it needs no query that every store would run
// differently. Keep it current with Refresh.
func LoadGraph(ctx context.Context, c *CMDB) (*Graph, error) {
	if c == nil || ctx == nil {
		return nil, itsm.Invalidf("cmdb graph: nil CMDB or context")
	}
	b := NewGraphBuilder()
	var seq int64
	err := readEvents(ctx, c.backend, "cmdb_graph", 0, func(e itsm.Event) error {
		seq = e.Seq
		return applyToBuilder(b, e)
	})
	if err != nil {
		return nil, err
	}
	g, err := b.Build()
	if err != nil {
		return nil, err
	}
	g.backend, g.seq = c.backend, seq
	return g, nil
}

// Refresh applies the events written since the graph was built or last
// refreshed, and compacts the overlay into the rows when it has grown past
// an eighth of the graph. It returns how many events it read.
func (g *Graph) Refresh(ctx context.Context) (int, error) {
	if ctx == nil {
		return 0, itsm.Invalidf("cmdb graph: nil context")
	}
	if g.backend == nil {
		return 0, itsm.Invalidf("cmdb graph: built without a store, nothing to refresh from")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	err := readEvents(ctx, g.backend, "cmdb_graph", g.seq, func(e itsm.Event) error {
		n++
		if err := g.apply(e); err != nil {
			return err
		}
		g.seq = e.Seq
		return nil
	})
	if err != nil {
		return n, err
	}
	if ov := len(g.xEdges) + g.nRemoved; ov > 1024 && ov > len(g.eType)/8 {
		g.compact()
	}
	return n, nil
}

// compact rebuilds the rows with the overlay folded in. The caller holds the
// write lock.
func (g *Graph) compact() {
	b := NewGraphBuilder()
	for i := int32(0); i < g.nBase+int32(len(g.extraNodes)); i++ {
		b.AddCI(g.nodeID(i), g.classNames[g.class[i]])
	}
	for e := range g.eType {
		if g.removed[e/64]&(1<<(e%64)) == 0 {
			b.AddRelationship(g.edgeID(int32(e)), g.nodeID(g.eUp[e]), g.nodeID(g.eDn[e]), g.types[g.eType[e]])
		}
	}
	for _, x := range g.xEdges {
		if !x.removed {
			b.AddRelationship(x.id, g.nodeID(x.up), g.nodeID(x.dn), g.types[x.typ])
		}
	}
	ng, err := b.Build()
	if err != nil {
		return // keep the overlay; the graph stays correct, only slower
	}
	ng.backend, ng.seq = g.backend, g.seq
	g.nodeArena, g.nodeOff, g.nBase = ng.nodeArena, ng.nodeOff, ng.nBase
	g.extraNodes, g.extraIdx, g.class, g.classNames, g.classIdx = ng.extraNodes, ng.extraIdx, ng.class, ng.classNames, ng.classIdx
	g.edgeArena, g.edgeOff, g.eUp, g.eDn, g.eType, g.removed, g.nRemoved = ng.edgeArena, ng.edgeOff, ng.eUp, ng.eDn, ng.eType, ng.removed, 0
	g.downOff, g.downAdj, g.downEdge, g.downTyp = ng.downOff, ng.downAdj, ng.downEdge, ng.downTyp
	g.upOff, g.upAdj, g.upEdge, g.upTyp = ng.upOff, ng.upAdj, ng.upEdge, ng.upTyp
	g.xEdges, g.xIdx, g.xDown, g.xUp, g.xActive = nil, ng.xIdx, ng.xDown, ng.xUp, 0
	g.types, g.typeIdx = ng.types, ng.typeIdx
	g.scratch = sync.Pool{}
}

// readEvents hands fn every event after Seq after, up to the end of the
// log, through a Local stream.Consumer named name: the projections
// (Graph, SearchIndex) live in each instance's memory, so each instance
// reads every event, from the Seq it was built or refreshed to, with no
// checkpoint or lease in the store, and of the tenant of ctx only, as a
// projection serves one tenant. The consumer reads in place
// (storage.ScanEvents) where the store can (the memory store), so
// replaying a long log pays no copy per event: fn gets the event by value
// and may keep its strings, not its Changes.
func readEvents(ctx context.Context, b storage.Backend, name string, after int64, fn func(itsm.Event) error) error {
	tenant, err := storage.TenantOf(ctx, false)
	if err != nil {
		return err
	}
	c, err := stream.NewConsumer(ctx, b, stream.ConsumerConfig{Name: name, Local: true, InPlace: true, Tenant: tenant,
		Batch: stream.MaxBatch, From: after, Instance: name,
		Handler: stream.HandlerFunc(func(_ context.Context, evs []itsm.Event) error {
			for _, e := range evs {
				if err := fn(e); err != nil {
					return err
				}
			}
			return nil
		})})
	if err != nil {
		return err
	}
	for {
		n, err := c.RunOnce(ctx)
		if he := (*stream.HandlerError)(nil); errors.As(err, &he) {
			return he.Err // fn's own error, as fn returned it
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
}

// changedString returns the new value of a string field named in the
// event's changes.
func changedString(e itsm.Event, field string) (string, bool, error) {
	for _, c := range e.Changes {
		if c.Field != field {
			continue
		}
		if c.To == "" {
			return "", true, nil
		}
		if plainJSONString(c.To) {
			return c.To[1 : len(c.To)-1], true, nil
		}
		var s string
		if err := json.Unmarshal([]byte(c.To), &s); err != nil {
			return "", false, fmt.Errorf("%w: event %s of %s %s: field %s is not a string: %v", itsm.ErrInvalid, e.ID, e.Kind, e.RecordID, field, err)
		}
		return s, true, nil
	}
	return "", false, nil
}

func applyToBuilder(b *GraphBuilder, e itsm.Event) error {
	switch e.Kind {
	case KindCI:
		class, ok, err := changedString(e, "class")
		if err != nil {
			return err
		}
		if ok || e.Name == itsm.EventCreate {
			b.AddCI(e.RecordID, class)
		}
	case KindRelationship:
		if e.To == RelRemoved {
			b.RemoveRelationship(e.RecordID)
			return nil
		}
		if e.Name != itsm.EventCreate {
			return nil
		}
		up, dn, typ, err := edgeOf(e)
		if err != nil {
			return err
		}
		b.AddRelationship(e.RecordID, up, dn, typ)
	}
	return nil
}

func (g *Graph) apply(e itsm.Event) error {
	switch e.Kind {
	case KindCI:
		class, ok, err := changedString(e, "class")
		if err != nil {
			return err
		}
		if ok || e.Name == itsm.EventCreate {
			_, err = g.addNode(e.RecordID, class)
		}
		return err
	case KindRelationship:
		if e.To == RelRemoved {
			g.removeEdge(e.RecordID)
			return nil
		}
		if e.Name != itsm.EventCreate {
			return nil
		}
		up, dn, typ, err := edgeOf(e)
		if err != nil {
			return err
		}
		return g.addEdge(e.RecordID, up, dn, typ)
	}
	return nil
}

func edgeOf(e itsm.Event) (up, dn, typ string, err error) {
	var ok [3]bool
	if up, ok[0], err = changedString(e, EdgeUpstream); err != nil {
		return
	}
	if dn, ok[1], err = changedString(e, EdgeDownstream); err != nil {
		return
	}
	if typ, ok[2], err = changedString(e, EdgeType); err != nil {
		return
	}
	if !ok[0] || !ok[1] || !ok[2] || up == "" || dn == "" {
		err = fmt.Errorf("%w: event %s creating %s %s lacks upstream, downstream or type", itsm.ErrInvalid, e.ID, e.Kind, e.RecordID)
	}
	return
}

// Reach returns how many CIs a traversal from start reaches, without
// building its hops: the cheapest answer to "how large is the blast
// radius". Parameters are checked as in Traverse.
func (g *Graph) Reach(start []string, dir storage.Direction, types []string, maxDepth int) (int, error) {
	if err := checkWalk(dir, maxDepth, 0, start); err != nil {
		return 0, err
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	s, hops, _, ok := g.run(start, dir, types, maxDepth, 0)
	if !ok {
		return 0, nil
	}
	n := len(hops)
	g.scratch.Put(s)
	return n, nil
}

// Reaches reports whether to is reachable from from following downstream
// relationships of the given types (all when empty), at any depth: the
// cycle check of acyclic relationship types. It answers as of the last
// Refresh.
func (g *Graph) Reaches(from, to string, types []string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if from == to {
		return true
	}
	s, ok := g.lookup(from)
	t, ok2 := g.lookup(to)
	if !ok || !ok2 {
		return false
	}
	var mask *[256]bool
	if len(types) > 0 {
		mask = new([256]bool)
		for _, ty := range types {
			if i, ok := g.typeIdx[ty]; ok {
				mask[i] = true
			}
		}
	}
	sc := g.getScratch()
	defer g.scratch.Put(sc)
	mark, gen := sc.mark, sc.gen
	queue := append(sc.frontier[:0], s)
	mark[s] = gen
	for len(queue) > 0 {
		u := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		found := false
		g.each(u, mask, func(v int32) bool {
			if v == t {
				found = true
				return false
			}
			if mark[v] != gen {
				mark[v] = gen
				queue = append(queue, v)
			}
			return true
		})
		if found {
			sc.frontier = queue
			return true
		}
	}
	sc.frontier = queue
	return false
}

// each calls fn for every downstream neighbour of u over active
// relationships of the masked types, until fn returns false.
func (g *Graph) each(u int32, mask *[256]bool, fn func(int32) bool) {
	if u < g.nBase {
		for p, end := g.downOff[u], g.downOff[u+1]; p < end; p++ {
			if mask != nil && !mask[g.downTyp[p]] {
				continue
			}
			if e := g.downEdge[p]; g.nRemoved > 0 && g.removed[e>>6]&(1<<(e&63)) != 0 {
				continue
			}
			if !fn(g.downAdj[p]) {
				return
			}
		}
	}
	for _, x := range g.xDown[u] {
		xe := &g.xEdges[x]
		if xe.removed || mask != nil && !mask[xe.typ] {
			continue
		}
		if !fn(xe.dn) {
			return
		}
	}
}

// plainJSONString reports whether s is a JSON string of printable ASCII
// without escapes (ids, type names): its content is s without the quotes.
func plainJSONString(s string) bool {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
