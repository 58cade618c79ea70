package storage

import (
	"context"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pillars-itsm/pillars/internal/jsontext"
	"github.com/pillars-itsm/pillars/itsm"
)

// FieldSpec ties an indexed field to the getter that reads it from a record
// of type T. Build them with StringField, IntField and TimeField.
type FieldSpec[T any] struct {
	field Field
	get   func(*T) Value
}

// CompositeOnly returns the spec declaring its field Field.CompositeOnly:
// no index of its own, served through the composite indexes naming it.
func (f FieldSpec[T]) CompositeOnly() FieldSpec[T] {
	f.field.CompositeOnly = true
	return f
}

// StringField declares an indexed string field read by get.
func StringField[T any](name string, get func(*T) string) FieldSpec[T] {
	return FieldSpec[T]{Field{Name: name, Type: TypeString}, func(t *T) Value { return String(get(t)) }}
}

// IntField declares an indexed integer field read by get.
func IntField[T any](name string, get func(*T) int64) FieldSpec[T] {
	return FieldSpec[T]{Field{Name: name, Type: TypeInt}, func(t *T) Value { return Int(get(t)) }}
}

// TimeField declares an indexed time field read by get (microsecond
// precision).
func TimeField[T any](name string, get func(*T) time.Time) FieldSpec[T] {
	return FieldSpec[T]{Field{Name: name, Type: TypeTime}, func(t *T) Value { return Time(get(t)) }}
}

// Getter reads one document; Backend and Tx both satisfy it, so typed reads
// work inside and outside a unit of work.
type Getter interface {
	Get(ctx context.Context, kind, id string) (Document, error)
}

// Querier runs queries; Backend and Tx both satisfy it.
type Querier interface {
	Query(ctx context.Context, q Query) (Page, error)
}

// Collection maps a record struct T (which embeds itsm.Record) to documents:
// JSON data plus the indexed fields its queues need. Every collection
// indexes the shared fields "number", "state", "created_at" and "updated_at"
// without being asked. Build it once at start-up; it is then read-only and
// safe for concurrent use.
//
// The type parameter P is inferred: storage.NewCollection[Incident](...)
// gives a *Collection[Incident, *Incident].
type Collection[T any, P interface {
	*T
	itsm.Entity
}] struct {
	schema  Schema
	fields  []FieldSpec[T]
	codec   *codec    // nil when T's JSON needs encoding/json's general rules
	plan    *foldPlan // the codec's members, for encodeAfter; nil without a codec
	journal []string  // JSON members that only grow by appending (WithJournal)
	access  access    // audience, internal members, field actions (WithAudience, WithInternal, WithAction)
	custom  custom    // the record's custom values and their dictionary (WithDictionary)
}

// NewCollection declares the kind stored as records of type T, with its
// indexed fields.
func NewCollection[T any, P interface {
	*T
	itsm.Entity
}](kind string, fields ...FieldSpec[T]) *Collection[T, P] {
	meta := func(t *T) *itsm.Record { return P(t).Meta() }
	shared := []FieldSpec[T]{
		StringField("number", func(t *T) string { return meta(t).Number }),
		StringField("state", func(t *T) string { return meta(t).State }),
		TimeField("created_at", func(t *T) time.Time { return meta(t).CreatedAt }),
		TimeField("updated_at", func(t *T) time.Time { return meta(t).UpdatedAt }),
	}
	c := &Collection[T, P]{schema: Schema{Kind: kind}, codec: newCodec(reflect.TypeFor[T]())}
	c.plan = c.codec.foldPlan(reflect.TypeFor[T]())
	c.custom.at = customIndex(reflect.TypeFor[T]())
	c.custom.dict = &kindDict{kind: kind}
	for _, f := range append(shared, fields...) {
		c.fields = append(c.fields, f)
		c.schema.Fields = append(c.schema.Fields, f.field)
	}
	return c
}

// WithIndex declares a composite index (a queue's equality fields, then its
// ordering) and returns the collection for chaining.
func (c *Collection[T, P]) WithIndex(name string, fields ...string) *Collection[T, P] {
	c.schema.Indexes = append(c.schema.Indexes, Index{Name: name, Fields: fields})
	return c
}

