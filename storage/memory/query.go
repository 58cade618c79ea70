package memory

import (
	"slices"
	"strings"

	"github.com/pillars-itsm/pillars/storage"
)

// query runs a checked plan: on a declared index that fits it, the first
// limit+1 matches in index order; otherwise the candidates eachCandidate
// finds, filtered, and the first limit+1 in the plan's order kept with a
// bounded heap. The caller holds the store's read lock.
func (kd *kindData) query(p storage.Plan, copied bool) storage.Page {
	var docs []storage.Document
	// Entries of a fitting index arrive in sort order, so the walk keeps
	// them as they come and stops once the page (plus one, to know there is
	// a next) is full.
	keep := func(d storage.Document) bool {
		if p.Matches(d) && p.AfterCursor(d) {
			docs = append(docs, d)
		}
		return len(docs) <= p.Limit
	}
	if !kd.orderedScan(p, keep) && !kd.idScan(p, keep) {
		h := pageHeap{plan: &p, max: p.Limit + 1}
		visit := func(d storage.Document) {
			if p.Matches(d) && p.AfterCursor(d) {
				h.offer(d)
			}
		}
		kd.eachCandidate(p, visit)
		docs = h.docs
		slices.SortFunc(docs, func(a, b storage.Document) int { return compare(&p, a, b) })
	}
	var page storage.Page
	if len(docs) > p.Limit {
		docs = docs[:p.Limit]
		page.Next = p.NextCursor(docs[len(docs)-1])
	}
	if !copied {
		page.Docs = docs
		return page
	}
	page.Docs = make([]storage.Document, len(docs))
	for i, d := range docs {
		page.Docs[i] = cloneDoc(d)
	}
	return page
}

// idScan walks the kind's documents in id order (sortedIDs) from the
// cursor for a plan that sorts by nothing, so by id, and that no hash set
// or composite index narrows (eachCandidate would visit every document):
// paging through such a query, as a sweep of every record of a kind does,
// then costs O(n) in all instead of a pass over every document per page.
// It reports false, visiting nothing, for any other plan.
func (kd *kindData) idScan(p storage.Plan, visit func(storage.Document) bool) bool {
	if len(p.Sort) > 0 {
		return false
	}
	if _, _, hashed := kd.candidates(p); hashed {
		return false
	}
	if o, _ := kd.prefixIndex(p); o != nil {
		return false
	}
	ids := kd.sortedIDs()
	from := 0
	if p.AfterSet {
		from, _ = slices.BinarySearch(ids, p.AfterID)
	}
	for _, id := range ids[from:] {
		if !visit(kd.docs[id]) {
			break
		}
	}
	return true
}

// sortedIDs returns the ids of the kind's documents in ascending order,
// sorted once and kept until a commit adds or removes a document (an
// update keeps them). The caller holds the store's read or write lock;
// readers side by side sort once, under idsMu.
func (kd *kindData) sortedIDs() []string {
	if ids := kd.ids.Load(); ids != nil {
		return *ids
	}
	kd.idsMu.Lock()
	defer kd.idsMu.Unlock()
	if ids := kd.ids.Load(); ids != nil {
		return *ids
	}
	ids := make([]string, 0, len(kd.docs))
	for id := range kd.docs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	kd.ids.Store(&ids)
	return ids
}

// The ways eachCandidate finds a plan's candidates.
const (
	byPrefix = "composite index prefix"
	byHash   = "hash index"
	byScan   = "every document"
)

// eachCandidate hands visit every document that may match an unordered
// plan, from the narrowest source it has: the ids of the most selective
// Eq/In hash set, or the entries of a composite index whose first field the
// plan fixes when they are fewer (or when there is no hash set: the field is
// CompositeOnly), or else every document of the kind. It returns the source
// it used.
func (kd *kindData) eachCandidate(p storage.Plan, visit func(storage.Document)) string {
	sets, size, hashed := kd.candidates(p)
	o, vals := kd.prefixIndex(p)
	switch {
	case o != nil && (!hashed || o.countPrefixes(vals, size) < size):
		o.walkPrefixes(vals, func(id string) { visit(kd.docs[id]) })
		return byPrefix
	case hashed:
		for _, set := range sets {
			set.each(func(id string) { visit(kd.docs[id]) })
		}
		return byHash
	}
	for _, d := range kd.docs {
		visit(d)
	}
	return byScan
}

