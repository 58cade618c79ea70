package storage

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/pillars-itsm/pillars/itsm"
)

// MaxDocumentSize is the largest document Data a backend must accept. Larger
// documents are refused with ErrInvalid.
const MaxDocumentSize = 1 << 20

// MaxStringValue bounds an indexed string value (and an id) in bytes, so
// that every store can index it (a Postgres B-tree entry holds about 2.7 KB)
// and a cursor holding it stays short. Indexed strings must also be valid
// UTF-8 without NUL bytes, which SQL text columns cannot hold.
const MaxStringValue = 1024

// MaxInValues bounds the values of one In filter.
const MaxInValues = 1000

// DefaultLimit and MaxLimit bound the page size of a query: a zero Limit
// means DefaultLimit, a larger one than MaxLimit is refused.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// Field declares one indexed field of a kind.
//
// By default a field gets an index of its own, so that any query filtering
// or sorting on it is served by an index. A field declared CompositeOnly
// gets none: it is served only through the composite Indexes that name it.
// Every write then maintains one index fewer (in SQL stores one B-tree fewer
// per row, which is most of the cost of a bulk import), at the price of
// stricter queries: CheckQuery refuses a query touching such a field unless
// an index can serve it (see CheckQuery), so no query silently scans the
// kind. Declare fields CompositeOnly when they are only ever asked for
// through a queue, for example the state and priority of a queue index whose
// first field is the assignment group, or by equality as the first field of
// an index (a caller id).
//
// SQL stores drop a field's own index when a kind registered earlier is
// registered with the field CompositeOnly, and create it again when it is
// not: upgrade every instance of a host before changing the declaration, or
// instances on the old one keep running the queries it allowed, unserved.
type Field struct {
	Name string
	Type FieldType
	// CompositeOnly: no index of its own; the field must be named by at
	// least one of the schema's Indexes.
	CompositeOnly bool `json:",omitempty"`
}

// Index declares a composite index: a queue's equality fields followed by its
// ordering, for example {"assignment_group", "state", "priority",
// "opened_at"}. A query may sort by any suffix of a declared index (with the
// fields before it used as equality filters), or by any single declared
// field. SQL adapters turn each Index into a real composite index.
type Index struct {
	Name   string
	Fields []string
}

// Schema declares a kind before first use: its indexed fields and composite
// indexes. Names are lower-case identifiers (a-z, 0-9, _; at most 63
// characters, starting with a letter), so SQL adapters can use them as
// column names after checking them here. The field name "id" is reserved.
//
// A field named NumberField ("number") holds the kind's human number: it
// must be TypeString, and every store refuses a second document of the kind
// with the same non-empty value in it (a *DuplicateNumberError matching
// ErrConflict; see Backend). Kinds without such a field have no numbers.
type Schema struct {
	Kind    string
	Fields  []Field
	Indexes []Index
}

// ValidName reports whether s may name a kind, field, index or sequence.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Validate checks the schema itself: valid and unique names, known field
// types, indexes naming declared fields.
func (s Schema) Validate() error {
	if !ValidName(s.Kind) {
		return itsm.Invalidf("schema: kind %q is not a lower-case identifier", s.Kind)
	}
	seen := map[string]bool{}
	for _, f := range s.Fields {
		if !ValidName(f.Name) || f.Name == "id" {
			return itsm.Invalidf("schema %s: field name %q is not a lower-case identifier (or is the reserved id)", s.Kind, f.Name)
		}
		if seen[f.Name] {
			return itsm.Invalidf("schema %s: field %q declared twice", s.Kind, f.Name)
		}
		if f.Type < TypeString || f.Type > TypeTime {
			return itsm.Invalidf("schema %s: field %q has unknown type %d", s.Kind, f.Name, f.Type)
		}
		if f.Name == NumberField && f.Type != TypeString {
			return itsm.Invalidf("schema %s: field %q holds the human number and must be a string, not %s", s.Kind, f.Name, f.Type)
		}
		seen[f.Name] = true
	}
	idx := map[string]bool{}
	for _, ix := range s.Indexes {
		if !ValidName(ix.Name) || idx[ix.Name] {
			return itsm.Invalidf("schema %s: index name %q is invalid or repeated", s.Kind, ix.Name)
		}
		idx[ix.Name] = true
		if len(ix.Fields) == 0 {
			return itsm.Invalidf("schema %s: index %q has no fields", s.Kind, ix.Name)
		}
		for _, f := range ix.Fields {
			if !seen[f] {
				return itsm.Invalidf("schema %s: index %q names undeclared field %q", s.Kind, ix.Name, f)
			}
		}
	}
	for _, f := range s.Fields {
		if f.CompositeOnly && !slices.ContainsFunc(s.Indexes, func(ix Index) bool { return slices.Contains(ix.Fields, f.Name) }) {
			return itsm.Invalidf("schema %s: field %q is CompositeOnly but no index names it", s.Kind, f.Name)
		}
	}
	return nil
}