// WithJournal declares top-level JSON members of the record that are
// journals: arrays a write only appends to, such as an incident's comments
// and work notes. A write that appends to one records an itsm.FieldChange marked
// Appended holding only the new elements, so a thread of n entries costs
// its events O(n) bytes instead of O(n^2); a write that changes the array
// otherwise records it whole, as for any member. It returns the collection
// for chaining.
func (c *Collection[T, P]) WithJournal(members ...string) *Collection[T, P] {
	c.journal = append(c.journal, members...)
	return c
}

// Kind returns the record kind.
func (c *Collection[T, P]) Kind() string { return c.schema.Kind }

// Schema returns the declaration the backend receives.
func (c *Collection[T, P]) Schema() Schema { return c.schema }

// Register validates the schema and declares it to the backend.
func (c *Collection[T, P]) Register(ctx context.Context, b Backend) error {
	if err := c.checkCustomDecl(); err != nil {
		return err // before Validate, which would report a colliding indexed name as a duplicate
	}
	if err := c.schema.Validate(); err != nil {
		return err
	}
	if err := c.checkAccess(); err != nil {
		return err
	}
	return b.Register(ctx, c.schema)
}

// Encode turns a record into a document at the record's Version.
func (c *Collection[T, P]) Encode(rec P) (Document, error) {
	if rec == nil {
		return Document{}, itsm.Invalidf("%s: nil record", c.schema.Kind)
	}
	data, err := c.marshal(rec)
	if err != nil {
		return Document{}, err
	}
	return c.document(rec, data), nil
}

func (c *Collection[T, P]) marshal(rec P) ([]byte, error) {
	data, _, err := c.marshalMembers(rec, nil)
	return data, err
}

// marshalMembers encodes rec and, when the codec encoded it, also returns
// its top-level members (appended to buf) as topLevelMembers would find
// them, so that a diff need not split the encoding again; members is nil
// when encoding/json encoded the record.
func (c *Collection[T, P]) marshalMembers(rec P, buf []jsonMember) (data []byte, members []jsonMember, err error) {
	if c.codec != nil && c.codec.encodable && jsontext.MatchesEncodingJSON() {
		pooled := encodeBuffers.Get().(*[]byte)
		var spans [64]memberSpan
		b, sp, ok := c.codec.encode((*pooled)[:0], reflect.ValueOf(rec).Elem(), spans[:0])
		if ok {
			data = append(make([]byte, 0, len(b)), b...)
			if buf != nil {
				members = buf[:0]
				for _, s := range sp {
					members = append(members, jsonMember{key: data[s.key:s.value], value: data[s.value+1 : s.end]})
				}
			}
		}
		if b != nil && cap(b) <= 64<<10 {
			*pooled = b[:0]
		}
		encodeBuffers.Put(pooled)
		if ok {
			return data, members, nil
		}
	}
	data, err = json.Marshal(rec)
	if err != nil {
		return nil, nil, itsm.Invalidf("%s %s: cannot encode: %v", c.schema.Kind, rec.Meta().ID, err)
	}
	return data, nil, nil
}

// encodeBuffers hold the scratch buffers the fast encoder writes into; the
// encoded record is copied out at its exact size, as json.Marshal does.
var encodeBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// document builds rec's document around its already encoded data.
func (c *Collection[T, P]) document(rec P, data []byte) Document {
	d := Document{Kind: c.schema.Kind, ID: rec.Meta().ID, Version: rec.Meta().Version, Data: data,
		Fields: make([]Value, len(c.fields))}
	for i, f := range c.fields {
		d.Fields[i] = f.get((*T)(rec))
	}
	return d
}

// Decode turns a document back into a record. The document's id and version
// win over what its data says.
func (c *Collection[T, P]) Decode(d Document) (P, error) {
	var buf [64]jsonMember
	rec, _, err := c.decodeMembers(d, buf[:0])
	return rec, err
}

