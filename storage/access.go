package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pillars-itsm/pillars/itsm"
)

// This file holds what Collection declares about access to a kind and how
// Records applies it: the audience read rules are expressed on, the
// internal members hidden from actors who may not read them, and the
// actions field edits are authorised as.

// access is a collection's access declaration.
type access struct {
	audience itsm.Audience
	coOwner  []int // field path of audience.CoOwner
	internal []internalMember
	actions  map[string]string   // JSON member -> action its edits are authorised as
	inputs   map[string][]string // lifecycle event -> members its command may set
	owned    []string            // members only the pillar's own commands write (WithOwned)
}

// internalMember is a JSON member declared internal and the path of the
// struct field that holds it.
type internalMember struct {
	name  string
	index []int
}

// WithAudience declares the indexed string fields that say whom a record is
// for (aud.Owner) and which group works it (aud.Group), so that read rules
// (itsm.ReadScoper) become query filters: a caller's list asks the store for
// their own records only. Either name may be empty. Register refuses a name
// that is not a declared string field. It returns the collection for
// chaining.
func (c *Collection[T, P]) WithAudience(aud itsm.Audience) *Collection[T, P] {
	c.access.audience = aud
	c.access.coOwner = nil
	if aud.CoOwner != "" {
		c.access.coOwner = memberIndex(reflect.TypeFor[T](), aud.CoOwner)
	}
	return c
}

// WithInternal declares top-level JSON members of the record as internal
// (an incident's work notes): Records hands them only to actors allowed
// itsm.ActionReadInternal on the record, and blanks them, and their entries
// in history, for everyone else. A member the record type lacks is reported
// by Register. It returns the collection for chaining.
func (c *Collection[T, P]) WithInternal(members ...string) *Collection[T, P] {
	for _, m := range members {
		c.access.internal = append(c.access.internal, internalMember{name: m, index: memberIndex(reflect.TypeFor[T](), m)})
	}
	return c
}

// WithAction declares that edits of the given top-level JSON members are
// authorised as action rather than itsm.ActionUpdate: an incident's
// "comments" as "comment", so a host can let callers comment without
// letting them edit. Records.Change authorises every action the changed
// members name, whatever the command says. It returns the collection for
// chaining.
func (c *Collection[T, P]) WithAction(action string, members ...string) *Collection[T, P] {
	if c.access.actions == nil {
		c.access.actions = map[string]string{}
	}
	for _, m := range members {
		c.access.actions[m] = action
	}
	return c
}

// WithEventInputs declares the top-level JSON members a command may set
// along with the lifecycle event (a resolution code with "resolve", a hold
// reason with "hold"): Records.Fire authorises them as part of the event.
// Any other member the command's edit function changes is authorised as a
// field edit (WithAction, else itsm.ActionUpdate), so an actor allowed an
// event cannot rewrite the record with it. Members the lifecycle's effects
// set need no declaration. It returns the collection for chaining.
func (c *Collection[T, P]) WithEventInputs(event string, members ...string) *Collection[T, P] {
	if c.access.inputs == nil {
		c.access.inputs = map[string][]string{}
	}
	c.access.inputs[event] = append(c.access.inputs[event], members...)
	return c
}

// WithOwned declares top-level JSON members that only the pillar's own
// commands write (a request's approvals, a change's risk): through the
// Public view a host's Create may not set them and its Change and Fire
// edit functions may not change them (itsm.ErrForbidden naming the
// member); the lifecycle's effects still do. It returns the collection for
// chaining.
func (c *Collection[T, P]) WithOwned(members ...string) *Collection[T, P] {
	c.access.owned = append(c.access.owned, members...)
	return c
}

// Public returns the view of the records a pillar hands to hosts: reads,
// lifecycle events and field edits as Records allows them, except that no
// member declared WithOwned is written through it. The pillar keeps the
// Records itself for its own commands.
func (r *Records[T, P]) Public() *Records[T, P] {
	p := *r
	p.public = true
	return &p
}

// checkOwned refuses, on a public view, changes of members the pillar owns;
// on create, an owned member left at its zero value is no change.
func (r *Records[T, P]) checkOwned(ctx context.Context, changes []itsm.FieldChange, create bool) error {
	if !r.public || len(r.coll.access.owned) == 0 {
		return nil
	}
	for _, ch := range changes {
		if !slices.Contains(r.coll.access.owned, ch.Field) || create && jsonZero(ch.To) {
			continue
		}
		actor, _ := itsm.ActorFrom(ctx)
		return &itsm.ForbiddenError{Actor: actor.ID, Kind: r.coll.Kind(), Action: itsm.ActionUpdate,
			Reason: ch.Field + " is written only by the pillar's own commands"}
	}
	return nil
}

// jsonZero reports whether an encoded JSON value is its type's zero: the
// empty string, 0, false, null, an empty array or object, or the zero time.
func jsonZero(v string) bool {
	switch strings.TrimSpace(v) {
	case "", `""`, "0", "false", "null", "[]", "{}", `"0001-01-01T00:00:00Z"`:
		return true
	}
	return false
}

