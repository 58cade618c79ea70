package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// Subscription says which events a receiver wants: every non-empty list
// narrows it (a list matches when the event's value is one of its
// entries), and every condition of Where must hold. The zero Subscription
// with a Name wants every event of every tenant.
//
// A subscription belongs to an actor: the events that actor caused are
// never handed to it (a receiver that writes back through the pillars does
// not hear its own echo), and the deliveries built on it (webhooks) read
// records as that actor, so the receiver sees what the actor may read.
//
// It is plain data (it marshals to JSON), so a host may keep its
// subscriptions in its own configuration; Compile checks it against the
// kinds the host declares.
type Subscription struct {
	// Name names the subscription and the consumer that runs it (its
	// checkpoint and lease): a lower-case identifier (a-z, 0-9, _), at
	// most 63 characters. Each subscription runs as its own consumer, so
	// a slow receiver never holds another, and events keep their order
	// per subscription.
	Name string `json:"name"`
	// Actor is who the subscription acts as. Events with Actor.ID as their
	// actor are skipped; an empty ID skips nothing.
	Actor itsm.Actor `json:"actor"`
	// Tenants the subscription hears; empty: every tenant.
	Tenants []string `json:"tenants,omitempty"`
	// Kinds of record (incident, problem, ...); empty: every kind in the
	// catalogue given to Compile.
	Kinds []string `json:"kinds,omitempty"`
	// Events names lifecycle events (assign, resolve) or "create" and
	// "update"; empty: every event.
	Events []string `json:"events,omitempty"`
	// Changed lists fields of which at least one must have changed in the
	// event; empty: no such requirement.
	Changed []string `json:"changed,omitempty"`
	// Where holds conditions on the record after the change; all must
	// hold.
	Where []Condition `json:"where,omitempty"`
}

// Op is a comparison of a Condition.
type Op string

// The operators of a Condition. Values compare as JSON values: numbers as
// numbers, strings byte-wise (times as the RFC 3339 text the records hold),
// booleans and null by equality.
const (
	OpEq      Op = "eq"      // the field equals Value
	OpNe      Op = "ne"      // the field does not equal Value
	OpIn      Op = "in"      // the field equals one of Value (a non-empty list)
	OpNotIn   Op = "not_in"  // the field equals none of Value (a non-empty list)
	OpLt      Op = "lt"      // the field is below Value (a number or a string)
	OpLte     Op = "lte"     // the field is at most Value
	OpGt      Op = "gt"      // the field is above Value
	OpGte     Op = "gte"     // the field is at least Value
	OpBecame  Op = "became"  // the field changed in this event and now equals Value
	OpChanged Op = "changed" // the field changed in this event (no Value)
)

var ops = []Op{OpEq, OpNe, OpIn, OpNotIn, OpLt, OpLte, OpGt, OpGte, OpBecame, OpChanged}

// Condition is one test on the record as it stood right after the event:
// {"field": "priority", "op": "eq", "value": 1} or {"field": "state",
// "op": "became", "value": "resolved"}. Field is a top-level JSON member of
// the record. A member the record does not hold (omitted when empty) reads
// as JSON null.
type Condition struct {
	Field string `json:"field"`
	Op    Op     `json:"op"`
	Value any    `json:"value,omitempty"`
}

// Kinds is the catalogue of record kinds a subscription may name: for each
// kind, the top-level JSON members of its records that Changed and Where
// may name. FieldsOf lists them from a record struct.
type Kinds map[string][]string

// FieldsOf lists the top-level JSON member names of a record struct (or a
// pointer to one), embedded structs flattened, as encoding/json writes
// them, sorted. It gives Kinds its entries:
//
//	stream.Kinds{operation.KindIncident: stream.FieldsOf(operation.Incident{})}
func FieldsOf(v any) []string {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	seen := map[string]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			name, _, _ := strings.Cut(tag, ",")
			if name == "-" && !strings.HasPrefix(tag, "-,") {
				continue
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
				walk(ft)
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			seen[name] = true
		}
	}
	walk(t)
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Filter is a compiled Subscription: it decides which events its receiver
// gets. It is safe for concurrent use.
type Filter struct {
	sub     Subscription
	tenants map[string]bool
	kinds   map[string]bool
	events  map[string]bool
	changed []string
	where   []compiled
}

