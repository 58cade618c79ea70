package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"

	"github.com/pillars-itsm/pillars/itsm"
)

// This file holds how a Collection carries custom fields (WithDictionary)
// and how Records checks, hides, audits and reindexes them.

// custom is a collection's custom-field declaration.
type custom struct {
	at      []int     // field path of the record's itsm.Values member "custom"; nil when it has none
	dict    *kindDict // the kind's dictionary; empty (never nil) when none was given
	builtin int       // how many of the collection's fields are its own, before the indexed custom ones
	err     error     // a declaration mistake, reported by Register
}

var valuesType = reflect.TypeFor[itsm.Values]()

// customIndex returns the field path of t's custom values member, or nil.
func customIndex(t reflect.Type) []int {
	idx := memberIndex(t, CustomMember)
	if idx == nil || t.FieldByIndex(idx).Type != valuesType {
		return nil
	}
	return idx
}

// WithDictionary gives the collection the custom fields d declares for its
// kind: every write through Records (and Put) checks the record's custom
// values for the tenant of its context; internal ones are hidden like
// WithInternal members; the indexed ones of every tenant join the kind's
// schema as fields (see CustomType for their storage types), with the
// dictionary's composite indexes, so queries filter and sort on them. The
// record type needs the member
//
//	Custom itsm.Values `json:"custom,omitempty"`
//
// Register reports a dictionary that declares fields for a kind without
// it, and a custom field named like one of the record's own JSON members
// or indexed fields. Call it after the collection's own declarations; a nil
// d, or one without fields for the kind, declares nothing. It returns the
// collection for chaining.
func (c *Collection[T, P]) WithDictionary(d *Dictionary) *Collection[T, P] {
	k := d.kind(c.schema.Kind)
	if k == nil {
		return c
	}
	if c.custom.builtin == 0 {
		c.custom.builtin = len(c.fields)
	}
	c.custom.dict = k
	if c.custom.at == nil {
		c.custom.err = itsm.Invalidf("%s: the dictionary declares custom fields but the record type has no %q member of type itsm.Values", c.schema.Kind, CustomMember)
		return c
	}
	at := c.custom.at
	for _, f := range k.indexed {
		c.fields = append(c.fields, FieldSpec[T]{field: Field{Name: f.Name, Type: storageType(f.Type)}, get: func(t *T) Value {
			vals := reflect.ValueOf(t).Elem().FieldByIndex(at).Interface().(itsm.Values)
			return f.index(vals[f.Name])
		}})
		c.schema.Fields = append(c.schema.Fields, Field{Name: f.Name, Type: storageType(f.Type)})
	}
	for _, ix := range k.indexes {
		c.schema.Indexes = append(c.schema.Indexes, Index{Name: ix.Name, Fields: slices.Clone(ix.Fields)})
	}
	return c
}

// CustomFields returns the custom fields the collection's records have in
// the tenant of ctx (none without a dictionary).
func (c *Collection[T, P]) CustomFields(ctx context.Context) []CustomField {
	tenant, _ := itsm.TenantFrom(ctx)
	tf := c.custom.dict.forTenant(tenant)
	out := make([]CustomField, len(tf.list))
	for i, f := range tf.list {
		out[i] = cloneField(f.CustomField)
	}
	return out
}

// checkCustomDecl reports the custom-field declaration mistakes Register
// refuses.
func (c *Collection[T, P]) checkCustomDecl() error {
	if c.custom.err != nil {
		return c.custom.err
	}
	t := reflect.TypeFor[T]()
	for _, name := range c.custom.dict.names() {
		if memberIndex(t, name) != nil {
			return (&itsm.ValidationError{Kind: c.schema.Kind}).Add(CustomMember+"."+name, "collides with the record's own member "+name)
		}
		for _, f := range c.fields[:c.custom.builtin] {
			if f.field.Name == name {
				return (&itsm.ValidationError{Kind: c.schema.Kind}).Add(CustomMember+"."+name, "collides with the kind's indexed field "+name)
			}
		}
	}
	return nil
}

// values returns rec's custom values member, nil when the record has none.
func (c *Collection[T, P]) values(rec P) *itsm.Values {
	if c.custom.at == nil || rec == nil {
		return nil
	}
	return reflect.ValueOf(rec).Elem().FieldByIndex(c.custom.at).Addr().Interface().(*itsm.Values)
}