// eventInput reports whether member is declared an input of event.
func (c *Collection[T, P]) eventInput(event, member string) bool {
	return slices.Contains(c.access.inputs[event], member)
}

// Audience returns the collection's audience declaration.
func (c *Collection[T, P]) Audience() itsm.Audience { return c.access.audience }

// checkAccess reports declaration mistakes: an audience field that is not a
// declared string field, an internal member the record type lacks.
func (c *Collection[T, P]) checkAccess() error {
	for _, name := range []string{c.access.audience.Owner, c.access.audience.Group} {
		if name == "" {
			continue
		}
		if fi := c.schema.FieldIndex(name); fi < 0 || c.schema.Fields[fi].Type != TypeString {
			return itsm.Invalidf("%s: audience field %q is not a declared string field", c.schema.Kind, name)
		}
	}
	if c.access.audience.CoOwner != "" && (c.access.coOwner == nil ||
		reflect.TypeFor[T]().FieldByIndex(c.access.coOwner).Type.Kind() != reflect.String) {
		return itsm.Invalidf("%s: audience co-owner %q is not a string JSON member of the record", c.schema.Kind, c.access.audience.CoOwner)
	}
	for _, m := range c.access.internal {
		if m.index == nil {
			return itsm.Invalidf("%s: internal member %q is not a JSON member of the record", c.schema.Kind, m.name)
		}
	}
	return nil
}

