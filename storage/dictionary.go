package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pillars-itsm/pillars/itsm"
)

// This file holds the dictionary: the custom fields a host declares on
// record kinds (ServiceNow's name for the table of field definitions), how
// a definition document is read, and how a record's values are checked and
// indexed.

// CustomType is the type of a custom field.
type CustomType string

// The custom field types. Indexed ones map onto the storage types, with no
// new FieldType: string, text, enum, user, group and reference are
// TypeString; integer is TypeInt; boolean is TypeInt 0 or 1; decimal is
// TypeInt in minor units of the field's Scale (12.50 at scale 2 is 1250);
// date is TypeString "2006-01-02"; time is TypeTime.
const (
	CustomString    CustomType = "string"    // one line of text
	CustomText      CustomType = "text"      // long text
	CustomInteger   CustomType = "integer"   // a whole number (int64)
	CustomDecimal   CustomType = "decimal"   // a fixed-point number with Scale decimals
	CustomBoolean   CustomType = "boolean"   // true or false
	CustomTime      CustomType = "time"      // an instant, kept in UTC at the stores' precision
	CustomDate      CustomType = "date"      // a calendar day, "2006-01-02"
	CustomEnum      CustomType = "enum"      // one of Values
	CustomReference CustomType = "reference" // the id of a record of Kind (same tenant), which must exist
	CustomUser      CustomType = "user"      // the id of a person
	CustomGroup     CustomType = "group"     // the id of a group
)

// Limits of a dictionary and of custom values.
const (
	// MaxDictionarySize bounds a definition document in bytes.
	MaxDictionarySize = 1 << 20
	// MaxCustomFields bounds the custom fields of one kind for one tenant.
	MaxCustomFields = 200
	// MaxCustomIndexed bounds the indexed custom fields of one kind over
	// every tenant (each is a column and an index in SQL stores).
	MaxCustomIndexed = 32
	// MaxEnumValues bounds an enum's values.
	MaxEnumValues = 1000
	// MaxPattern bounds a pattern in bytes.
	MaxPattern = 512
	// MaxLabel bounds a label in bytes.
	MaxLabel = 200
	// DefaultStringLength and DefaultTextLength are the MaxLength of string
	// and text fields that declare none, in characters; MaxTextLength is the
	// most a text field may declare.
	DefaultStringLength = 255
	DefaultTextLength   = 4000
	MaxTextLength       = 32000
	// MaxScale bounds a decimal's scale (its minor units stay within int64).
	MaxScale = 9
)

// CustomMember is the JSON member of a record struct that holds its custom
// values, of type itsm.Values.
const CustomMember = "custom"

// EventReindex names the event Records.Reindex writes when it rewrites a
// record so that its indexed values are filled in: no field changes, the
// record's occurrence time unchanged.
const EventReindex = "reindex"

// CustomField declares one custom field of a record kind: a row of the
// dictionary. The zero values of the options mean "none".
type CustomField struct {
	// Name is the field's name in the record's custom values, in events
	// ("custom.<name>") and, when indexed, in queries: a lower-case
	// identifier (see ValidName), not "id", and not the name of one of the
	// record's own JSON members or indexed fields.
	Name string `json:"name"`
	// Type is one of the Custom* types.
	Type CustomType `json:"type"`
	// Label is what a form shows; free text, at most MaxLabel bytes.
	Label string `json:"label,omitempty"`
	// Required fields must have a value when a record is created, and a
	// write may not remove one. Records created before the field was
	// required keep working until the value is set.
	Required bool `json:"required,omitempty"`
	// Default, a JSON value of the field's type, is set on a new record
	// that has no value.
	Default json.RawMessage `json:"default,omitempty"`
	// Values lists an enum's allowed values (at least one).
	Values []string `json:"values,omitempty"`
	// Kind is the record kind a reference points to.
	Kind string `json:"kind,omitempty"`
	// Scale is a decimal's number of decimals (0..MaxScale).
	Scale int `json:"scale,omitempty"`
	// MinLength and MaxLength bound string and text values in characters;
	// MaxLength defaults to DefaultStringLength (string) and
	// DefaultTextLength (text).
	MinLength int `json:"min_length,omitempty"`
	MaxLength int `json:"max_length,omitempty"`
	// Min and Max bound integer, decimal, date and time values, written as
	// the values are ("10", "2.50", "2024-01-31", "2024-01-31T09:00:00Z").
	Min string `json:"min,omitempty"`
	Max string `json:"max,omitempty"`
	// Pattern is a regular expression (RE2 syntax) the whole of a string,
	// user, group or reference value must match.
	Pattern string `json:"pattern,omitempty"`
	// Internal fields are hidden like an incident's work notes: actors not
	// allowed itsm.ActionReadInternal on the record see neither the value
	// nor its changes in history.
	Internal bool `json:"internal,omitempty"`
	// Indexed fields become fields of the kind's storage schema, so queries
	// filter and sort on them and composite indexes name them. An indexed
	// string field's values are at most MaxStringValue bytes.
	Indexed bool `json:"indexed,omitempty"`
}