type compiled struct {
	field string
	op    Op
	value any   // JSON form (float64, string, bool, nil)
	list  []any // OpIn, OpNotIn
}

// Compile checks the subscription against the catalogue and returns its
// Filter. A bad subscription is an error matching itsm.ErrInvalid naming
// what is wrong: an invalid name or tenant, a kind the catalogue does not
// hold, a field none of the subscription's kinds has, an unknown operator,
// or a value the operator cannot use.
func (s Subscription) Compile(kinds Kinds) (*Filter, error) {
	if !storage.ValidName(s.Name) {
		return nil, itsm.Invalidf("subscription %q: the name must be a lower-case identifier (a-z, 0-9, _; at most 63 characters, starting with a letter)", s.Name)
	}
	if len(kinds) == 0 {
		return nil, itsm.Invalidf("subscription %s: no kinds declared (stream.Kinds)", s.Name)
	}
	f := &Filter{sub: s, changed: slices.Clone(s.Changed)}
	if len(s.Tenants) > 0 {
		f.tenants = map[string]bool{}
		for _, t := range s.Tenants {
			if err := itsm.CheckTenant(t); err != nil {
				return nil, fmt.Errorf("subscription %s: %w", s.Name, err)
			}
			f.tenants[t] = true
		}
	}
	names := s.Kinds
	if len(names) == 0 {
		for k := range kinds {
			names = append(names, k)
		}
	}
	f.kinds = map[string]bool{}
	fields := map[string]bool{} // members of any of the subscription's kinds
	for _, k := range names {
		members, ok := kinds[k]
		if !ok {
			known := make([]string, 0, len(kinds))
			for k := range kinds {
				known = append(known, k)
			}
			sort.Strings(known)
			return nil, itsm.Invalidf("subscription %s: unknown kind %q (known: %s)", s.Name, k, strings.Join(known, ", "))
		}
		f.kinds[k] = true
		for _, m := range members {
			fields[m] = true
		}
	}
	if len(s.Events) > 0 {
		f.events = map[string]bool{}
		for _, e := range s.Events {
			if e == "" || len(e) > 63 {
				return nil, itsm.Invalidf("subscription %s: event name %q must be 1 to 63 characters", s.Name, e)
			}
			f.events[e] = true
		}
	}
	field := func(what, name string) error {
		if !fields[name] {
			return itsm.Invalidf("subscription %s: %s names unknown field %q (not a member of %s)", s.Name, what, name, strings.Join(sortedKeys(f.kinds), ", "))
		}
		return nil
	}
	for _, c := range s.Changed {
		if err := field("changed", c); err != nil {
			return nil, err
		}
	}
	for i, c := range s.Where {
		if err := field(fmt.Sprintf("condition %d", i), c.Field); err != nil {
			return nil, err
		}
		cc, err := compile(c)
		if err != nil {
			return nil, itsm.Invalidf("subscription %s: condition %d (%s %s): %v", s.Name, i, c.Field, c.Op, err)
		}
		f.where = append(f.where, cc)
	}
	return f, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// compile checks a condition's operator and value and turns the value into
// its JSON form.
func compile(c Condition) (compiled, error) {
	if !slices.Contains(ops, c.Op) {
		names := make([]string, len(ops))
		for i, o := range ops {
			names[i] = string(o)
		}
		return compiled{}, fmt.Errorf("unknown operator %q (known: %s)", c.Op, strings.Join(names, ", "))
	}
	cc := compiled{field: c.Field, op: c.Op}
	v, err := jsonValue(c.Value)
	if err != nil {
		return compiled{}, err
	}
	switch c.Op {
	case OpChanged:
		if v != nil {
			return compiled{}, errors.New("takes no value")
		}
	case OpIn, OpNotIn:
		list, ok := v.([]any)
		if !ok || len(list) == 0 {
			return compiled{}, errors.New("needs a non-empty list of values")
		}
		for _, x := range list {
			if !scalar(x) {
				return compiled{}, fmt.Errorf("list entry %v is not a string, number, boolean or null", x)
			}
		}
		cc.list = list
	case OpLt, OpLte, OpGt, OpGte:
		switch v.(type) {
		case float64, string:
		default:
			return compiled{}, fmt.Errorf("needs a number or a string, not %v", c.Value)
		}
	default:
		if !scalar(v) {
			return compiled{}, fmt.Errorf("needs a string, number, boolean or null, not %v", c.Value)
		}
	}
	cc.value = v
	return cc, nil
}

func scalar(v any) bool {
	switch v.(type) {
	case nil, string, float64, bool:
		return true
	}
	return false
}

// jsonValue turns a Go value into what encoding/json decodes its JSON into.
func jsonValue(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("value %v is not JSON: %v", v, err)
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Subscription returns the subscription the filter was compiled from.
func (f *Filter) Subscription() Subscription { return f.sub }

// Kinds returns the kinds the filter passes, sorted.
func (f *Filter) Kinds() []string { return sortedKeys(f.kinds) }

// quick decides what the event alone decides: tenant, kind, event name,
// actor and changed fields.
func (f *Filter) quick(ev itsm.Event) bool {
	if f.tenants != nil && !f.tenants[tenantOf(ev)] {
		return false
	}
	if !f.kinds[ev.Kind] || (f.events != nil && !f.events[ev.Name]) {
		return false
	}
	if f.sub.Actor.ID != "" && ev.Actor == f.sub.Actor.ID {
		return false
	}
	if len(f.changed) > 0 && !slices.ContainsFunc(f.changed, func(field string) bool { return changed(ev, field) }) {
		return false
	}
	return true
}

func tenantOf(ev itsm.Event) string {
	if ev.Tenant == "" {
		return itsm.DefaultTenant
	}
	return ev.Tenant
}

// changed reports whether the event changed field.
func changed(ev itsm.Event, field string) bool {
	if field == "state" && ev.From != ev.To {
		return true
	}
	return slices.ContainsFunc(ev.Changes, func(c itsm.FieldChange) bool { return c.Field == field })
}

// Match reports whether the event is one the subscription wants. When the
// subscription has conditions, it reads the record from b (under the
// event's tenant) and rolls it back to the event's version with the
// record's later events, so a condition sees the record as it stood right
// after the event even when it has moved on since. Appended journal
// members (comments) are read as they are now. A record that no longer
// exists matches no condition.
//
// The read is the host's own (the raw Backend): conditions may name
// fields the subscription's actor may not read; what the receiver gets is
// decided by the delivery (see Reader).
func (f *Filter) Match(ctx context.Context, b storage.Backend, ev itsm.Event) (bool, error) {
	if !f.quick(ev) {
		return false, nil
	}
	if len(f.where) == 0 {
		return true, nil
	}
	if ctx == nil || b == nil {
		return false, itsm.Invalidf("subscription %s: context and backend are required", f.sub.Name)
	}
	var rec map[string]json.RawMessage
	needRecord := slices.ContainsFunc(f.where, func(c compiled) bool { return c.op != OpChanged })
	if needRecord {
		var err error
		if rec, err = RecordAt(ctx, b, ev); err != nil {
			if errors.Is(err, itsm.ErrNotFound) {
				return false, nil
			}
			return false, err
		}
	}
	for _, c := range f.where {
		ok, err := c.holds(ev, rec)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func (c compiled) holds(ev itsm.Event, rec map[string]json.RawMessage) (bool, error) {
	if c.op == OpChanged {
		return changed(ev, c.field), nil
	}
	var v any
	if raw, ok := rec[c.field]; ok {
		if err := json.Unmarshal(raw, &v); err != nil {
			return false, fmt.Errorf("%s %s: member %q: %w", ev.Kind, ev.RecordID, c.field, err)
		}
	}
	switch c.op {
	case OpEq:
		return equal(v, c.value), nil
	case OpNe:
		return !equal(v, c.value), nil
	case OpIn:
		return slices.ContainsFunc(c.list, func(x any) bool { return equal(v, x) }), nil
	case OpNotIn:
		return !slices.ContainsFunc(c.list, func(x any) bool { return equal(v, x) }), nil
	case OpBecame:
		return changed(ev, c.field) && equal(v, c.value), nil
	}
	n, ok := compare(v, c.value)
	if !ok {
		return false, nil
	}
	switch c.op {
	case OpLt:
		return n < 0, nil
	case OpLte:
		return n <= 0, nil
	case OpGt:
		return n > 0, nil
	default:
		return n >= 0, nil
	}
}

func equal(a, b any) bool {
	if !scalar(a) {
		return false // lists and objects equal no condition value
	}
	return a == b
}

// compare orders two numbers or two strings; other pairs do not compare.
func compare(a, b any) (int, bool) {
	switch x := a.(type) {
	case float64:
		if y, ok := b.(float64); ok {
			switch {
			case x < y:
				return -1, true
			case x > y:
				return 1, true
			}
			return 0, true
		}
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(x, y), true
		}
	}
	return 0, false
}

// RecordAt returns the top-level JSON members of the event's record as it
// stood right after the event: the stored record, with the changes of its
// later events rolled back (appended journal members stay as they are
// now). It reads under the event's tenant. A record that no longer exists
// is an error matching itsm.ErrNotFound.
func RecordAt(ctx context.Context, b storage.Backend, ev itsm.Event) (map[string]json.RawMessage, error) {
	tctx := itsm.WithTenant(ctx, tenantOf(ev))
	doc, err := b.Get(tctx, ev.Kind, ev.RecordID)
	if err != nil {
		return nil, err
	}
	rec := map[string]json.RawMessage{}
	if err := json.Unmarshal(doc.Data, &rec); err != nil {
		return nil, fmt.Errorf("%s %s: %w", ev.Kind, ev.RecordID, err)
	}
	if doc.Version <= ev.RecordVersion {
		return rec, nil
	}
	hist, err := b.History(tctx, ev.Kind, ev.RecordID)
	if err != nil {
		return nil, err
	}
	for i := len(hist) - 1; i >= 0 && hist[i].RecordVersion > ev.RecordVersion; i-- {
		for _, c := range hist[i].Changes {
			switch {
			case c.Appended:
			case c.From == "":
				delete(rec, c.Field)
			default:
				rec[c.Field] = json.RawMessage(c.From)
			}
		}
	}
	return rec, nil
}

// Handler returns a Handler that hands next the events of each batch the
// filter matches, in order, and acknowledges a batch with none without
// calling next. b is the store conditions read records from.
func (f *Filter) Handler(b storage.Backend, next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, events []itsm.Event) error {
		if next == nil {
			return itsm.Invalidf("subscription %s: no handler", f.sub.Name)
		}
		var out []itsm.Event
		for _, ev := range events {
			ok, err := f.Match(ctx, b, ev)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, ev)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return next.Handle(ctx, out)
	})
}

// Subscribe runs the subscription as its own consumer: the consumer's
// Name is the subscription's, its Handler the subscription's filter in
// front of h, and the rest of cfg (batch, poll, lease, tenant) as given.
// Each subscription keeps its own checkpoint, so a slow receiver holds no
// other and events keep their Seq order per subscription. The consumer
// does nothing until it is started (Start) or driven (RunOnce).
func Subscribe(ctx context.Context, b storage.Backend, sub Subscription, kinds Kinds, h Handler, cfg ConsumerConfig) (*Consumer, error) {
	f, err := sub.Compile(kinds)
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, itsm.Invalidf("subscription %s: a handler is required", sub.Name)
	}
	if cfg.TxHandler != nil || cfg.Handler != nil {
		return nil, itsm.Invalidf("subscription %s: the consumer's handler is the subscription's; leave ConsumerConfig.Handler and TxHandler unset", sub.Name)
	}
	cfg.Name, cfg.Handler = sub.Name, f.Handler(b, h)
	return NewConsumer(ctx, b, cfg)
}
