package memory

import (
	"encoding/binary"
	"strings"
	"unsafe"

	"github.com/google/btree"

	"github.com/pillars-itsm/pillars/storage"
)

// ordered is a B-tree over one declared composite index: entries sorted by
// the index's field values, then id. It serves queries that fix a prefix of
// the index with Eq filters and sort ascending by the rest, so a page costs
// O(log n + page) instead of a pass over every candidate.
type ordered struct {
	fields []int // positions in Schema.Fields, in index order
	tree   *btree.BTreeG[entry]
}

// entry is one document in an index: kv is the index's field values in an
// order-preserving encoding (see appendKey) followed by the document's id,
// which starts at idAt. The encoding of the values is prefix-free (every
// string ends at its NUL, every number is eight bytes), so ordering kv
// orders entries by values, then id, with one string comparison, and the
// entry holds no pointer but kv's for the collector to follow.
type entry struct {
	kv   string
	idAt int
}

// id returns the id of the entry's document.
func (e entry) id() string { return e.kv[e.idAt:] }

// appendKey appends v's order-preserving encoding: a string's bytes and a
// NUL (indexed strings hold no NUL, so "a" < "ab" stays true and each value
// ends where its NUL is), an integer or time as eight big-endian bytes with
// the sign bit flipped. Within one index every field has one type, so
// comparing two encodings byte by byte compares the values field by field,
// and the encoding of a prefix of the fields sorts before every key that
// extends it.
func appendKey(b []byte, v storage.Value) []byte {
	if v.Type() == storage.TypeString {
		return append(append(b, v.Str()...), 0)
	}
	return binary.BigEndian.AppendUint64(b, uint64(v.Int64())^(1<<63))
}

// keyOf encodes values as one key.
func keyOf(values ...storage.Value) string {
	var b []byte
	for _, v := range values {
		b = appendKey(b, v)
	}
	return string(b)
}

// unchanged reports whether two versions of one document hold the same
// values in every field of the index.
func (o *ordered) unchanged(old, d storage.Document) bool {
	for _, f := range o.fields {
		if old.Fields[f] != d.Fields[f] {
			return false
		}
	}
	return true
}

// lessEntry orders entries by values, then id; the encoding of a prefix of
// the fields sorts before every entry extending it, so entry{kv: prefix} is
// the start of its range.
func lessEntry(a, b entry) bool { return a.kv < b.kv }

func newOrdered(sc storage.Schema) []*ordered {
	out := make([]*ordered, 0, len(sc.Indexes))
	for _, ix := range sc.Indexes {
		o := &ordered{tree: btree.NewG(32, lessEntry)}
		for _, f := range ix.Fields {
			o.fields = append(o.fields, sc.FieldIndex(f))
		}
		out = append(out, o)
	}
	return out
}

// appendEntry appends the encoding of d's values in the index and its id
// to b, and returns it with the position of the id.
func (o *ordered) appendEntry(b []byte, d storage.Document) ([]byte, int) {
	for _, f := range o.fields {
		b = appendKey(b, d.Fields[f])
	}
	return append(b, d.ID...), len(b)
}

// reorder moves a document's entries from old's values to d's; either may
// be the zero Document (insert, delete). An index whose fields the write
// left as they were keeps its entry: most writes change a few fields, and
// a B-tree delete and insert cost more than the comparison. The entry to
// delete is only compared, never kept, so it is built in kd.scratch (the
// caller holds the write lock) instead of a new string.
func (kd *kindData) reorder(old, d storage.Document) {
	for _, o := range kd.ordered {
		if old.Fields != nil && d.Fields != nil && o.unchanged(old, d) {
			continue
		}
		if old.Fields != nil {
			b, at := o.appendEntry(kd.scratch[:0], old)
			kd.scratch = b
			o.tree.Delete(entry{unsafe.String(unsafe.SliceData(b), len(b)), at})
		}
		if d.Fields != nil {
			var buf [128]byte
			b, at := o.appendEntry(buf[:0], d)
			o.tree.ReplaceOrInsert(entry{string(b), at})
		}
	}
}

// orderedScan walks a declared index for a plan whose ascending sort fields
// are the index's last fields and whose Eq filters fix every field before
// them. It starts at the cursor (or the lower bound of the first sort field,
// or the start of the prefix), hands documents to visit in sort order, and
// stops when visit says so or the prefix or an upper bound is passed. It
// reports false when no declared index fits the plan.
func (kd *kindData) orderedScan(p storage.Plan, visit func(storage.Document) bool) bool {
	k := len(p.Sort)
	if k == 0 {
		return false
	}
	for _, s := range p.Sort {
		if s.Desc {
			return false
		}
	}
next:
	for _, o := range kd.ordered {
		n := len(o.fields)
		if n < k {
			continue
		}
		for i := range k {
			if o.fields[n-k+i] != p.SortFields[i] {
				continue next
			}
		}
		prefix := make([]storage.Value, n-k, n)
		for i := range n - k {
			found := false
			for j, f := range p.Filters {
				if p.FilterFields[j] == o.fields[i] && (f.Op == storage.OpEq || f.Op == storage.OpIn && len(f.Values) == 1) {
					prefix[i], found = f.Values[0], true
					break
				}
			}
			if !found {
				continue next
			}
		}
		fixed := keyOf(prefix...)
		start := entry{kv: fixed}
		switch {
		case p.AfterSet:
			start = entry{kv: keyOf(append(prefix, p.After...)...) + p.AfterID}
		default:
			if lo, ok := lowerBound(p, p.SortFields[0]); ok {
				start = entry{kv: keyOf(append(prefix, lo)...)}
			}
		}
		o.tree.AscendGreaterOrEqual(start, func(e entry) bool {
			if !strings.HasPrefix(e.kv, fixed) {
				return false // past the prefix
			}
			d := kd.docs[e.id()]
			if beyondUpperBound(p, p.SortFields[0], d.Fields[p.SortFields[0]]) {
				return false
			}
			return visit(d)
		})
		return true
	}
	return false
}

// lowerBound returns the greatest Gt/Gte bound the plan puts on a field.
func lowerBound(p storage.Plan, field int) (storage.Value, bool) {
	var lo storage.Value
	found := false
	for j, f := range p.Filters {
		if p.FilterFields[j] == field && (f.Op == storage.OpGt || f.Op == storage.OpGte) {
			if !found || f.Values[0].Compare(lo) > 0 {
				lo, found = f.Values[0], true
			}
		}
	}
	return lo, found
}

// beyondUpperBound reports whether v fails a Lt/Lte bound on the field, so
// that no later entry of an ascending walk can match.
func beyondUpperBound(p storage.Plan, field int, v storage.Value) bool {
	for j, f := range p.Filters {
		if p.FilterFields[j] != field {
			continue
		}
		if f.Op == storage.OpLt && v.Compare(f.Values[0]) >= 0 || f.Op == storage.OpLte && v.Compare(f.Values[0]) > 0 {
			return true
		}
	}
	return false
}