// Equal reports whether two schemas declare the same fields and indexes.
func (s Schema) Equal(o Schema) bool {
	return s.Kind == o.Kind && slices.Equal(s.Fields, o.Fields) &&
		slices.EqualFunc(s.Indexes, o.Indexes, func(a, b Index) bool {
			return a.Name == b.Name && slices.Equal(a.Fields, b.Fields)
		})
}

// NumberIndex returns the position of the NumberField in s.Fields, or -1
// when the kind has no human numbers.
func (s Schema) NumberIndex() int {
	if i := s.FieldIndex(NumberField); i >= 0 && s.Fields[i].Type == TypeString {
		return i
	}
	return -1
}

// FieldIndex returns the position of the named field in s.Fields, or -1.
func (s Schema) FieldIndex(name string) int {
	for i, f := range s.Fields {
		if f.Name == name {
			return i
		}
	}
	return -1
}

// CheckDocument validates a document against its schema before a write: a
// valid id, data within MaxDocumentSize, one value per declared field with
// the declared type. Backends call it in Put.
func (s Schema) CheckDocument(d Document) error {
	if d.Kind != s.Kind {
		return itsm.Invalidf("document %s %s: kind does not match schema %s", d.Kind, d.ID, s.Kind)
	}
	if d.ID == "" || len(d.ID) > 128 || !indexableString(d.ID) {
		return itsm.Invalidf("document %s: id %q is empty, longer than 128 bytes, or not NUL-free UTF-8", d.Kind, d.ID)
	}
	if len(d.Data) > MaxDocumentSize {
		return itsm.Invalidf("document %s %s: data is %d bytes, more than %d", d.Kind, d.ID, len(d.Data), MaxDocumentSize)
	}
	if d.Version < 1 {
		return itsm.Invalidf("document %s %s: version %d, want at least 1", d.Kind, d.ID, d.Version)
	}
	if len(d.Fields) != len(s.Fields) {
		return itsm.Invalidf("document %s %s: %d field values for %d declared fields", d.Kind, d.ID, len(d.Fields), len(s.Fields))
	}
	for i, f := range s.Fields {
		if d.Fields[i].typ != f.Type {
			return itsm.Invalidf("document %s %s: field %s is %s, want %s", d.Kind, d.ID, f.Name, d.Fields[i].typ, f.Type)
		}
		if f.Type == TypeString && !indexableString(d.Fields[i].s) {
			return itsm.Invalidf("document %s %s: field %s: indexed strings are NUL-free UTF-8 of at most %d bytes", d.Kind, d.ID, f.Name, MaxStringValue)
		}
	}
	return nil
}

