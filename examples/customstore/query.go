package customstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/pillars-itsm/pillars/storage"
)

// walkScript reads up to ARGV[4] members of the sorted set KEYS[1] between
// the lex bounds ARGV[2] and ARGV[3], forwards ("a") or backwards ("d"), with
// each member's document (version, data, fields) from the hash named by
// ARGV[5] and the id at the member's end. One script call is one atomic
// snapshot: no document is torn, and none is seen at a position it has
// already left.
var walkScript = redis.NewScript(`
local ms
if ARGV[1] == 'a' then ms = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[2], ARGV[3], 'LIMIT', 0, ARGV[4])
else ms = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[3], ARGV[2], 'LIMIT', 0, ARGV[4]) end
local out = {}
for _, m in ipairs(ms) do
  local n = string.byte(m, -1)
  local h = redis.call('HMGET', ARGV[5] .. string.sub(m, -1 - n, -2), 'v', 'd', 'f')
  out[#out+1] = m; out[#out+1] = h[1] or ''; out[#out+1] = h[2] or ''; out[#out+1] = h[3] or ''
end
return out`)

// walk is a range of one sorted set: members m with lo <= m < hi (no upper
// bound when !hasHi), read in ascending or descending order.
type walk struct {
	key   string
	desc  bool
	lo    string
	hi    string
	hasHi bool
	empty bool
}

// How a query reads its sorted set.
const (
	// served: the set yields the query's order; stop after limit+1 matches.
	served = iota + 1
	// grouped: the set yields the order of the first sort field; read
	// until limit+1 matches and the end of the last one's group of equal
	// first values, then sort the rest of the key here.
	grouped
	// gathered: read the narrowest range whole and sort it here.
	gathered
)

// maxFanout bounds the ranges one query reads: the product of the In
// lists on the fixed fields.
const maxFanout = 64

// plan picks the sorted set for a query and the ranges to read in it. A set
// ordered by (z1..zn, id) whose leading fields z1..zm are fixed by Eq or In
// filters yields, within each combination of those values, documents in the
// order (zm+1..zn, id); when that is the query's order (one direction
// throughout) each range is read straight off the set up to limit+1
// matches, and several ranges (In lists: "unassigned in my groups") are
// merged. Otherwise (mixed directions, or an index suffix whose leading
// fields are not fixed) the query reads the narrowest fixed ranges whole,
// or, with nothing fixed, walks the first sort field group by group; either
// way it sorts what it read here, as a SQL database sorts rows that no index
// orders.
func (ki *kindInfo) plan(p storage.Plan) (ws []walk, mode int) {
	desc := len(p.Sort) > 0 && p.Sort[0].Desc
	uniform := true
	for _, o := range p.Sort {
		uniform = uniform && o.Desc == desc
	}
	best, bestM := -1, 0           // the served set, when mode is served
	gBest, gM, gScore := -1, 0, -1 // the best set to gather from
	for zi, z := range ki.sets {
		if z.key == "" {
			continue // a CompositeOnly field's missing set
		}
		m, fan := 0, 1
		for m < len(z.fields) {
			vs := fixed(p, z.fields[m])
			if len(vs) == 0 || fan*len(vs) > maxFanout {
				break
			}
			m, fan = m+1, fan*len(vs)
		}
		if uniform && (!desc || z.twin) {
			for k := m; k >= 0; k-- {
				if slices.Equal(p.SortFields, z.fields[k:]) {
					if mode != served || k > bestM {
						best, bestM, mode = zi, k, served
					}
					break
				}
			}
		}
		score := 2 * m
		if m < len(z.fields) && slices.Contains(p.FilterFields, z.fields[m]) {
			score++
		}
		if score > gScore {
			gBest, gM, gScore = zi, m, score
		}
	}
	// A served walk that fixes nothing reads the whole kind in order until
	// the page fills; when another set fixes a leading field (the first
	// field of a composite index, for a CompositeOnly field that has no set
	// of its own), reading that range and sorting it is the narrower read.
	if mode == served && bestM == 0 && gM > 0 {
		mode = 0
	}
	if mode != served {
		mode, best, bestM = gathered, gBest, gM
		if bestM == 0 && len(p.SortFields) > 0 && ki.sets[1+p.SortFields[0]].key != "" {
			// Nothing fixed narrows the read: walk the first sort field
			// (unless it is CompositeOnly: then read the best set's range).
			mode, best = grouped, 1+p.SortFields[0]
		}
	}
	z := ki.sets[best]
	key := z.key
	if z.twin {
		key += ":a"
		if mode != gathered && desc {
			key = z.key + ":d"
		}
	}
	combos := [][]storage.Value{nil}
	for _, fi := range z.fields[:bestM] {
		var next [][]storage.Value
		for _, c := range combos {
			for _, v := range fixed(p, fi) {
				next = append(next, append(slices.Clone(c), v))
			}
		}
		combos = next
	}
	for _, vals := range combos {
		w := walk{key: key, desc: mode != gathered && desc}
		prefix := encodeFields(vals)
		w.lo = prefix
		w.hi, w.hasHi = prefixEnd(w.lo)
		if bestM < len(z.fields) {
			w.narrow(p, prefix, z.fields[bestM])
		}
		switch {
		case !p.AfterSet || mode == gathered:
		case mode == grouped && w.desc:
			if end, ok := prefixEnd(encodeFields(p.After[:1])); ok {
				w.upTo(end)
			}
		case mode == grouped:
			w.from(encodeFields(p.After[:1]))
		case w.desc:
			w.upTo(member(append(vals, p.After...), p.AfterID, true))
		default:
			w.from(member(append(vals, p.After...), p.AfterID, false) + "\x00")
		}
		ws = append(ws, w)
	}
	return ws, mode
}