// decodeMembers decodes d and, when the codec decoded it, also returns the
// data's top-level members (appended to buf); members is nil when
// encoding/json decoded the record.
func (c *Collection[T, P]) decodeMembers(d Document, buf []jsonMember) (P, []jsonMember, error) {
	rec := P(new(T))
	if c.codec != nil {
		if members, ok := c.codec.decode(d.Data, reflect.ValueOf(rec).Elem(), buf); ok {
			rec.Meta().ID = d.ID
			rec.Meta().Version = d.Version
			return rec, members, nil
		}
		rec = P(new(T)) // the fast decoder may have filled part of the first
	}
	if err := json.Unmarshal(d.Data, rec); err != nil {
		return nil, nil, fmt.Errorf("%s %s: stored data is corrupt: %w: %v", d.Kind, d.ID, itsm.ErrInvalid, err)
	}
	rec.Meta().ID = d.ID
	rec.Meta().Version = d.Version
	return rec, nil, nil
}

// Get reads one record through a Backend or a Tx.
func (c *Collection[T, P]) Get(ctx context.Context, g Getter, id string) (P, error) {
	d, err := g.Get(ctx, c.schema.Kind, id)
	if err != nil {
		return nil, err
	}
	return c.Decode(d)
}

// Query runs q (its Kind is set to the collection's) and decodes one page.
// It returns the records and the cursor of the next page, empty on the
// last.
func (c *Collection[T, P]) Query(ctx context.Context, qr Querier, q Query) ([]P, string, error) {
	q.Kind = c.schema.Kind
	page, err := qr.Query(ctx, q)
	if err != nil {
		return nil, "", err
	}
	out := make([]P, 0, len(page.Docs))
	for _, d := range page.Docs {
		rec, err := c.Decode(d)
		if err != nil {
			return nil, "", err
		}
		out = append(out, rec)
	}
	return out, page.Next, nil
}

// All runs q page by page (q.Limit is the page size) and returns every
// matching record, for the bounded sets a command needs whole: a release's
// deployments, the windows over a period.
func (c *Collection[T, P]) All(ctx context.Context, qr Querier, q Query) ([]P, error) {
	return allPages(q, func(q Query) ([]P, string, error) { return c.Query(ctx, qr, q) })
}

// allPages calls page from q's cursor on until the cursor it returns is
// empty, and returns every record of every page.
func allPages[P any](q Query, page func(Query) ([]P, string, error)) ([]P, error) {
	var out []P
	for {
		recs, next, err := page(q)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
		if next == "" {
			return out, nil
		}
		q.Cursor = next
	}
}

// Put writes rec at Version+1, expecting the stored version to be
// rec.Version (0 for a new record), and advances rec.Version on success.
// Its custom values are checked against the dictionary (WithDictionary)
// for the tenant of ctx, each as if newly set.
func (c *Collection[T, P]) Put(ctx context.Context, tx Tx, rec P) error {
	if rec == nil {
		return itsm.Invalidf("%s: nil record", c.schema.Kind)
	}
	if err := c.checkCustom(ctx, tx, nil, rec, rec.Meta().Version == 0); err != nil {
		return err
	}
	expected := rec.Meta().Version
	rec.Meta().Version = expected + 1
	d, err := c.Encode(rec)
	if err == nil {
		err = tx.Put(ctx, d, expected)
	}
	if err != nil {
		rec.Meta().Version = expected
		return err
	}
	return nil
}

// codec is the per-type metadata behind Collection's fast decoder and
// encoder: the record struct's JSON members in encoding/json's order, with
// how to read and set each. It handles strings, integers, booleans and
// times by itself and hands every other member value to encoding/json.
//
// Decoding, on anything it is not sure of (an unknown or differently cased
// key, a malformed value) it declines and Decode runs encoding/json on the
// whole document, so a document decodes exactly as json.Unmarshal decodes
// it, errors included. Encoding writes the bytes json.Marshal writes (its
// string escaping, omitempty and omitzero rules, time format) and declines
// on any member encoding/json refuses, so that Encode returns json.Marshal's
// error. Types whose JSON names encoding/json resolves by rules it does not
// follow (conflicting names, the string option, custom unmarshalers on the
// record) get no codec; a record with its own marshaler, or a member with
// omitzero and its own IsZero, is not encoded by it.
type codec struct {
	fields    []codecField // in declaration order, which is encoding/json's member order
	byName    map[string]int
	encodable bool
}