// indexableString reports whether s may be an indexed string value: at most
// MaxStringValue bytes of valid UTF-8 without NUL.
func indexableString(s string) bool {
	return len(s) <= MaxStringValue && utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// Plan is a query checked against its schema, ready for a backend to run:
// field positions resolved, the cursor decoded, the limit settled.
type Plan struct {
	Query
	Schema Schema
	// FilterFields[i] is the position in Schema.Fields of Query.Filters[i].
	FilterFields []int
	// SortFields[i] is the position in Schema.Fields of Query.Sort[i].
	SortFields []int
	// After holds the sort values and id of the last row of the previous
	// page; AfterSet is false on the first page.
	After    []Value
	AfterID  string
	AfterSet bool
	// Tenant is the tenant the plan runs for (see CheckQueryFor): the
	// cursors it issues and accepts are bound to it.
	Tenant string
	// inSets[i], for an In filter with many values, holds them as a set so
	// that Matches costs one lookup instead of a pass over the list.
	inSets []map[Value]struct{}
}

// manyValues is the length of an In list above which a plan matches it
// through a set.
const manyValues = 16

// CheckQuery validates q against the schema and returns its plan: every
// filter and sort field declared with matching value types, the ordering
// declared (a single field, or a suffix of an Index), the limit within
// bounds, the cursor well formed and issued for this query. Every failure
// matches ErrInvalid. Backends call it first in Query.
//
// A query that filters or sorts on a CompositeOnly field must be one an
// index can serve:
//   - it filters on a field with an index of its own (any operator), or
//   - it filters with Eq or In on the first field of a composite Index
//     (a queue fixes it), the rest matched within that index's range, or
//   - it has no filters and sorts, in one direction, by all the fields of
//     an Index (a listing in the index's order).
//
// A sort naming a CompositeOnly field must be declared by an Index even when
// it is a single field. Range filters on a CompositeOnly field are matched
// within what an index serves, never on their own.
//
// CheckQuery plans for itsm.DefaultTenant; a store scoping data by tenant
// calls CheckQueryFor.
func (s Schema) CheckQuery(q Query) (Plan, error) {
	return s.CheckQueryFor(itsm.DefaultTenant, q)
}

// CheckQueryFor is CheckQuery for the query of one tenant, the one
// storage.TenantOf returned for the call: the plan's cursors are bound to
// the tenant, so a cursor issued to one tenant is ErrInvalid for another
// (like a cursor replayed on another query). Every adapter that keeps
// tenants apart calls it in Query with the call's tenant; Plan.NextCursor
// then issues cursors for that tenant. An empty tenant is DefaultTenant;
// the tenant is not checked here (TenantOf has).
func (s Schema) CheckQueryFor(tenant string, q Query) (Plan, error) {
	if tenant == "" {
		tenant = itsm.DefaultTenant
	}
	p := Plan{Query: q, Schema: s, Tenant: tenant}
	if q.Kind != s.Kind {
		return p, itsm.Invalidf("query: kind %q does not match schema %q", q.Kind, s.Kind)
	}
	switch {
	case q.Limit < 0 || q.Limit > MaxLimit:
		return p, itsm.Invalidf("query %s: limit %d outside 0..%d", q.Kind, q.Limit, MaxLimit)
	case q.Limit == 0:
		p.Limit = DefaultLimit
	}
	p.FilterFields = make([]int, len(q.Filters))
	for i, f := range q.Filters {
		fi := s.FieldIndex(f.Field)
		if fi < 0 {
			return p, itsm.Invalidf("query %s: field %q is not declared as indexed", q.Kind, f.Field)
		}
		p.FilterFields[i] = fi
		if err := f.check(s.Fields[fi]); err != nil {
			return p, fmt.Errorf("query %s: %w", q.Kind, err)
		}
		if f.Op == OpIn && len(f.Values) > manyValues {
			if p.inSets == nil {
				p.inSets = make([]map[Value]struct{}, len(q.Filters))
			}
			set := make(map[Value]struct{}, len(f.Values))
			for _, v := range f.Values {
				set[v] = struct{}{}
			}
			p.inSets[i] = set
		}
	}
	p.SortFields = make([]int, len(q.Sort))
	for i, o := range q.Sort {
		fi := s.FieldIndex(o.Field)
		if fi < 0 {
			return p, itsm.Invalidf("query %s: sort field %q is not declared as indexed", q.Kind, o.Field)
		}
		p.SortFields[i] = fi
	}
	if (len(q.Sort) > 1 || p.sortsCompositeOnly()) && !s.orderingDeclared(q.Sort) {
		return p, itsm.Invalidf("query %s: no declared index orders by %v", q.Kind, sortNames(q.Sort))
	}
	if err := p.checkServed(); err != nil {
		return p, err
	}
	if q.Cursor != "" {
		vals, id, err := decodeCursor(q.Cursor, p)
		if err != nil {
			return p, err
		}
		p.After, p.AfterID, p.AfterSet = vals, id, true
	}
	return p, nil
}

// sortsCompositeOnly reports whether the plan sorts by a CompositeOnly
// field.
func (p Plan) sortsCompositeOnly() bool {
	return slices.ContainsFunc(p.SortFields, func(fi int) bool { return p.Schema.Fields[fi].CompositeOnly })
}

// checkServed refuses a plan that touches a CompositeOnly field unless an
// index serves it, the rule CheckQuery documents.
func (p Plan) checkServed() error {
	touches := p.sortsCompositeOnly()
	for _, fi := range p.FilterFields {
		if !p.Schema.Fields[fi].CompositeOnly {
			return nil // served by that field's own index
		}
		touches = true
	}
	if !touches {
		return nil
	}
	for _, f := range p.Filters { // every filter is on a CompositeOnly field here
		if f.Op != OpEq && f.Op != OpIn {
			continue
		}
		for _, ix := range p.Schema.Indexes {
			if len(ix.Fields) > 0 && ix.Fields[0] == f.Field {
				return nil // a prefix of that index
			}
		}
	}
	if len(p.Filters) == 0 && p.listsWholeIndex() {
		return nil
	}
	return itsm.Invalidf("query %s: no index serves filters on %v with sort %v: a CompositeOnly field is served only through an index whose first field the query fixes with Eq or In",
		p.Kind, filterNames(p.Filters), sortNames(p.Sort))
}

// listsWholeIndex reports whether the plan sorts, in one direction, by all
// the fields of a declared index: a listing in that index's order.
func (p Plan) listsWholeIndex() bool {
	if len(p.Sort) == 0 || slices.ContainsFunc(p.Sort, func(o Sort) bool { return o.Desc != p.Sort[0].Desc }) {
		return false
	}
	names := sortNames(p.Sort)
	return slices.ContainsFunc(p.Schema.Indexes, func(ix Index) bool { return slices.Equal(ix.Fields, names) })
}

func filterNames(fs []Filter) []string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Field
	}
	return names
}