// candidates returns the id sets of the most selective Eq or In filter on a
// field with a hash index and how many ids they hold, and false when the
// query has no such filter.
func (kd *kindData) candidates(p storage.Plan) ([]idSet, int, bool) {
	var best []idSet
	bestSize, found := 0, false
	for i, f := range p.Filters {
		if f.Op != storage.OpEq && f.Op != storage.OpIn {
			continue
		}
		idx := kd.index[p.FilterFields[i]]
		if idx == nil {
			continue // CompositeOnly: no hash index
		}
		var sets []idSet
		size := 0
		for _, v := range distinct(f.Values) {
			if set := idx[v]; set.len() > 0 {
				sets = append(sets, set)
				size += set.len()
			}
		}
		if !found || size < bestSize {
			best, bestSize, found = sets, size, true
		}
	}
	return best, bestSize, found
}

// compare orders two documents as the plan does (Plan.Less), without
// allocating.
func compare(p *storage.Plan, a, b storage.Document) int {
	for i, fi := range p.SortFields {
		c := a.Fields[fi].Compare(b.Fields[fi])
		if p.Sort[i].Desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	switch {
	case a.ID < b.ID:
		return -1
	case a.ID > b.ID:
		return 1
	}
	return 0
}

// pageHeap keeps the first max documents offered, in plan order, as a
// max-heap whose root is the last of them.
type pageHeap struct {
	plan *storage.Plan
	max  int
	docs []storage.Document
}

func (h *pageHeap) offer(d storage.Document) {
	if len(h.docs) < h.max {
		h.docs = append(h.docs, d)
		h.up(len(h.docs) - 1)
		return
	}
	if compare(h.plan, d, h.docs[0]) >= 0 {
		return
	}
	h.docs[0] = d
	h.down(0)
}

func (h *pageHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if compare(h.plan, h.docs[i], h.docs[parent]) <= 0 {
			return
		}
		h.docs[i], h.docs[parent] = h.docs[parent], h.docs[i]
		i = parent
	}
}

func (h *pageHeap) down(i int) {
	n := len(h.docs)
	for {
		big := i
		if l := 2*i + 1; l < n && compare(h.plan, h.docs[l], h.docs[big]) > 0 {
			big = l
		}
		if r := 2*i + 2; r < n && compare(h.plan, h.docs[r], h.docs[big]) > 0 {
			big = r
		}
		if big == i {
			return
		}
		h.docs[i], h.docs[big] = h.docs[big], h.docs[i]
		i = big
	}
}

// distinct returns vs without repeats, in first-seen order: a repeated In
// value would visit its documents twice. Short lists are searched, long
// ones go through a set; a list without repeats is returned as it is.
func distinct(vs []storage.Value) []storage.Value {
	var out []storage.Value
	var seen map[storage.Value]bool // for long In lists
	if len(vs) > 16 {
		seen = make(map[storage.Value]bool, len(vs))
	}
	for j, v := range vs {
		repeat := false
		if seen != nil {
			repeat = seen[v]
			seen[v] = true
		} else {
			repeat = slices.Contains(vs[:j], v)
		}
		switch {
		case repeat && out == nil:
			out = slices.Clone(vs[:j]) // the first repeat: copy what came before
		case !repeat && out != nil:
			out = append(out, v)
		}
	}
	if out == nil {
		return vs
	}
	return out
}

// prefixIndex returns the first composite index whose first field an Eq or
// In filter of the plan fixes, with the filter's values without repeats, or
// nil.
func (kd *kindData) prefixIndex(p storage.Plan) (*ordered, []storage.Value) {
	for _, o := range kd.ordered {
		for j, f := range p.Filters {
			if p.FilterFields[j] != o.fields[0] || f.Op != storage.OpEq && f.Op != storage.OpIn {
				continue
			}
			return o, distinct(f.Values)
		}
	}
	return nil, nil
}

// walkPrefixes hands fn the id of every entry whose first field holds one
// of vals, value by value, until fn returns false.
func (o *ordered) walkPrefixes(vals []storage.Value, fn func(id string)) {
	o.eachPrefixed(vals, func(e entry) bool { fn(e.id()); return true })
}

// countPrefixes counts the entries whose first field holds one of vals,
// stopping once the count passes bound: what choosing between this index
// and a hash set of bound ids needs, at no more than that set's cost.
func (o *ordered) countPrefixes(vals []storage.Value, bound int) int {
	n := 0
	o.eachPrefixed(vals, func(entry) bool { n++; return n <= bound })
	return n
}

func (o *ordered) eachPrefixed(vals []storage.Value, fn func(entry) bool) {
	more := true
	for _, v := range vals {
		if !more {
			return
		}
		first := keyOf(v)
		o.tree.AscendGreaterOrEqual(entry{kv: first}, func(e entry) bool {
			if !strings.HasPrefix(e.kv, first) {
				return false
			}
			more = fn(e)
			return more
		})
	}
}
