package storage

import (
	"github.com/pillars-itsm/pillars/itsm"
)

// Op is a filter operator.
type Op uint8

// The filter operators. Range operators apply to every field type; strings
// compare bytewise.
const (
	OpEq  Op = iota + 1 // field = value
	OpIn                // field is one of values (1..MaxInValues)
	OpLt                // field < value
	OpLte               // field <= value
	OpGt                // field > value
	OpGte               // field >= value
)

var opNames = [...]string{OpEq: "=", OpIn: "IN", OpLt: "<", OpLte: "<=", OpGt: ">", OpGte: ">="}

func (o Op) String() string {
	if o >= OpEq && o <= OpGte {
		return opNames[o]
	}
	return "Op(?)"
}

// Filter is one condition of a query. Filters of a query are combined with
// AND.
type Filter struct {
	Field  string
	Op     Op
	Values []Value // exactly one, except for OpIn
}

// Eq returns the filter field = v.
func Eq(field string, v Value) Filter { return Filter{Field: field, Op: OpEq, Values: []Value{v}} }

// In returns the filter field IN (vs...).
func In(field string, vs ...Value) Filter { return Filter{Field: field, Op: OpIn, Values: vs} }

// Lt returns the filter field < v.
func Lt(field string, v Value) Filter { return Filter{Field: field, Op: OpLt, Values: []Value{v}} }

// Lte returns the filter field <= v.
func Lte(field string, v Value) Filter { return Filter{Field: field, Op: OpLte, Values: []Value{v}} }

// Gt returns the filter field > v.
func Gt(field string, v Value) Filter { return Filter{Field: field, Op: OpGt, Values: []Value{v}} }

// Gte returns the filter field >= v.
func Gte(field string, v Value) Filter { return Filter{Field: field, Op: OpGte, Values: []Value{v}} }

// Match reports whether v satisfies the filter. It is the reference
// semantics that SQL adapters reproduce with parameters.
func (f Filter) Match(v Value) bool {
	switch f.Op {
	case OpEq:
		return v.Compare(f.Values[0]) == 0
	case OpIn:
		for _, w := range f.Values {
			if v.Compare(w) == 0 {
				return true
			}
		}
		return false
	case OpLt:
		return v.Compare(f.Values[0]) < 0
	case OpLte:
		return v.Compare(f.Values[0]) <= 0
	case OpGt:
		return v.Compare(f.Values[0]) > 0
	case OpGte:
		return v.Compare(f.Values[0]) >= 0
	}
	return false
}

func (f Filter) check(decl Field) error {
	if f.Op < OpEq || f.Op > OpGte {
		return itsm.Invalidf("filter on %s: unknown operator %d", f.Field, f.Op)
	}
	n := len(f.Values)
	if f.Op == OpIn {
		if n == 0 || n > MaxInValues {
			return itsm.Invalidf("filter %s IN: %d values, want 1..%d", f.Field, n, MaxInValues)
		}
	} else if n != 1 {
		return itsm.Invalidf("filter %s %s: %d values, want 1", f.Field, f.Op, n)
	}
	for _, v := range f.Values {
		if v.typ != decl.Type {
			return itsm.Invalidf("filter on %s: value is %s, field is %s", f.Field, v.typ, decl.Type)
		}
		if v.typ == TypeString && !indexableString(v.s) {
			return itsm.Invalidf("filter on %s: strings are NUL-free UTF-8 of at most %d bytes", f.Field, MaxStringValue)
		}
	}
	return nil
}

// Sort is one ordering key of a query.
type Sort struct {
	Field string
	Desc  bool
}

// Query selects documents of one kind. Results are ordered by Sort, then by
// id ascending to break ties (by id alone when Sort is empty), and returned a
// page of at most Limit documents at a time.
type Query struct {
	Kind    string
	Filters []Filter
	Sort    []Sort
	Limit   int    // 0 means DefaultLimit
	Cursor  string // Page.Next of the previous page, empty for the first
}

// Page is one page of query results. Next is empty on the last page;
// otherwise pass it as the Cursor of the same query to get the next page.
// Cursors hold the sort key and id of the last row, so pages stay stable
// while documents are inserted between them.
type Page struct {
	Docs []Document
	Next string
}

// Document is a stored record: kind, id, version, its encoded data (JSON for
// the typed layers) and one value per indexed field, in the order of the
// kind's Schema.Fields.
type Document struct {
	Kind    string
	ID      string
	Version int64
	Data    []byte
	Fields  []Value
}

// SortKey returns the values of d's fields named by the plan's sort, the key
// a cursor holds.
func (p Plan) SortKey(d Document) []Value {
	key := make([]Value, len(p.SortFields))
	for i, fi := range p.SortFields {
		key[i] = d.Fields[fi]
	}
	return key
}

// Less reports whether document a comes before b in the plan's order.
func (p Plan) Less(a, b Document) bool {
	return p.compareKey(p.SortKey(a), a.ID, b) < 0
}

// AfterCursor reports whether d comes strictly after the plan's cursor. It is
// true for every document on the first page.
func (p Plan) AfterCursor(d Document) bool {
	if !p.AfterSet {
		return true
	}
	return p.compareKey(p.After, p.AfterID, d) < 0
}

// Matches reports whether d satisfies every filter of the plan.
func (p Plan) Matches(d Document) bool {
	for i, f := range p.Filters {
		v := d.Fields[p.FilterFields[i]]
		if p.inSets != nil && p.inSets[i] != nil {
			if _, ok := p.inSets[i][v]; !ok {
				return false
			}
			continue
		}
		if !f.Match(v) {
			return false
		}
	}
	return true
}

// compareKey orders (key, id) against document d: negative when the key comes
// first.
func (p Plan) compareKey(key []Value, id string, d Document) int {
	for i, fi := range p.SortFields {
		c := key[i].Compare(d.Fields[fi])
		if p.Sort[i].Desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	switch {
	case id < d.ID:
		return -1
	case id > d.ID:
		return 1
	}
	return 0
}

// NextCursor returns the cursor that continues after document d, the last of
// a full page.
func (p Plan) NextCursor(d Document) string {
	return encodeCursor(p, p.SortKey(d), d.ID)
}