// memberIndex returns the field path of the top-level JSON member name of
// struct type t (through embedded structs, as encoding/json promotes them),
// or nil.
func memberIndex(t reflect.Type, name string) []int {
	if t.Kind() != reflect.Struct {
		return nil
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		tagName, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && tagName == "" && f.Type.Kind() == reflect.Struct {
			if sub := memberIndex(f.Type, name); sub != nil {
				return append([]int{i}, sub...)
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if tagName == "" {
			tagName = f.Name
		}
		if tagName == name {
			return []int{i}
		}
	}
	return nil
}

// fieldValue returns the value of the declared field name for rec.
func (c *Collection[T, P]) fieldValue(rec P, name string) (Value, bool) {
	for _, f := range c.fields {
		if f.field.Name == name {
			return f.get((*T)(rec)), true
		}
	}
	return Value{}, false
}

// actionsFor returns the actions a write changing the given members is
// authorised as: each member's declared action, itsm.ActionUpdate for the
// rest, without repeats, in the order first met.
func (c *Collection[T, P]) actionsFor(changes []itsm.FieldChange, skip func(field string) bool) []string {
	var out []string
	for _, ch := range changes {
		if skip != nil && skip(ch.Field) {
			continue
		}
		a, ok := c.access.actions[ch.Field]
		if !ok && strings.HasPrefix(ch.Field, CustomMember+".") {
			a, ok = c.access.actions[CustomMember] // WithAction(action, "custom") covers every custom field
		}
		if !ok {
			a = itsm.ActionUpdate
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// coOwnedBy reports whether a scope on the kind's owner lets the actor read
// rec as its co-owner.
func (c *Collection[T, P]) coOwnedBy(rec P, s itsm.Scope) bool {
	if c.access.coOwner == nil || s.Field != c.access.audience.Owner {
		return false
	}
	return s.Allows(reflect.ValueOf(rec).Elem().FieldByIndex(c.access.coOwner).String())
}

// isInternal reports whether member is declared internal.
func (c *Collection[T, P]) isInternal(member string) bool {
	for _, m := range c.access.internal {
		if m.name == member {
			return true
		}
	}
	return false
}

// redact blanks rec's internal members and removes its internal custom
// values (for the tenant of ctx).
func (c *Collection[T, P]) redact(ctx context.Context, rec P) {
	c.redactCustom(ctx, rec)
	if len(c.access.internal) == 0 {
		return
	}
	v := reflect.ValueOf(rec).Elem()
	for _, m := range c.access.internal {
		v.FieldByIndex(m.index).SetZero()
	}
}

// scope returns what the actor in ctx may read of the kind: an error
// matching itsm.ErrForbidden when there is no actor or no role grants read
// on the kind, otherwise the Authorizer's read scope (every record when it
// has none).
func (r *Records[T, P]) scope(ctx context.Context) (itsm.Scope, error) {
	kind := r.coll.Kind()
	if err := itsm.Authorize(ctx, r.cfg.Authorizer, kind, itsm.ActionRead, nil); err != nil {
		return itsm.Scope{}, err
	}
	sc, ok := r.cfg.Authorizer.(itsm.ReadScoper)
	if !ok {
		return itsm.Scope{All: true}, nil
	}
	actor, _ := itsm.ActorFrom(ctx)
	s, err := sc.ReadScope(ctx, actor, kind, r.coll.access.audience)
	if err != nil {
		return itsm.Scope{}, err
	}
	if !s.All && (s.Field == "" || len(s.Values) == 0) {
		return s, &itsm.ForbiddenError{Actor: actor.ID, Kind: kind, Action: itsm.ActionRead, Reason: "no read scope"}
	}
	return s, nil
}

// readable decides whether the actor in ctx, reading with scope s, may read
// rec, and blanks rec's internal members when the actor may not read them.
// A refusal matches itsm.ErrForbidden.
func (r *Records[T, P]) readable(ctx context.Context, s itsm.Scope, rec P) error {
	if err := r.mayRead(ctx, s, rec); err != nil {
		return err
	}
	if !r.seesInternal(ctx, rec) {
		r.coll.redact(ctx, rec)
	}
	return nil
}

// mayRead decides whether the actor in ctx, reading with scope s, may read
// rec, leaving rec as it is. A refusal matches itsm.ErrForbidden.
func (r *Records[T, P]) mayRead(ctx context.Context, s itsm.Scope, rec P) error {
	kind := r.coll.Kind()
	if !s.All {
		v, _ := r.coll.fieldValue(rec, s.Field)
		if !s.Allows(v.Str()) && !r.coll.coOwnedBy(rec, s) {
			actor, _ := itsm.ActorFrom(ctx)
			return &itsm.ForbiddenError{Actor: actor.ID, Kind: kind, Action: itsm.ActionRead,
				Reason: rec.Meta().Number + " is outside the actor's read scope (" + s.Field + ")"}
		}
	}
	return itsm.Authorize(ctx, r.cfg.Authorizer, kind, itsm.ActionRead, rec)
}

// Readable returns the records of recs the actor in ctx may read, in
// order, with their internal members blanked where the actor may not read
// them: the check Get and Query make, for a pillar that reads documents
// its own way (a queue merged from several index walks) before handing
// records to an actor. It fails, matching itsm.ErrForbidden, only when the
// actor may read none of the kind.
func (r *Records[T, P]) Readable(ctx context.Context, recs []P) ([]P, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("%s: nil context", r.coll.Kind())
	}
	s, err := r.scope(ctx)
	if err != nil {
		return nil, err
	}
	out := recs[:0]
	for _, rec := range recs {
		if rec == nil {
			continue
		}
		switch err := r.readable(ctx, s, rec); {
		case err == nil:
			out = append(out, rec)
		case !errors.Is(err, itsm.ErrForbidden):
			return nil, err
		}
	}
	return out, nil
}

// seesInternal reports whether the actor in ctx may read rec's internal
// members.
func (r *Records[T, P]) seesInternal(ctx context.Context, rec P) bool {
	return !r.coll.hasInternal(ctx) ||
		itsm.Authorize(ctx, r.cfg.Authorizer, r.coll.Kind(), itsm.ActionReadInternal, rec) == nil
}

// scoped returns q with the scope's filter added.
func scoped(q Query, s itsm.Scope) Query {
	if s.All {
		return q
	}
	vals := make([]Value, len(s.Values))
	for i, v := range s.Values {
		vals[i] = String(v)
	}
	f := In(s.Field, vals...)
	if len(vals) == 1 {
		f = Eq(s.Field, vals[0])
	}
	q.Filters = append(slices.Clip(q.Filters), f)
	return q
}

// validText reports whether every string reachable from v (fields, slice
// and map elements, map keys) is valid UTF-8 without NUL (which no SQL
// store keeps in text: PostgreSQL's jsonb refuses \u0000), and if not, the
// JSON path of the first that is not.
func validText(v reflect.Value) (string, bool) {
	if v.Type() == valuesType {
		// Custom values, walked without reflection: names and JSON text
		// without NUL, raw or escaped (the dictionary checks the rest).
		for k, raw := range v.Interface().(itsm.Values) {
			if !utf8.ValidString(k) || strings.IndexByte(k, 0) >= 0 || !utf8.Valid(raw) ||
				bytes.IndexByte(raw, 0) >= 0 || bytes.Contains(raw, []byte(`\u0000`)) {
				return k, false
			}
		}
		return "", true
	}
	switch v.Kind() {
	case reflect.String:
		return "", utf8.ValidString(v.String()) && strings.IndexByte(v.String(), 0) < 0
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return "", true
		}
		return validText(v.Elem())
	case reflect.Struct:
		t := v.Type()
		for i := range v.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			if path, ok := validText(v.Field(i)); !ok {
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if f.Anonymous && name == "" {
					return path, false
				}
				if name == "" {
					name = f.Name
				}
				return joinPath(name, path), false
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return "", true // []byte is base64 in JSON
		}
		for i := range v.Len() {
			if path, ok := validText(v.Index(i)); !ok {
				return joinPath(strconv.Itoa(i), path), false
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if path, ok := validText(it.Key()); !ok {
				return path, false
			}
			if path, ok := validText(it.Value()); !ok {
				return joinPath(fmt.Sprint(it.Key().Interface()), path), false
			}
		}
	}
	return "", true
}

func joinPath(a, b string) string {
	if b == "" {
		return a
	}
	return a + "." + b
}