func (s Schema) orderingDeclared(sort []Sort) bool {
	names := sortNames(sort)
	for _, ix := range s.Indexes {
		if len(ix.Fields) >= len(names) && slices.Equal(ix.Fields[len(ix.Fields)-len(names):], names) {
			return true
		}
	}
	return false
}

func sortNames(sort []Sort) []string {
	names := make([]string, len(sort))
	for i, o := range sort {
		names[i] = o.Field
	}
	return names
}

// SchemaChangeError reports a Register that would change the type of a
// field the kind already declares. Stored values of the field (in every
// store's index, column or sorted set) hold the old type, so the change is
// refused: declare the field under a new name instead, and remove the old
// one. It matches itsm.ErrConflict.
type SchemaChangeError struct {
	Kind  string
	Field string
	From  FieldType // the type registered before
	To    FieldType // the type the new schema declares
}

func (e *SchemaChangeError) Error() string {
	return fmt.Sprintf("schema %s: conflict: field %q is registered as %s and cannot become %s; declare a field with a new name instead",
		e.Kind, e.Field, e.From, e.To)
}

// Is makes a SchemaChangeError match itsm.ErrConflict.
func (e *SchemaChangeError) Is(target error) bool { return target == itsm.ErrConflict }

// SchemaDiff is what registering a new schema for a kind changes, as
// CompareSchemas reports it. An adapter applies it as a migration: it adds
// the AddedFields (existing documents hold ZeroValue of their type until
// rewritten), drops or ignores the RemovedFields (their values stay in the
// documents' Data), creates or drops the field's own index for the
// OwnIndexChanged ones, and creates the AddedIndexes and drops the
// RemovedIndexes (an index whose fields changed is in both).
type SchemaDiff struct {
	AddedFields   []Field
	RemovedFields []Field
	// OwnIndexChanged holds, as the new schema declares them, the fields
	// kept with the same type whose CompositeOnly flag changed.
	OwnIndexChanged []Field
	AddedIndexes    []Index
	RemovedIndexes  []Index
	// Reordered is set when the fields kept appear in another order:
	// Document.Fields follow the schema registered last, so stores that keep
	// values by position remap them.
	Reordered bool
}