type codecKind uint8

const (
	codecOther  codecKind = iota // decoded by encoding/json
	codecString                  // a string kind, set from a plain JSON string
	codecInt                     // a signed integer kind
	codecBool                    // a bool kind
	codecTime                    // time.Time, through its UnmarshalJSON
	codecValues                  // itsm.Values, a record's custom values
)

type codecField struct {
	name      string
	key       string // the encoded name and colon: "name":
	index     []int  // reflect field index path, through embedded structs
	kind      codecKind
	omitEmpty bool
	omitZero  bool
}

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	timeType            = reflect.TypeFor[time.Time]()
	jsonNumberType      = reflect.TypeFor[json.Number]()
	jsonMarshalerType   = reflect.TypeFor[json.Marshaler]()
	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
	isZeroerType        = reflect.TypeFor[interface{ IsZero() bool }]()
)

// marshals reports whether encoding/json encodes t through a method.
func marshals(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return t.Implements(jsonMarshalerType) || p.Implements(jsonMarshalerType) ||
		t.Implements(textMarshalerType) || p.Implements(textMarshalerType)
}

// unmarshals reports whether encoding/json decodes t through a method.
func unmarshals(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return t.Implements(jsonUnmarshalerType) || p.Implements(jsonUnmarshalerType) ||
		t.Implements(textUnmarshalerType) || p.Implements(textUnmarshalerType)
}

// newCodec builds t's codec, or returns nil when t needs encoding/json's
// general rules.
func newCodec(t reflect.Type) *codec {
	if t.Kind() != reflect.Struct || unmarshals(t) {
		return nil
	}
	c := &codec{byName: map[string]int{}, encodable: !marshals(t)}
	if !c.add(t, nil) {
		return nil
	}
	return c
}