// CustomIndex declares a composite index over a kind's indexed fields, its
// own and indexed custom ones: a queue on a custom field ("region", "state",
// "priority", "created_at").
type CustomIndex struct {
	Name   string   `json:"name"`
	Fields []string `json:"fields"`
}

// KindFields is what the dictionary declares for one record kind.
type KindFields struct {
	Fields  []CustomField `json:"fields,omitempty"`
	Indexes []CustomIndex `json:"indexes,omitempty"`
}

// Definitions is the definition document of a dictionary, as an admin tool
// stores and edits it (ParseDictionary reads its JSON):
//
//	{"kinds":   {"incident": {"fields": [{"name": "region", "type": "enum", "values": ["emea", "apac"], "indexed": true}]}},
//	 "tenants": {"acme": {"incident": {"fields": [{"name": "cost_center", "type": "string"}]}}}}
//
// Kinds holds the fields every tenant's records of a kind have; Tenants,
// per tenant id, the fields only that tenant's records have, in addition.
type Definitions struct {
	Kinds   map[string]KindFields            `json:"kinds,omitempty"`
	Tenants map[string]map[string]KindFields `json:"tenants,omitempty"`
}

// Dictionary is a compiled, immutable set of custom field definitions. Give
// it to a pillar's Config (Dictionary) or to Collection.WithDictionary; a
// nil *Dictionary declares nothing. It is safe for concurrent use.
type Dictionary struct {
	defs  Definitions
	kinds map[string]*kindDict
}

// kindDict is the dictionary of one kind.
type kindDict struct {
	kind    string
	shared  tenantFields
	tenants map[string]tenantFields
	indexed []*customField // the union over every tenant, in declaration order
	indexes []Index
}

// tenantFields are the fields one tenant's records of a kind have.
type tenantFields struct {
	list     []*customField
	byName   map[string]*customField
	internal bool // some field is internal
	creates  bool // some field is required or has a default
}

// customField is a compiled CustomField.
type customField struct {
	CustomField
	re       *regexp.Regexp
	enum     map[string]bool
	min, max string // canonical bounds of string-shaped values (date)
	lo, hi   int64  // bounds of integer, decimal (minor units) and time (microseconds) values
	hasLo    bool
	hasHi    bool
	def      json.RawMessage // canonical default
}