// checkCustom checks rec's custom values for the tenant of ctx against
// stored's (nil: every value is judged), in place (see kindDict.check).
func (c *Collection[T, P]) checkCustom(ctx context.Context, g Getter, stored, rec P, create bool) error {
	after := c.values(rec)
	if after == nil {
		return nil
	}
	var before itsm.Values
	if b := c.values(stored); b != nil {
		before = *b
	}
	tenant, _ := itsm.TenantFrom(ctx)
	return c.custom.dict.check(ctx, g, rec.Meta().ID, tenant, before, after, create)
}

// customJSON refuses custom values that are not JSON, naming the field,
// before anything encodes the record.
func (c *Collection[T, P]) customJSON(rec P) error {
	vals := c.values(rec)
	if vals == nil {
		return nil
	}
	for name, raw := range *vals {
		if !json.Valid(raw) {
			return (&itsm.ValidationError{Kind: c.schema.Kind, ID: rec.Meta().ID}).Add(CustomMember+"."+name, "is not a JSON value")
		}
	}
	return nil
}

// hasInternal reports whether the kind has internal members or, in the
// tenant of ctx, internal custom fields.
func (c *Collection[T, P]) hasInternal(ctx context.Context) bool {
	if len(c.access.internal) > 0 {
		return true
	}
	tenant, _ := itsm.TenantFrom(ctx)
	return c.custom.dict.hasInternal(tenant)
}

// hiddenChange reports whether an event change of field is hidden from an
// actor who may not read internal members, in the tenant of ctx.
func (c *Collection[T, P]) hiddenChange(ctx context.Context, field string) bool {
	if c.isInternal(field) {
		return true
	}
	name, ok := strings.CutPrefix(field, CustomMember+".")
	if !ok {
		return false
	}
	tenant, _ := itsm.TenantFrom(ctx)
	return c.custom.dict.internal(tenant, name)
}

// redactCustom removes rec's internal custom values for the tenant of ctx.
func (c *Collection[T, P]) redactCustom(ctx context.Context, rec P) {
	vals := c.values(rec)
	if vals == nil || len(*vals) == 0 {
		return
	}
	tenant, _ := itsm.TenantFrom(ctx)
	if !c.custom.dict.hasInternal(tenant) {
		return
	}
	out := vals.Clone()
	for name := range out {
		if c.custom.dict.internal(tenant, name) {
			delete(out, name)
		}
	}
	if len(out) == 0 {
		out = nil
	}
	*vals = out
}

// expandCustom replaces a change of the custom values member by one change
// per value set, changed or removed, named "custom.<name>", so events say
// which custom field changed and internal ones can be hidden one by one.
func expandCustom(changes []itsm.FieldChange) ([]itsm.FieldChange, error) {
	i := slices.IndexFunc(changes, func(ch itsm.FieldChange) bool { return ch.Field == CustomMember })
	if i < 0 {
		return changes, nil
	}
	ch := changes[i]
	var bufA, bufB [16]jsonMember
	split := func(raw string, buf []jsonMember) ([]jsonMember, error) {
		if raw == "" || raw == "null" {
			return nil, nil
		}
		return topLevelMembers([]byte(raw), buf)
	}
	from, err := split(ch.From, bufA[:0])
	if err != nil {
		return nil, err
	}
	to, err := split(ch.To, bufB[:0])
	if err != nil {
		return nil, err
	}
	// The values are encoded by encoding/json, whose map keys are sorted,
	// so diffMembers lists them by name.
	sub, _ := diffMembers(from, to, nil, "")
	for j := range sub {
		sub[j].Field = CustomMember + "." + sub[j].Field
	}
	return slices.Concat(changes[:i], sub, changes[i+1:]), nil
}