// fixed returns the values an Eq or In filter allows for field fi, sorted
// and without repeats, or nil when no such filter exists.
func fixed(p storage.Plan, fi int) []storage.Value {
	for i, f := range p.Filters {
		if p.FilterFields[i] == fi && (f.Op == storage.OpEq || f.Op == storage.OpIn) {
			vs := slices.Clone(f.Values)
			slices.SortFunc(vs, storage.Value.Compare)
			return slices.CompactFunc(vs, func(a, b storage.Value) bool { return a.Compare(b) == 0 })
		}
	}
	return nil
}

// narrow tightens the range with the filters on field fi, the first field
// after the fixed prefix.
func (w *walk) narrow(p storage.Plan, prefix string, fi int) {
	for i, f := range p.Filters {
		if p.FilterFields[i] != fi {
			continue
		}
		lo, hi := f.Values[0], f.Values[0]
		for _, v := range f.Values {
			lo, hi = minV(lo, v), maxV(hi, v)
		}
		at := func(v storage.Value) string { return prefix + string(appendValue(nil, v)) }
		after := func(v storage.Value) {
			if end, ok := prefixEnd(at(v)); ok {
				w.from(end)
			} else {
				w.empty = true
			}
		}
		through := func(v storage.Value) {
			if end, ok := prefixEnd(at(v)); ok {
				w.upTo(end)
			}
		}
		switch f.Op {
		case storage.OpEq, storage.OpIn:
			w.from(at(lo))
			through(hi)
		case storage.OpGte:
			w.from(at(lo))
		case storage.OpGt:
			after(lo)
		case storage.OpLt:
			w.upTo(at(hi))
		case storage.OpLte:
			through(hi)
		}
	}
}

func (w *walk) from(lo string) {
	if lo > w.lo {
		w.lo = lo
	}
}

func (w *walk) upTo(hi string) {
	if !w.hasHi || hi < w.hi {
		w.hi, w.hasHi = hi, true
	}
}

func minV(a, b storage.Value) storage.Value {
	if b.Compare(a) < 0 {
		return b
	}
	return a
}

func maxV(a, b storage.Value) storage.Value {
	if b.Compare(a) > 0 {
		return b
	}
	return a
}

// maxBatch bounds one walk script call.
const maxBatch = 1000

// query runs a checked plan.
func (s *Store) query(ctx context.Context, sc scope, ki *kindInfo, p storage.Plan) (storage.Page, error) {
	ws, mode := ki.plan(p)
	var docs []storage.Document
	seen := map[string]bool{}
	for _, w := range ws {
		var err error
		if docs, err = s.read(ctx, sc, ki, p, w, mode, docs, seen); err != nil {
			return storage.Page{}, err
		}
	}
	if mode != served || len(ws) > 1 {
		slices.SortFunc(docs, func(a, b storage.Document) int {
			if p.Less(a, b) {
				return -1
			}
			if p.Less(b, a) {
				return 1
			}
			return 0
		})
	}
	var page storage.Page
	if len(docs) > p.Limit {
		docs = docs[:p.Limit]
		page.Next = p.NextCursor(docs[len(docs)-1])
	}
	page.Docs = docs
	return page, nil
}

// read walks one range, appending the documents that match and come after
// the cursor: up to limit+1 of them when served, to the end of the group of
// match limit+1 when grouped, all when gathered.
func (s *Store) read(ctx context.Context, sc scope, ki *kindInfo, p storage.Plan, w walk, mode int, docs []storage.Document, seen map[string]bool) ([]storage.Document, error) {
	batch, found := maxBatch, 0
	if mode != gathered {
		batch = p.Limit + 1
	}
	var bound storage.Value // grouped: the first sort value of match limit+1
	bounded := false
	for !w.empty && !(w.hasHi && w.lo >= w.hi) {
		lo, hi := "-", "+"
		if w.lo != "" {
			lo = "[" + w.lo
		}
		if w.hasHi {
			hi = "(" + w.hi
		}
		dir := "a"
		if w.desc {
			dir = "d"
		}
		r, err := walkScript.Run(ctx, s.rdb, []string{sc.key(w.key)}, dir, lo, hi, batch, sc.docKey(ki.schema.Kind, "")).Slice()
		if err != nil {
			return nil, fmt.Errorf("customstore: query %s: %w", ki.schema.Kind, err)
		}
		for i := 0; i+3 < len(r); i += 4 {
			m, _ := r[i].(string)
			id, err := memberID(m)
			if err != nil {
				return nil, err
			}
			d, ok, err := ki.decodeDoc(id, r[i+1], r[i+2], r[i+3])
			if err != nil {
				return nil, err
			}
			if ok && bounded && d.Fields[p.SortFields[0]].Compare(bound) != 0 {
				return docs, nil
			}
			if ok && !seen[id] && p.Matches(d) && p.AfterCursor(d) {
				seen[id] = true
				docs = append(docs, d)
				found++
			}
			if w.desc {
				w.upTo(m)
			} else {
				w.lo = m + "\x00"
			}
			if found > p.Limit {
				switch mode {
				case served:
					return docs, nil
				case grouped:
					if !bounded {
						bound, bounded = d.Fields[p.SortFields[0]], true
					}
				}
			}
		}
		if len(r) < 4*batch {
			break
		}
		batch = min(2*batch, maxBatch)
	}
	return docs, nil
}