// NewDictionary checks and compiles definitions. Every mistake matches
// itsm.ErrInvalid and names the kind, tenant and field.
func NewDictionary(defs Definitions) (*Dictionary, error) {
	d := &Dictionary{defs: cloneDefinitions(defs), kinds: map[string]*kindDict{}}
	for _, kind := range sortedKeys(defs.Kinds) {
		if !ValidName(kind) {
			return nil, itsm.Invalidf("dictionary: kind %q is not a lower-case identifier", kind)
		}
		k := &kindDict{kind: kind, tenants: map[string]tenantFields{}}
		kf := defs.Kinds[kind]
		var err error
		if k.shared, err = compileFields(kind, "", kf.Fields, nil); err != nil {
			return nil, err
		}
		d.kinds[kind] = k
	}
	for _, tenant := range sortedKeys(defs.Tenants) {
		if err := itsm.CheckTenant(tenant); err != nil {
			return nil, fmt.Errorf("dictionary: %w", err)
		}
		for _, kind := range sortedKeys(defs.Tenants[tenant]) {
			if !ValidName(kind) {
				return nil, itsm.Invalidf("dictionary: tenant %s: kind %q is not a lower-case identifier", tenant, kind)
			}
			k := d.kinds[kind]
			if k == nil {
				k = &kindDict{kind: kind, tenants: map[string]tenantFields{}}
				d.kinds[kind] = k
			}
			tf, err := compileFields(kind, tenant, defs.Tenants[tenant][kind].Fields, k.shared.list)
			if err != nil {
				return nil, err
			}
			k.tenants[tenant] = tf
		}
	}
	for _, kind := range sortedKeys(d.kinds) {
		if err := d.kinds[kind].union(defs); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// ParseDictionary reads a definition document (the JSON of Definitions,
// at most MaxDictionarySize bytes; unknown members are refused) and
// compiles it. Every failure matches itsm.ErrInvalid.
func ParseDictionary(data []byte) (*Dictionary, error) {
	if len(data) > MaxDictionarySize {
		return nil, itsm.Invalidf("dictionary: document is %d bytes, at most %d", len(data), MaxDictionarySize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var defs Definitions
	if err := dec.Decode(&defs); err != nil {
		return nil, itsm.Invalidf("dictionary: document does not parse: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, itsm.Invalidf("dictionary: document has data after its object")
	}
	return NewDictionary(defs)
}

// Definitions returns a copy of the definitions the dictionary was built
// from, for an admin tool to edit and store (its JSON is what
// ParseDictionary reads).
func (d *Dictionary) Definitions() Definitions {
	if d == nil {
		return Definitions{}
	}
	return cloneDefinitions(d.defs)
}

// MarshalJSON encodes the dictionary as its definition document.
func (d *Dictionary) MarshalJSON() ([]byte, error) { return json.Marshal(d.Definitions()) }

// Kinds returns the record kinds the dictionary declares fields for, sorted,
// so a host can check that each is a kind it registers.
func (d *Dictionary) Kinds() []string {
	if d == nil {
		return nil
	}
	return sortedKeys(d.kinds)
}

// Fields returns the custom fields that tenant's records of kind have:
// those declared for every tenant, then the tenant's own.
func (d *Dictionary) Fields(tenant, kind string) []CustomField {
	k := d.kind(kind)
	if k == nil {
		return nil
	}
	tf := k.forTenant(tenant)
	out := make([]CustomField, len(tf.list))
	for i, f := range tf.list {
		out[i] = cloneField(f.CustomField)
	}
	return out
}

// Indexed returns the indexed custom fields of kind over every tenant, as
// they join the kind's storage schema: the dimensions a report (such as the
// improvement pillar's KPI slices) can group records by.
func (d *Dictionary) Indexed(kind string) []CustomField {
	k := d.kind(kind)
	if k == nil {
		return nil
	}
	out := make([]CustomField, len(k.indexed))
	for i, f := range k.indexed {
		out[i] = cloneField(f.CustomField)
	}
	return out
}

// Value converts x, a Go value for the named indexed custom field of kind
// (string, an integer type, bool, time.Time, or the text of a decimal or
// date), to the storage Value queries compare it with: a decimal in minor
// units, a boolean as 0 or 1. An unknown field or a value that is not one
// of the field's is ErrInvalid.
func (d *Dictionary) Value(kind, name string, x any) (Value, error) {
	k := d.kind(kind)
	var f *customField
	if k != nil {
		for _, g := range k.indexed {
			if g.Name == name {
				f = g
			}
		}
	}
	if f == nil {
		return Value{}, itsm.Invalidf("dictionary: %s has no indexed custom field %q", kind, name)
	}
	raw, err := json.Marshal(x)
	if err != nil {
		return Value{}, itsm.Invalidf("dictionary: %s.%s: %v", kind, name, err)
	}
	if t, ok := x.(time.Time); ok && f.Type == CustomDate {
		raw, _ = json.Marshal(t.Format(time.DateOnly))
	}
	canon, problem := f.canonical(raw)
	if problem != "" {
		return Value{}, (&itsm.ValidationError{Kind: kind}).Add(CustomMember+"."+name, problem)
	}
	return f.index(canon), nil
}

func (d *Dictionary) kind(kind string) *kindDict {
	if d == nil {
		return nil
	}
	return d.kinds[kind]
}

// forTenant returns the fields of tenant's records.
func (k *kindDict) forTenant(tenant string) tenantFields {
	if tf, ok := k.tenants[tenant]; ok {
		return tf
	}
	return k.shared
}

// union collects the indexed fields and the indexes of every tenant,
// refusing an indexed name declared with different types.
func (k *kindDict) union(defs Definitions) error {
	byName := map[string]*customField{}
	var all []*customField
	seen := map[*customField]bool{}
	add := func(list []*customField) {
		for _, f := range list {
			if !seen[f] {
				seen[f] = true
				all = append(all, f)
			}
		}
	}
	add(k.shared.list)
	for _, t := range sortedKeys(k.tenants) {
		add(k.tenants[t].list)
	}
	for _, f := range all {
		if f.Indexed && byName[f.Name] == nil {
			byName[f.Name] = f
			k.indexed = append(k.indexed, f)
		}
	}
	for _, f := range all {
		if g := byName[f.Name]; g != nil && (g.Type != f.Type || g.Scale != f.Scale) {
			return itsm.Invalidf("dictionary: %s field %q is indexed as %s (scale %d) and declared elsewhere as %s (scale %d): an indexed name has one type in every tenant",
				k.kind, f.Name, g.Type, g.Scale, f.Type, f.Scale)
		}
	}
	if len(k.indexed) > MaxCustomIndexed {
		return itsm.Invalidf("dictionary: %s has %d indexed custom fields, at most %d", k.kind, len(k.indexed), MaxCustomIndexed)
	}
	idx := map[string][]string{}
	addIndexes := func(where string, list []CustomIndex) error {
		for _, ix := range list {
			if !ValidName(ix.Name) || len(ix.Fields) == 0 {
				return itsm.Invalidf("dictionary: %s%s: index %q needs a lower-case identifier name and fields", k.kind, where, ix.Name)
			}
			if prev, ok := idx[ix.Name]; ok {
				if !slices.Equal(prev, ix.Fields) {
					return itsm.Invalidf("dictionary: %s%s: index %q declared twice with different fields", k.kind, where, ix.Name)
				}
				continue
			}
			idx[ix.Name] = slices.Clone(ix.Fields)
			k.indexes = append(k.indexes, Index{Name: ix.Name, Fields: slices.Clone(ix.Fields)})
		}
		return nil
	}
	if err := addIndexes("", defs.Kinds[k.kind].Indexes); err != nil {
		return err
	}
	for _, t := range sortedKeys(defs.Tenants) {
		if err := addIndexes(" (tenant "+t+")", defs.Tenants[t][k.kind].Indexes); err != nil {
			return err
		}
	}
	return nil
}

// compileFields checks one tenant's (or, with tenant "", every tenant's)
// fields of a kind and returns them after the shared ones.
func compileFields(kind, tenant string, fields []CustomField, shared []*customField) (tenantFields, error) {
	where := kind
	if tenant != "" {
		where = kind + " (tenant " + tenant + ")"
	}
	tf := tenantFields{list: slices.Clone(shared), byName: map[string]*customField{}}
	for _, f := range shared {
		tf.byName[f.Name] = f
		tf.internal = tf.internal || f.Internal
		tf.creates = tf.creates || f.Required || f.def != nil
	}
	if len(shared)+len(fields) > MaxCustomFields {
		return tf, itsm.Invalidf("dictionary: %s has %d custom fields, at most %d", where, len(shared)+len(fields), MaxCustomFields)
	}
	for i, f := range fields {
		cf, err := compileField(f)
		if err != nil {
			return tf, fmt.Errorf("dictionary: %s field %d (%q): %w", where, i, clipName(f.Name), err)
		}
		if tf.byName[f.Name] != nil {
			return tf, itsm.Invalidf("dictionary: %s field %q is declared twice (for every tenant and again, or twice in one list)", where, f.Name)
		}
		tf.byName[f.Name] = cf
		tf.list = append(tf.list, cf)
		tf.internal = tf.internal || cf.Internal
		tf.creates = tf.creates || cf.Required || cf.def != nil
	}
	return tf, nil
}

func clipName(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// compileField checks one definition.
func compileField(f CustomField) (*customField, error) {
	cf := &customField{CustomField: cloneField(f)}
	if !ValidName(f.Name) || f.Name == "id" {
		return nil, itsm.Invalidf("name %q is not a lower-case identifier (a-z, 0-9, _; at most 63 characters; not id)", clipName(f.Name))
	}
	if len(f.Label) > MaxLabel || !indexableString(f.Label) {
		return nil, itsm.Invalidf("label is not text of at most %d bytes", MaxLabel)
	}
	bad := func(opt string) error { return itsm.Invalidf("%s does not apply to a %s field", opt, f.Type) }
	str := f.Type == CustomString || f.Type == CustomText
	ranged := f.Type == CustomInteger || f.Type == CustomDecimal || f.Type == CustomDate || f.Type == CustomTime
	switch f.Type {
	case CustomString, CustomText, CustomInteger, CustomDecimal, CustomBoolean, CustomTime, CustomDate,
		CustomEnum, CustomReference, CustomUser, CustomGroup:
	default:
		return nil, itsm.Invalidf("type %q is not a custom field type", clipName(string(f.Type)))
	}
	if f.Type == CustomEnum {
		if len(f.Values) == 0 || len(f.Values) > MaxEnumValues {
			return nil, itsm.Invalidf("an enum lists 1 to %d values, not %d", MaxEnumValues, len(f.Values))
		}
		cf.enum = make(map[string]bool, len(f.Values))
		for _, v := range f.Values {
			if v == "" || !indexableString(v) || cf.enum[v] {
				return nil, itsm.Invalidf("enum value %q is empty, repeated, or not text of at most %d bytes", clipName(v), MaxStringValue)
			}
			cf.enum[v] = true
		}
	} else if len(f.Values) > 0 {
		return nil, bad("values")
	}
	if f.Type == CustomReference {
		if !ValidName(f.Kind) {
			return nil, itsm.Invalidf("a reference names the kind it points to; %q is not a lower-case identifier", clipName(f.Kind))
		}
	} else if f.Kind != "" {
		return nil, bad("kind")
	}
	if f.Type == CustomDecimal {
		if f.Scale < 0 || f.Scale > MaxScale {
			return nil, itsm.Invalidf("scale %d outside 0..%d", f.Scale, MaxScale)
		}
	} else if f.Scale != 0 {
		return nil, bad("scale")
	}
	if str {
		limit := DefaultStringLength
		if f.Type == CustomText {
			limit = DefaultTextLength
		}
		if cf.MaxLength == 0 {
			cf.MaxLength = limit
		}
		top := MaxTextLength
		if f.Type == CustomString || f.Indexed {
			top = MaxStringValue
		}
		if f.MinLength < 0 || cf.MaxLength < 0 || cf.MaxLength > top || f.MinLength > cf.MaxLength {
			return nil, itsm.Invalidf("lengths %d..%d outside 0..%d", f.MinLength, cf.MaxLength, top)
		}
	} else if f.MinLength != 0 || f.MaxLength != 0 {
		return nil, bad("min_length and max_length")
	}
	if f.Pattern != "" {
		if !str && f.Type != CustomUser && f.Type != CustomGroup && f.Type != CustomReference {
			return nil, bad("pattern")
		}
		if len(f.Pattern) > MaxPattern {
			return nil, itsm.Invalidf("pattern is %d bytes, at most %d", len(f.Pattern), MaxPattern)
		}
		re, err := regexp.Compile(`^(?:` + f.Pattern + `)$`)
		if err != nil {
			return nil, itsm.Invalidf("pattern does not compile: %v", err)
		}
		cf.re = re
	}
	for _, b := range []struct {
		text string
		name string
		lo   bool
	}{{f.Min, "min", true}, {f.Max, "max", false}} {
		if b.text == "" {
			continue
		}
		if !ranged {
			return nil, bad(b.name)
		}
		raw, _ := json.Marshal(b.text)
		if f.Type == CustomInteger {
			raw = []byte(b.text)
		}
		canon, problem := cf.scalar(raw)
		if problem != "" {
			return nil, itsm.Invalidf("%s %q: %s", b.name, clipName(b.text), problem)
		}
		v := cf.index(canon)
		switch {
		case f.Type == CustomDate && b.lo:
			cf.min = v.Str()
		case f.Type == CustomDate:
			cf.max = v.Str()
		case b.lo:
			cf.lo, cf.hasLo = v.Int64(), true
		default:
			cf.hi, cf.hasHi = v.Int64(), true
		}
	}
	if cf.hasLo && cf.hasHi && cf.lo > cf.hi || cf.min != "" && cf.max != "" && cf.min > cf.max {
		return nil, itsm.Invalidf("min %s is above max %s", f.Min, f.Max)
	}
	if len(f.Default) > 0 {
		canon, problem := cf.canonical(f.Default)
		if problem != "" {
			return nil, itsm.Invalidf("default %s: %s", clipName(string(f.Default)), problem)
		}
		cf.def = canon
		cf.Default = canon
	}
	return cf, nil
}

// scalar parses a raw JSON value of the field's type into its canonical
// encoding, without the field's rules; problem says why it cannot. A value
// already canonical is returned as it is, without an allocation.
func (f *customField) scalar(raw json.RawMessage) (json.RawMessage, string) {
	raw = bytes.TrimSpace(raw)
	var buf [64]byte
	switch f.Type {
	case CustomString, CustomText, CustomEnum, CustomReference, CustomUser, CustomGroup:
		if in, ok := plainString(raw); ok && marshalsAsIs(in) {
			return raw, ""
		}
		s, ok := jsonString(raw)
		if !ok {
			return nil, "is not a string"
		}
		return quote(s), ""
	case CustomInteger:
		n, ok := plainInt(raw)
		if !ok {
			return nil, "is not a whole number within int64"
		}
		if canon := strconv.AppendInt(buf[:0], n, 10); !bytes.Equal(canon, raw) {
			return bytes.Clone(canon), ""
		}
		return raw, ""
	case CustomDecimal:
		text, ok := stringContent(raw)
		if !ok {
			if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
				return nil, "is not a decimal number"
			}
			text = raw
		}
		units, problem := parseDecimal(string(text), f.Scale)
		if problem != "" {
			return nil, problem
		}
		return reuseQuoted(raw, appendDecimal(append(buf[:0], '"'), units, f.Scale)), ""
	case CustomBoolean:
		switch string(raw) {
		case "true", "false":
			return raw, ""
		}
		return nil, "is not true or false"
	case CustomTime:
		text, ok := stringContent(raw)
		t, err := time.Parse(time.RFC3339Nano, string(text))
		if !ok || err != nil {
			return nil, "is not an RFC 3339 time"
		}
		if t.Year() < 1 || t.Year() > 9999 {
			return nil, "is outside years 1..9999"
		}
		return reuseQuoted(raw, itsm.NormalizeTime(t).AppendFormat(append(buf[:0], '"'), time.RFC3339Nano)), ""
	case CustomDate:
		text, ok := stringContent(raw)
		t, err := time.Parse(time.DateOnly, string(text))
		if !ok || err != nil {
			return nil, "is not a date (2006-01-02)"
		}
		return reuseQuoted(raw, t.AppendFormat(append(buf[:0], '"'), time.DateOnly)), ""
	}
	return nil, "has an unknown type"
}

// reuseQuoted closes the canonical string opened in b and returns raw when
// it is the same bytes, a copy of b otherwise.
func reuseQuoted(raw json.RawMessage, b []byte) json.RawMessage {
	b = append(b, '"')
	if bytes.Equal(b, raw) {
		return raw
	}
	return bytes.Clone(b)
}

// marshalsAsIs reports whether encoding/json writes the plain string
// content in as it is: no HTML characters or line separators to escape.
func marshalsAsIs(in []byte) bool {
	for i, c := range in {
		switch {
		case c == '<' || c == '>' || c == '&':
			return false
		case c == 0xE2 && i+2 < len(in) && in[i+1] == 0x80 && (in[i+2] == 0xA8 || in[i+2] == 0xA9):
			return false
		}
	}
	return true
}

// jsonString decodes a JSON string value.
func jsonString(raw []byte) (string, bool) {
	if in, ok := plainString(raw); ok {
		return string(in), true
	}
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// stringContent returns the content of a JSON string value, without a copy
// when it has no escapes.
func stringContent(raw []byte) ([]byte, bool) {
	if in, ok := plainString(raw); ok {
		return in, true
	}
	s, ok := jsonString(raw)
	return []byte(s), ok
}

func quote(s string) json.RawMessage { b, _ := json.Marshal(s); return b }

// canonical parses a raw value and checks the field's rules (length,
// pattern, enum values, range); the reference's existence is checked by
// the caller.
func (f *customField) canonical(raw json.RawMessage) (json.RawMessage, string) {
	canon, problem := f.scalar(raw)
	if problem != "" {
		return nil, problem
	}
	switch f.Type {
	case CustomString, CustomText, CustomEnum, CustomReference, CustomUser, CustomGroup:
		s, _ := stringContent(canon)
		if !utf8.Valid(s) || bytes.IndexByte(s, 0) >= 0 {
			return nil, "is not UTF-8 text without NUL"
		}
		n := utf8.RuneCount(s)
		switch {
		case f.Type == CustomEnum && !f.enum[string(s)]:
			return nil, fmt.Sprintf("%q is not one of its values", clipName(string(s)))
		case (f.Type == CustomString || f.Type == CustomText) && (n < f.MinLength || n > f.MaxLength):
			return nil, fmt.Sprintf("is %d characters, want %d..%d", n, f.MinLength, f.MaxLength)
		case (f.Type == CustomReference || f.Type == CustomUser || f.Type == CustomGroup) && (len(s) == 0 || len(s) > MaxStringValue):
			return nil, fmt.Sprintf("is not an id (1 to %d bytes)", MaxStringValue)
		case f.Indexed && len(s) > MaxStringValue:
			return nil, fmt.Sprintf("is %d bytes, an indexed value is at most %d", len(s), MaxStringValue)
		case f.re != nil && !f.re.Match(s):
			return nil, "does not match the pattern " + f.Pattern
		}
	case CustomDate:
		s, _ := stringContent(canon)
		if f.min != "" && string(s) < f.min || f.max != "" && string(s) > f.max {
			return nil, fmt.Sprintf("%s is outside %s..%s", s, orOpen(f.Min), orOpen(f.Max))
		}
	case CustomInteger, CustomDecimal, CustomTime:
		if !f.hasLo && !f.hasHi {
			break
		}
		n := f.index(canon).Int64()
		if f.hasLo && n < f.lo || f.hasHi && n > f.hi {
			return nil, fmt.Sprintf("%s is outside %s..%s", strings.Trim(string(canon), `"`), orOpen(f.Min), orOpen(f.Max))
		}
	}
	return canon, ""
}

func orOpen(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// storageType returns the FieldType an indexed field of type t is stored as.
func storageType(t CustomType) FieldType {
	switch t {
	case CustomInteger, CustomDecimal, CustomBoolean:
		return TypeInt
	case CustomTime:
		return TypeTime
	}
	return TypeString
}

// index converts a canonical value to the storage Value of the field; a
// value of another shape (written under an earlier definition) gives the
// type's zero.
func (f *customField) index(raw json.RawMessage) Value {
	switch storageType(f.Type) {
	case TypeInt:
		switch f.Type {
		case CustomBoolean:
			if string(raw) == "true" {
				return Int(1)
			}
			return Int(0)
		case CustomDecimal:
			if s, ok := stringContent(raw); ok {
				if n, problem := parseDecimal(string(s), f.Scale); problem == "" {
					return Int(n)
				}
			}
			return Int(0)
		}
		n, _ := plainInt(raw)
		return Int(n)
	case TypeTime:
		if s, ok := stringContent(raw); ok {
			if t, err := time.Parse(time.RFC3339Nano, string(s)); err == nil {
				return Time(t)
			}
		}
		return Time(time.Time{})
	}
	if s, ok := jsonString(raw); ok && indexableString(s) {
		return String(s)
	}
	return String("")
}

// parseDecimal reads a decimal number ("-12.5") as minor units at scale.
func parseDecimal(s string, scale int) (int64, string) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || dot && frac == "" || strings.Trim(whole, "0123456789") != "" || strings.Trim(frac, "0123456789") != "" {
		return 0, "is not a decimal number (digits, optionally a point and decimals)"
	}
	if len(frac) > scale {
		return 0, fmt.Sprintf("has %d decimals, at most %d", len(frac), scale)
	}
	frac += strings.Repeat("0", scale-len(frac))
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || n == math.MinInt64 {
		return 0, "is too large"
	}
	if neg {
		n = -n
	}
	return n, ""
}

// appendDecimal appends minor units at scale as a decimal ("-12.50").
func appendDecimal(b []byte, n int64, scale int) []byte {
	if n < 0 {
		b = append(b, '-')
	}
	u := uint64(n)
	if n < 0 {
		u = -u
	}
	var digits [24]byte
	d := strconv.AppendUint(digits[:0], u, 10)
	if scale == 0 {
		return append(b, d...)
	}
	for len(d) <= scale {
		d = append([]byte{'0'}, d...)
	}
	b = append(b, d[:len(d)-scale]...)
	b = append(b, '.')
	return append(b, d[len(d)-scale:]...)
}

// check validates the custom values of a record about to be written, in
// place: each value set or changed since before (a create judges them all)
// must be a field of the tenant's records and obey its rules, and is
// rewritten in its canonical form; a reference must name an existing
// record (through g); a new record gets the defaults of the fields it
// lacks; a required field must have a value on create and may not lose
// it. A value a write leaves unchanged is not judged again, so a field
// whose definition was removed or tightened does not block the record's
// other edits. Problems are reported together in one *itsm.ValidationError
// naming each as "custom.<name>".
func (k *kindDict) check(ctx context.Context, g Getter, id, tenant string, before itsm.Values, after *itsm.Values, create bool) error {
	tf := k.forTenant(tenant)
	if len(*after) == 0 && (!create || !tf.creates) && len(before) == 0 {
		return nil
	}
	var ve *itsm.ValidationError
	add := func(name, problem string) {
		if ve == nil {
			ve = &itsm.ValidationError{Kind: k.kind, ID: id}
		}
		ve.Add(CustomMember+"."+name, problem)
	}
	if create {
		for _, f := range tf.list {
			if f.def != nil && !after.Has(f.Name) {
				if *after == nil {
					*after = itsm.Values{}
				}
				(*after)[f.Name] = slices.Clone(f.def)
			}
		}
	}
	vals := *after
	for name, raw := range vals {
		if string(bytes.TrimSpace(raw)) == "null" {
			delete(vals, name)
			continue
		}
		if b, ok := before[name]; ok && !create && bytes.Equal(b, raw) {
			continue // judged when it was written
		}
		f := tf.byName[name]
		if f == nil {
			add(name, "is not a custom field of "+k.kind+forTenantText(tenant, k))
			continue
		}
		canon, problem := f.canonical(raw)
		if problem != "" {
			add(name, problem)
			continue
		}
		if !bytes.Equal(canon, raw) {
			vals[name] = canon
		}
		if b, ok := before[name]; ok && bytes.Equal(b, canon) {
			continue
		}
		if f.Type == CustomReference && g != nil {
			var ref string
			_ = json.Unmarshal(canon, &ref)
			if _, err := g.Get(ctx, f.Kind, ref); err != nil {
				if !errors.Is(err, itsm.ErrNotFound) {
					return err
				}
				add(name, fmt.Sprintf("no %s %s", f.Kind, clipName(ref)))
			}
		}
	}
	for _, f := range tf.list {
		if f.Required && !vals.Has(f.Name) && (create || before.Has(f.Name)) {
			add(f.Name, "is required")
		}
	}
	if len(vals) == 0 {
		*after = nil // no values: the member is left out, as on a record that never had any
	}
	return ve.Err()
}

func forTenantText(tenant string, k *kindDict) string {
	if _, ok := k.tenants[tenant]; ok {
		return " for tenant " + tenant
	}
	return ""
}

// internal reports whether name is an internal field of tenant's records.
func (k *kindDict) internal(tenant, name string) bool {
	f := k.forTenant(tenant).byName[name]
	return f != nil && f.Internal
}

// hasInternal reports whether tenant's records have internal fields.
func (k *kindDict) hasInternal(tenant string) bool { return k.forTenant(tenant).internal }

// names returns every custom field name of the kind over every tenant.
func (k *kindDict) names() []string {
	seen := map[string]bool{}
	var out []string
	for _, tf := range append([]tenantFields{k.shared}, mapValues(k.tenants)...) {
		for _, f := range tf.list {
			if !seen[f.Name] {
				seen[f.Name] = true
				out = append(out, f.Name)
			}
		}
	}
	sort.Strings(out)
	return out
}

func mapValues[V any](m map[string]V) []V {
	out := make([]V, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func cloneField(f CustomField) CustomField {
	f.Default = slices.Clone(f.Default)
	f.Values = slices.Clone(f.Values)
	return f
}

func cloneKindFields(kf KindFields) KindFields {
	out := KindFields{}
	for _, f := range kf.Fields {
		out.Fields = append(out.Fields, cloneField(f))
	}
	for _, ix := range kf.Indexes {
		out.Indexes = append(out.Indexes, CustomIndex{Name: ix.Name, Fields: slices.Clone(ix.Fields)})
	}
	return out
}

func cloneDefinitions(d Definitions) Definitions {
	var out Definitions
	if d.Kinds != nil {
		out.Kinds = make(map[string]KindFields, len(d.Kinds))
		for k, kf := range d.Kinds {
			out.Kinds[k] = cloneKindFields(kf)
		}
	}
	if d.Tenants != nil {
		out.Tenants = make(map[string]map[string]KindFields, len(d.Tenants))
		for t, kinds := range d.Tenants {
			m := make(map[string]KindFields, len(kinds))
			for k, kf := range kinds {
				m[k] = cloneKindFields(kf)
			}
			out.Tenants[t] = m
		}
	}
	return out
}