// add collects t's members as encoding/json names them, reporting false
// when a rule outside the codec's would apply.
func (c *codec) add(t reflect.Type, index []int) bool {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, tagged := f.Tag.Lookup("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		at := append(index[:len(index):len(index)], i)
		if f.Anonymous {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if !f.IsExported() && ft.Kind() != reflect.Struct {
				continue // encoding/json ignores it too
			}
			// Promoted members of an exported embedded struct only: an
			// unexported one's fields cannot be set through reflect.
			if f.Type.Kind() != reflect.Struct || !f.IsExported() || name != "" || unmarshals(f.Type) {
				return false
			}
			if !c.add(f.Type, at) {
				return false
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		var omitEmpty, omitZero bool
		for opt := range strings.SplitSeq(opts, ",") {
			switch opt {
			case "string":
				return false
			case "omitempty":
				omitEmpty = true
			case "omitzero":
				omitZero = true
			}
		}
		if !tagged || name == "" {
			name = f.Name
		}
		if !plainName(name) {
			return false
		}
		if _, dup := c.byName[name]; dup {
			return false // encoding/json's dominance rules decide
		}
		kind := codecOther
		switch ft := f.Type; {
		case ft == timeType:
			kind = codecTime
		case ft == valuesType:
			kind = codecValues
		case unmarshals(ft) || marshals(ft) || ft == jsonNumberType:
		case ft.Kind() == reflect.String:
			kind = codecString
		case ft.Kind() >= reflect.Int && ft.Kind() <= reflect.Int64:
			kind = codecInt
		case ft.Kind() == reflect.Bool:
			kind = codecBool
		}
		if omitZero && kind != codecTime && (f.Type.Implements(isZeroerType) || reflect.PointerTo(f.Type).Implements(isZeroerType)) {
			c.encodable = false // encoding/json asks the member's own IsZero
		}
		c.byName[name] = len(c.fields)
		c.fields = append(c.fields, codecField{name: name, key: `"` + name + `":`, index: at, kind: kind,
			omitEmpty: omitEmpty, omitZero: omitZero})
	}
	return true
}

// plainName reports whether a JSON member name needs no escaping and is
// one encoding/json accepts as a tag name as it is.
func plainName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// decode fills v (a zero struct of the codec's type) from data and reports
// whether it could, returning data's top-level members appended to buf;
// when it could not, v may be partly filled.
func (c *codec) decode(data []byte, v reflect.Value, buf []jsonMember) ([]jsonMember, bool) {
	members, err := topLevelMembers(data, buf)
	if err != nil {
		return nil, false
	}
	var fieldsBuf [64]int
	fields := fieldsBuf[:0]
	strBytes := 0
	next := 0
	for _, m := range members {
		key := m.key[1 : len(m.key)-1]
		fi := next
		if fi >= len(c.fields) || c.fields[fi].name != string(key) {
			var ok bool
			if fi, ok = c.byName[string(key)]; !ok {
				if !c.ignores(key) || !json.Valid(m.key) || !json.Valid(m.value) {
					return nil, false // differently cased or escaped, or bad JSON: encoding/json's rules and errors
				}
				fields = append(fields, -1)
				continue
			}
		}
		next = fi + 1
		fields = append(fields, fi)
		if c.fields[fi].kind == codecString {
			strBytes += len(m.value)
		}
	}
	// The plain string members' bytes go into one builder first, whose
	// string those members become substrings of: one allocation per
	// document instead of one per string, and a decoded record holds its
	// strings, not a copy of the whole document.
	var strs strings.Builder
	strs.Grow(strBytes)
	var spans [64][2]int
	for i, m := range members {
		if fields[i] < 0 || c.fields[fields[i]].kind != codecString || i >= len(spans) {
			continue
		}
		if in, ok := plainString(m.value); ok && len(in) > 0 {
			spans[i] = [2]int{strs.Len(), strs.Len() + len(in)}
			strs.Write(in)
		}
	}
	whole := strs.String()
	for i, m := range members {
		if fields[i] < 0 {
			continue // a key encoding/json ignores too
		}
		f := &c.fields[fields[i]]
		fv := v.FieldByIndex(f.index)
		if i < len(spans) && spans[i][1] > 0 {
			fv.SetString(whole[spans[i][0]:spans[i][1]])
			continue
		}
		if !decodeMember(f.kind, fv, m.value) {
			return nil, false
		}
	}
	return members, true
}

// ignores reports whether encoding/json ignores a member with this raw key
// (no escapes) when it decodes into the codec's type: no field has its name,
// even case-insensitively, as it matches names. A renamed or dropped field
// in an old document is such a member; ignoring it here spares a second,
// full decode by encoding/json.
func (c *codec) ignores(key []byte) bool {
	k := string(key)
	if strings.IndexByte(k, '\\') >= 0 {
		return false
	}
	for i := range c.fields {
		if strings.EqualFold(c.fields[i].name, k) {
			return false
		}
	}
	return true
}

// decodeMember sets fv from the raw JSON value of one member as
// encoding/json would.
func decodeMember(kind codecKind, fv reflect.Value, raw []byte) bool {
	if string(raw) == "null" && kind != codecOther && kind != codecTime {
		return true // encoding/json leaves a scalar untouched on null
	}
	switch kind {
	case codecString:
		if in, ok := plainString(raw); ok {
			fv.SetString(string(in)) // an empty string or beyond decode's first 64 members
			return true
		}
	case codecInt:
		if n, ok := plainInt(raw); ok && !fv.OverflowInt(n) {
			fv.SetInt(n)
			return true
		}
	case codecBool:
		switch string(raw) {
		case "true":
			fv.SetBool(true)
			return true
		case "false":
			fv.SetBool(false)
			return true
		}
	case codecTime:
		return fv.Addr().Interface().(*time.Time).UnmarshalJSON(raw) == nil
	case codecValues:
		if vals, ok := decodeValues(raw); ok {
			fv.Set(reflect.ValueOf(vals))
			return true
		}
	}
	if nestsAtLeast(raw, maxMemberDepth) {
		return false // the document would pass encoding/json's depth limit
	}
	return json.Unmarshal(raw, fv.Addr().Interface()) == nil
}

// maxMemberDepth is the nesting a member may not reach: encoding/json
// refuses a document nested more than 10,000 levels, and the document's
// object is one level above its members.
const maxMemberDepth = 10000

// nestsAtLeast reports whether the JSON value raw opens depth arrays or
// objects one inside the other. Each level takes a byte, so a shorter value
// cannot and is not scanned.
func nestsAtLeast(raw []byte, depth int) bool {
	if len(raw) < depth {
		return false
	}
	level, inString, escaped := 0, false, false
	for _, c := range raw {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			if level++; level >= depth {
				return true
			}
		case c == ']' || c == '}':
			level--
		}
	}
	return false
}

// plainString returns the content of a JSON string without escapes or
// control characters, in valid UTF-8 (what encoding/json decodes to the
// same bytes), as a sub-slice of raw.
func plainString(raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, false
	}
	in := raw[1 : len(raw)-1]
	ascii := true
	for _, c := range in {
		if !plainByte[c] {
			if c < utf8.RuneSelf {
				return nil, false // a quote, a backslash or a control character
			}
			ascii = false
		}
	}
	if !ascii && !utf8.Valid(in) {
		return nil, false
	}
	return in, true
}