// Reindex rewrites the records of the kind, in the tenant of ctx, whose
// stored indexed values differ from what the collection computes from
// their data now: after a host adds an indexed custom field (Register with
// the larger schema, which stores accept as a migration), existing records
// hold the field's zero value until rewritten. It returns how many records
// it rewrote; run it again after a failure, it skips what is done. Each
// rewrite is a write like any other (the version advances, a
// storage.EventReindex event with no changes joins the record's chain, so
// Verify holds) that keeps the record's updated_at. It needs an actor
// allowed itsm.ActionImport on the kind. A field removed from the
// dictionary needs no reindex: its values stay in the records' data.
func (r *Records[T, P]) Reindex(ctx context.Context) (int, error) {
	if ctx == nil {
		return 0, itsm.Invalidf("%s: nil context", r.coll.Kind())
	}
	kind := r.coll.Kind()
	if err := itsm.Authorize(ctx, r.cfg.Authorizer, kind, itsm.ActionImport, nil); err != nil {
		return 0, err
	}
	q := Query{Kind: kind, Limit: 200}
	n := 0
	for {
		page, err := r.backend.Query(ctx, q)
		if err != nil {
			return n, err
		}
		for _, d := range page.Docs {
			rec, err := r.coll.Decode(d)
			if err != nil {
				return n, err
			}
			if slices.Equal(d.Fields, r.coll.document(rec, d.Data).Fields) {
				continue
			}
			wrote := false
			err = Retry(ctx, r.backend, max(r.cfg.Retries, 0)+1, func(tx Tx) error {
				var err error
				wrote, err = r.reindexTx(ctx, tx, d.ID)
				return err
			})
			if errors.Is(err, itsm.ErrNotFound) {
				continue // deleted since the page was read
			}
			if err != nil {
				return n, err
			}
			if wrote {
				n++
			}
		}
		if page.Next == "" {
			return n, nil
		}
		q.Cursor = page.Next
	}
}

// reindexTx rewrites one record when its indexed values are stale.
func (r *Records[T, P]) reindexTx(ctx context.Context, tx Tx, id string) (bool, error) {
	before, err := tx.Get(ctx, r.coll.Kind(), id)
	if err != nil {
		return false, err
	}
	rec, err := r.coll.Decode(before)
	if err != nil {
		return false, err
	}
	if slices.Equal(before.Fields, r.coll.document(rec, before.Data).Fields) {
		return false, nil
	}
	m := rec.Meta()
	now, _, err := r.times(ctx, Command{}, m.UpdatedAt)
	if err != nil {
		return false, err
	}
	ev := itsm.Event{Name: EventReindex, From: m.State, To: m.State}
	return r.write(ctx, tx, rec, before.Data, nil, ev, false, now, m.UpdatedAt, Command{}, nil)
}

// appendValues appends custom values as encoding/json encodes them (keys
// sorted, each value compacted with HTML escapes), reporting false for
// anything it would change or refuse: the codec then leaves the record to
// encoding/json. Values checked by the dictionary always pass.
func appendValues(b []byte, vals itsm.Values) ([]byte, bool) {
	if vals == nil {
		return append(b, "null"...), true
	}
	var buf [16]string
	keys := buf[:0]
	for k := range vals {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		raw := vals[k]
		if !plainName(k) || len(raw) == 0 || !writtenAsIs(raw) || !json.Valid(raw) {
			return b, false
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, '"', ':')
		b = append(b, raw...)
	}
	return append(b, '}'), true
}

// writtenAsIs reports whether encoding/json writes the JSON value raw as it
// is: compact, and without the characters it escapes for HTML.
func writtenAsIs(raw []byte) bool {
	in, esc := false, false
	for i, c := range raw {
		switch {
		case c == '<' || c == '>' || c == '&':
			return false
		case c == 0xE2 && i+2 < len(raw) && raw[i+1] == 0x80 && (raw[i+2] == 0xA8 || raw[i+2] == 0xA9):
			return false
		case in && esc:
			esc = false
		case in && c == '\\':
			esc = true
		case c == '"':
			in = !in
		case !in && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return false
		}
	}
	return true
}

// decodeValues decodes a custom values object as encoding/json would,
// reporting false for what it leaves to encoding/json (escaped keys, JSON
// it would refuse). The values share one copy of raw, each capped so that
// appending to one cannot write over the next.
func decodeValues(raw []byte) (itsm.Values, bool) {
	if string(raw) == "null" {
		return nil, true
	}
	if !json.Valid(raw) || nestsAtLeast(raw, maxMemberDepth) {
		return nil, false
	}
	var buf [16]jsonMember
	members, err := topLevelMembers(raw, buf[:0])
	if err != nil {
		return nil, false
	}
	data := bytes.Clone(raw)
	whole := string(data)
	vals := make(itsm.Values, len(members))
	for _, m := range members {
		if _, ok := plainString(m.key); !ok {
			return nil, false
		}
		ks := int(cap(raw) - cap(m.key)) // offsets into raw, the same in data
		vs := int(cap(raw) - cap(m.value))
		ve := vs + len(m.value)
		vals[whole[ks+1:ks+len(m.key)-1]] = json.RawMessage(data[vs:ve:ve])
	}
	return vals, true
}