// Empty reports whether the diff changes nothing: the schemas are equal.
func (d SchemaDiff) Empty() bool {
	return len(d.AddedFields) == 0 && len(d.RemovedFields) == 0 && len(d.OwnIndexChanged) == 0 &&
		len(d.AddedIndexes) == 0 && len(d.RemovedIndexes) == 0 && !d.Reordered
}

// CompareSchemas applies the schema-change rule every store keeps when a
// kind registered before (on this backend value or by an earlier process)
// is registered again with next:
//   - adding fields and indexes is a migration, accepted;
//   - removing fields and indexes is accepted (values stay in the data);
//   - reordering fields, and changing a field's CompositeOnly flag, are
//     accepted;
//   - changing the type of a field is refused with a *SchemaChangeError
//     (ErrConflict) naming the first such field.
//
// It returns what changed. Both schemas must be valid (Schema.Validate) and
// of the same kind; another kind is ErrInvalid.
func CompareSchemas(old, next Schema) (SchemaDiff, error) {
	var d SchemaDiff
	if old.Kind != next.Kind {
		return d, itsm.Invalidf("schema: cannot compare kind %q with kind %q", old.Kind, next.Kind)
	}
	for _, f := range next.Fields {
		i := old.FieldIndex(f.Name)
		if i < 0 {
			d.AddedFields = append(d.AddedFields, f)
			continue
		}
		was := old.Fields[i]
		if was.Type != f.Type {
			return SchemaDiff{}, &SchemaChangeError{Kind: next.Kind, Field: f.Name, From: was.Type, To: f.Type}
		}
		if was.CompositeOnly != f.CompositeOnly {
			d.OwnIndexChanged = append(d.OwnIndexChanged, f)
		}
	}
	var keptOld, keptNew []string
	for _, f := range old.Fields {
		if next.FieldIndex(f.Name) < 0 {
			d.RemovedFields = append(d.RemovedFields, f)
			continue
		}
		keptOld = append(keptOld, f.Name)
	}
	for _, f := range next.Fields {
		if old.FieldIndex(f.Name) >= 0 {
			keptNew = append(keptNew, f.Name)
		}
	}
	d.Reordered = !slices.Equal(keptOld, keptNew)
	sameIndex := func(a, b Index) bool { return a.Name == b.Name && slices.Equal(a.Fields, b.Fields) }
	for _, ix := range next.Indexes {
		if !slices.ContainsFunc(old.Indexes, func(o Index) bool { return sameIndex(o, ix) }) {
			d.AddedIndexes = append(d.AddedIndexes, ix)
		}
	}
	for _, ix := range old.Indexes {
		if !slices.ContainsFunc(next.Indexes, func(n Index) bool { return sameIndex(n, ix) }) {
			d.RemovedIndexes = append(d.RemovedIndexes, ix)
		}
	}
	return d, nil
}

// ZeroValue is the value a document holds in a field added to its kind
// after it was written, until it is rewritten: the empty string, 0, or the
// zero time.Time (Unix microseconds -62135596800000000, which SQL stores use
// as the column default). Every store returns the same value for it.
func ZeroValue(t FieldType) Value {
	if t == TypeTime {
		return Value{typ: TypeTime, n: zeroTimeMicros}
	}
	return Value{typ: t}
}

// zeroTimeMicros is time.Time{}.UnixMicro().
const zeroTimeMicros = -62135596800000000

// ConvertFields returns the field values of a document written under old as
// they read under next: kept fields by name, added ones as their ZeroValue,
// removed ones dropped. Stores that keep the values by position call it to
// keep Document.Fields aligned with the schema registered last. fields must
// hold one value per field of old; otherwise it is returned unchanged.
func ConvertFields(old, next Schema, fields []Value) []Value {
	if len(fields) != len(old.Fields) {
		return fields
	}
	out := make([]Value, len(next.Fields))
	for i, f := range next.Fields {
		if j := old.FieldIndex(f.Name); j >= 0 && old.Fields[j].Type == f.Type {
			out[i] = fields[j]
		} else {
			out[i] = ZeroValue(f.Type)
		}
	}
	return out
}