// plainInt parses a JSON integer literal (no fraction or exponent).
func plainInt(raw []byte) (int64, bool) {
	digits := raw
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 1 && digits[0] == '0' {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	return n, err == nil
}

// memberSpan locates one member in an encoding, by offsets: its key from
// key to value (the colon), its value from value+1 to end.
type memberSpan struct{ key, value, end int }

// encode appends v's JSON as json.Marshal writes it and reports whether it
// could, with the offsets of each member written appended to spans; when it
// could not, encoding/json must encode the whole record.
func (c *codec) encode(b []byte, v reflect.Value, spans []memberSpan) ([]byte, []memberSpan, bool) {
	base := len(b)
	b = append(b, '{')
	first := true
	for i := range c.fields {
		f := &c.fields[i]
		fv := v.FieldByIndex(f.index)
		if f.kind == codecTime {
			if f.omitZero && fv.Addr().Interface().(*time.Time).IsZero() {
				continue // omitempty never omits a struct
			}
		} else if f.omitEmpty && emptyValue(fv) || f.omitZero && fv.IsZero() {
			continue
		}
		b = c.sep(b, f, &first)
		spans = append(spans, memberSpan{key: len(b) - base - len(f.key), value: len(b) - base - 1})
		var ok bool
		if b, ok = f.appendValue(b, fv); !ok {
			return nil, nil, false // encoding/json's escapes, compaction or error
		}
		spans[len(spans)-1].end = len(b) - base
	}
	return append(b, '}'), spans, true
}

// appendValue appends fv, the value of member f, as JSON. It declines
// (false) where encoding/json must encode the record instead: escapes it
// would write otherwise, compaction, or an error.
func (f *codecField) appendValue(b []byte, fv reflect.Value) ([]byte, bool) {
	switch f.kind {
	case codecTime:
		var err error
		if b, err = fv.Addr().Interface().(*time.Time).AppendText(append(b, '"')); err != nil {
			return nil, false
		}
		return append(b, '"'), true
	case codecString:
		b, _ = jsontext.AppendString(b, fv.String())
	case codecInt:
		b = strconv.AppendInt(b, fv.Int(), 10)
	case codecBool:
		b = strconv.AppendBool(b, fv.Bool())
	case codecValues:
		return appendValues(b, fv.Interface().(itsm.Values))
	default:
		raw, err := json.Marshal(fv.Addr().Interface())
		if err != nil {
			return nil, false
		}
		b = append(b, raw...)
	}
	return b, true
}

// sep writes the separator and the member's name.
func (c *codec) sep(b []byte, f *codecField, first *bool) []byte {
	if !*first {
		b = append(b, ',')
	}
	*first = false
	return append(b, f.key...)
}

// emptyValue is encoding/json's omitempty test.
func emptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// plainByte marks the ASCII bytes a JSON string holds as they are: all but
// control characters, the quote and the backslash.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()
