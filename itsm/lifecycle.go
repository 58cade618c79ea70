package itsm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/looplab/fsm"
)

// Transition describes one lifecycle event applied to a record. Guards and
// effects receive it; Machine.Decide fills To.
type Transition struct {
	Event  string
	From   string
	To     string
	Actor  Actor
	At     time.Time // occurrence time (backdated on import)
	Reason string    // the reason the actor gave, if any
	Import bool      // true when the command carries a backdated time
	// Strict asks a backdated import to obey the policies measured from
	// now (a reopen window) as a live command does; without it, history is
	// fact and such guards let an import row through.
	Strict bool
}

// Live reports whether the transition must obey policies measured from now:
// a live command, or an import that asked to be strict.
func (tr Transition) Live() bool { return !tr.Import || tr.Strict }

// Guard decides whether a transition may happen for a record. It returns nil
// to allow, or an error whose message is the reason a person reads. Guards
// run before anything is written and must not change the record. Decide
// wraps the error in a *TransitionError that keeps it: a guard refusing
// for a missing field returns a *ValidationError naming the field, and the
// refusal then matches both ErrInvalidTransition and ErrInvalid.
type Guard[T any] func(ctx context.Context, rec T, tr Transition) error

// NeedsReason returns a guard that refuses the transition unless the command
// gives a reason that is not blank. The refusal is a *ValidationError on the
// field "reason" whose problem is message ("canceling a change needs a
// reason"), so every pillar refuses a missing reason with the same error.
func NeedsReason[T any](message string) Guard[T] {
	return func(_ context.Context, _ T, tr Transition) error {
		if strings.TrimSpace(tr.Reason) == "" {
			return (&ValidationError{}).Add("reason", message)
		}
		return nil
	}
}

// Effect runs after a transition was decided and the record's state set,
// inside the same unit of work: it may change the record (set timestamps,
// clear an assignee) and its error aborts the whole unit. Work that must
// happen after commit (notifications) belongs to consumers of the event log.
type Effect[T any] func(ctx context.Context, rec T, tr Transition) error

type named[F any] struct {
	name string
	fn   F
}

type edge struct {
	event, from, to string
}

// Lifecycle declares the states and events of a record kind. Build it with
// the chained methods, let a host extend it (more states, events, guards,
// effects), then Compile it once at start-up. A Lifecycle is a builder: it
// is not safe for concurrent use, and Clone gives an independent copy to
// extend. Mistakes are collected and reported by Compile; no method panics.
type Lifecycle[T any] struct {
	kind    string
	initial string
	states  []string
	final   map[string]bool
	unfinal map[string]bool
	edges   []edge
	guards  map[string][]named[Guard[T]]
	effects map[string][]named[Effect[T]]
	errs    []string
}

// NewLifecycle starts a definition for the record kind.
func NewLifecycle[T any](kind string) *Lifecycle[T] {
	return &Lifecycle[T]{
		kind:    kind,
		final:   map[string]bool{},
		unfinal: map[string]bool{},
		guards:  map[string][]named[Guard[T]]{},
		effects: map[string][]named[Effect[T]]{},
	}
}

// Clone returns an independent copy, so a host can extend a pillar's default
// definition without changing it.
func (l *Lifecycle[T]) Clone() *Lifecycle[T] {
	c := &Lifecycle[T]{
		kind:    l.kind,
		initial: l.initial,
		states:  slices.Clone(l.states),
		final:   map[string]bool{},
		unfinal: map[string]bool{},
		edges:   slices.Clone(l.edges),
		guards:  map[string][]named[Guard[T]]{},
		effects: map[string][]named[Effect[T]]{},
		errs:    slices.Clone(l.errs),
	}
	for k, v := range l.final {
		c.final[k] = v
	}
	for k, v := range l.unfinal {
		c.unfinal[k] = v
	}
	for k, v := range l.guards {
		c.guards[k] = slices.Clone(v)
	}
	for k, v := range l.effects {
		c.effects[k] = slices.Clone(v)
	}
	return c
}

// Kind returns the record kind the lifecycle is for.
func (l *Lifecycle[T]) Kind() string { return l.kind }

// Initial declares the state new records start in (and declares the state).
func (l *Lifecycle[T]) Initial(state string) *Lifecycle[T] {
	if l.initial != "" && l.initial != state {
		l.errs = append(l.errs, fmt.Sprintf("initial state declared twice: %q and %q", l.initial, state))
	}
	l.initial = state
	return l.States(state)
}

// States declares states. Declaring a state again is harmless.
func (l *Lifecycle[T]) States(states ...string) *Lifecycle[T] {
	for _, s := range states {
		if !slices.Contains(l.states, s) {
			l.states = append(l.states, s)
		}
	}
	return l
}

// Final declares states that end the lifecycle (and declares them). Final
// states may have no outgoing events; every other state must have one.
func (l *Lifecycle[T]) Final(states ...string) *Lifecycle[T] {
	for _, s := range states {
		l.final[s] = true
	}
	return l.States(states...)
}

// NotFinal makes states that an earlier Final declared final ordinary
// states again, so a host can add events out of them (reopening a closed
// incident). Compile refuses a state named here that is not declared, and
// a state that is then neither final nor left by any event.
func (l *Lifecycle[T]) NotFinal(states ...string) *Lifecycle[T] {
	for _, s := range states {
		delete(l.final, s)
		l.unfinal[s] = true
	}
	return l
}

// Event permits the event from each of the source states to the destination
// state. An event name may be declared several times with different sources
// (and destinations); the same event from the same source twice is an error.
func (l *Lifecycle[T]) Event(name, to string, from ...string) *Lifecycle[T] {
	if len(from) == 0 {
		l.errs = append(l.errs, fmt.Sprintf("event %q: no source states", name))
	}
	for _, f := range from {
		l.edges = append(l.edges, edge{event: name, from: f, to: to})
	}
	return l
}

// Invalid records a problem found while building the definition (a bad
// policy the builder was given), which Compile reports with the others, so
// a builder function needs no error return of its own.
func (l *Lifecycle[T]) Invalid(problem string) *Lifecycle[T] {
	l.errs = append(l.errs, problem)
	return l
}

// Guard adds a named guard to the event; guards run in the order added, and
// the first refusal wins. The name appears in refusals and diagrams.
func (l *Lifecycle[T]) Guard(event, name string, g Guard[T]) *Lifecycle[T] {
	if g == nil {
		l.errs = append(l.errs, fmt.Sprintf("guard %q on event %q is nil", name, event))
		return l
	}
	l.guards[event] = append(l.guards[event], named[Guard[T]]{name, g})
	return l
}

// GuardFrom adds to event the guard named name that event from already
// has, so a host reuses a default guard by name on an event of its own
// instead of copying its code. Compile reports a name from does not have.
func (l *Lifecycle[T]) GuardFrom(event, from, name string) *Lifecycle[T] {
	if !reuse(l.guards, event, from, name) {
		l.errs = append(l.errs, fmt.Sprintf("guard %q: event %q has no guard of that name to reuse on %q", name, from, event))
	}
	return l
}

// EffectFrom adds to event the effect named name that event from already
// has, as GuardFrom does for guards.
func (l *Lifecycle[T]) EffectFrom(event, from, name string) *Lifecycle[T] {
	if !reuse(l.effects, event, from, name) {
		l.errs = append(l.errs, fmt.Sprintf("effect %q: event %q has no effect of that name to reuse on %q", name, from, event))
	}
	return l
}

// reuse appends to event the function named name that event from has, and
// reports whether from had one.
func reuse[F any](byEvent map[string][]named[F], event, from, name string) bool {
	for _, f := range byEvent[from] {
		if f.name == name {
			byEvent[event] = append(byEvent[event], f)
			return true
		}
	}
	return false
}

// Effect adds a named effect to the event; effects run in the order added.
func (l *Lifecycle[T]) Effect(event, name string, e Effect[T]) *Lifecycle[T] {
	if e == nil {
		l.errs = append(l.errs, fmt.Sprintf("effect %q on event %q is nil", name, event))
		return l
	}
	l.effects[event] = append(l.effects[event], named[Effect[T]]{name, e})
	return l
}

// DefinitionError lists every problem Compile found in a lifecycle, each
// naming the culprit. It matches ErrInvalid.
type DefinitionError struct {
	Kind     string
	Problems []string
}

func (e *DefinitionError) Error() string {
	return fmt.Sprintf("lifecycle %s: %s", e.Kind, strings.Join(e.Problems, "; "))
}

// Is makes a DefinitionError match ErrInvalid.
func (e *DefinitionError) Is(target error) bool { return target == ErrInvalid }

// Machine is a compiled, immutable lifecycle shared by every record of its
// kind. A record holds only its state string; a decision is a lookup in a
// table of (event, state) -> state plus the event's guards, with no
// allocation on success. It is safe for concurrent use.
type Machine[T any] struct {
	kind      string
	initial   string
	states    []string
	stateIdx  map[string]int
	final     []bool
	events    []string
	eventIdx  map[string]int
	table     []int32 // events x states -> destination state index, -1 when not allowed
	guards    [][]named[Guard[T]]
	effects   [][]named[Effect[T]]
	edges     []edge
	prototype *fsm.FSM
}

// Compile validates the definition and builds its Machine. It reports, in
// one *DefinitionError, every problem: invalid names, no initial state,
// events naming unknown states, the same event declared twice from one
// state, guards or effects on unknown events, states unreachable from the
// initial state, non-final states with no way out, and final states with
// outgoing events.
func (l *Lifecycle[T]) Compile() (*Machine[T], error) {
	probs := slices.Clone(l.errs)
	add := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	if !validName(l.kind) {
		add("kind %q is not a lower-case identifier", l.kind)
	}
	if l.initial == "" {
		add("no initial state")
	}
	m := &Machine[T]{
		kind: l.kind, initial: l.initial,
		states: slices.Clone(l.states), stateIdx: map[string]int{},
		eventIdx: map[string]int{}, edges: slices.Clone(l.edges),
	}
	for _, s := range sortedKeys(l.unfinal) {
		if !slices.Contains(l.states, s) {
			add("NotFinal names undeclared state %q", s)
		}
	}
	for i, s := range m.states {
		if !validName(s) {
			add("state %q is not a lower-case identifier", s)
		}
		m.stateIdx[s] = i
		m.final = append(m.final, l.final[s])
	}
	for _, e := range l.edges {
		if _, ok := m.eventIdx[e.event]; !ok {
			if !validName(e.event) {
				add("event %q is not a lower-case identifier", e.event)
			}
			m.eventIdx[e.event] = len(m.events)
			m.events = append(m.events, e.event)
		}
	}
	m.table = make([]int32, len(m.events)*len(m.states))
	for i := range m.table {
		m.table[i] = -1
	}
	leaves := make([]bool, len(m.states))
	for _, e := range l.edges {
		fi, okF := m.stateIdx[e.from]
		ti, okT := m.stateIdx[e.to]
		if !okF {
			add("event %q: unknown source state %q", e.event, e.from)
		}
		if !okT {
			add("event %q: unknown destination state %q", e.event, e.to)
		}
		if !okF || !okT {
			continue
		}
		cell := &m.table[m.eventIdx[e.event]*len(m.states)+fi]
		if *cell >= 0 {
			add("event %q declared twice from state %q", e.event, e.from)
			continue
		}
		*cell = int32(ti)
		if fi != ti {
			leaves[fi] = true
		}
		if l.final[e.from] {
			add("final state %q has outgoing event %q", e.from, e.event)
		}
	}
	m.guards = make([][]named[Guard[T]], len(m.events))
	m.effects = make([][]named[Effect[T]], len(m.events))
	for _, ev := range sortedKeys(l.guards) {
		i, ok := m.eventIdx[ev]
		if !ok {
			add("guard on unknown event %q", ev)
			continue
		}
		for _, g := range l.guards[ev] {
			if !validName(g.name) {
				add("guard %q on event %q: name is not a lower-case identifier", g.name, ev)
			}
		}
		m.guards[i] = slices.Clone(l.guards[ev])
	}
	for _, ev := range sortedKeys(l.effects) {
		i, ok := m.eventIdx[ev]
		if !ok {
			add("effect on unknown event %q", ev)
			continue
		}
		m.effects[i] = slices.Clone(l.effects[ev])
	}
	if start, ok := m.stateIdx[l.initial]; ok {
		reached := m.reachable(start)
		for i, s := range m.states {
			if !reached[i] {
				add("state %q is unreachable from initial state %q", s, l.initial)
			}
		}
	}
	for i, s := range m.states {
		if !leaves[i] && !m.final[i] {
			add("state %q is a dead end: no event leaves it and it is not final", s)
		}
	}
	if len(probs) > 0 {
		return nil, &DefinitionError{Kind: l.kind, Problems: probs}
	}
	m.prototype = fsm.NewFSM(m.initial, m.fsmEvents(), nil)
	return m, nil
}

func (m *Machine[T]) reachable(start int) []bool {
	seen := make([]bool, len(m.states))
	seen[start] = true
	queue := []int{start}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for ev := range m.events {
			if to := m.table[ev*len(m.states)+s]; to >= 0 && !seen[to] {
				seen[to] = true
				queue = append(queue, int(to))
			}
		}
	}
	return seen
}

func (m *Machine[T]) fsmEvents() fsm.Events {
	var evs fsm.Events
	for _, e := range m.edges {
		evs = append(evs, fsm.EventDesc{Name: e.event, Src: []string{e.from}, Dst: e.to})
	}
	return evs
}

func sortedKeys[V any](mp map[string]V) []string {
	keys := make([]string, 0, len(mp))
	for k := range mp {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func validName(s string) bool {
	if s == "" || len(s) > 63 || s[0] < 'a' || s[0] > 'z' {
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

// Kind returns the record kind of the machine.
func (m *Machine[T]) Kind() string { return m.kind }

// Initial returns the state new records start in.
func (m *Machine[T]) Initial() string { return m.initial }

// States returns the declared states in declaration order.
func (m *Machine[T]) States() []string { return slices.Clone(m.states) }

// Events returns the declared event names in declaration order.
func (m *Machine[T]) Events() []string { return slices.Clone(m.events) }

// HasState reports whether the state is declared.
func (m *Machine[T]) HasState(state string) bool { _, ok := m.stateIdx[state]; return ok }

// IsFinal reports whether the state is final.
func (m *Machine[T]) IsFinal(state string) bool {
	i, ok := m.stateIdx[state]
	return ok && m.final[i]
}

// CheckState returns nil when a stored record's state is one the machine
// knows, and a *TransitionError otherwise. It is what "preparing a record for
// its lifecycle" costs: one map lookup, no allocation on success.
func (m *Machine[T]) CheckState(state string) error {
	if _, ok := m.stateIdx[state]; !ok {
		return &TransitionError{Kind: m.kind, From: state, Reason: "unknown state"}
	}
	return nil
}

// Target returns the state the event leads to from state, ignoring guards,
// and whether the event is allowed there at all.
func (m *Machine[T]) Target(state, event string) (string, bool) {
	si, ok := m.stateIdx[state]
	if !ok {
		return "", false
	}
	ei, ok := m.eventIdx[event]
	if !ok {
		return "", false
	}
	to := m.table[ei*len(m.states)+si]
	if to < 0 {
		return "", false
	}
	return m.states[to], true
}

// Available returns the events allowed from state, ignoring guards, in
// declaration order: what a user interface offers as buttons.
func (m *Machine[T]) Available(state string) []string {
	var out []string
	for _, ev := range m.events {
		if _, ok := m.Target(state, ev); ok {
			out = append(out, ev)
		}
	}
	return out
}

// Decide applies tr.Event to a record in state tr.From: it checks that the
// event is declared and allowed from that state, runs the event's guards in
// order, and returns tr with To set. A refusal is a *TransitionError
// matching ErrInvalidTransition, naming the guard and its reason and
// wrapping the guard's own error (reach it with errors.As). Decide
// changes nothing; it allocates only when it refuses.
func (m *Machine[T]) Decide(ctx context.Context, rec T, tr Transition) (Transition, error) {
	si, ok := m.stateIdx[tr.From]
	if !ok {
		return tr, &TransitionError{Kind: m.kind, From: tr.From, Event: tr.Event, Reason: "unknown state"}
	}
	ei, ok := m.eventIdx[tr.Event]
	if !ok {
		return tr, &TransitionError{Kind: m.kind, From: tr.From, Event: tr.Event, Reason: "unknown event"}
	}
	to := m.table[ei*len(m.states)+si]
	if to < 0 {
		return tr, &TransitionError{Kind: m.kind, From: tr.From, Event: tr.Event,
			Reason: "not allowed from this state (allowed: " + strings.Join(m.Available(tr.From), ", ") + ")"}
	}
	tr.To = m.states[to]
	for _, g := range m.guards[ei] {
		if err := g.fn(ctx, rec, tr); err != nil {
			return tr, &TransitionError{Kind: m.kind, From: tr.From, Event: tr.Event, Guard: g.name, Reason: guardReason(err), Err: err}
		}
	}
	return tr, nil
}

// guardReason is the text of a guard's refusal: a problem with one field
// that names no record kind (NeedsReason's) reads as its problem alone.
func guardReason(err error) string {
	var ve *ValidationError
	if errors.As(err, &ve) && ve.Kind == "" && len(ve.Fields) == 1 {
		for _, problem := range ve.Fields {
			return problem
		}
	}
	return err.Error()
}

// RunEffects runs the effects of tr.Event on the record, in order, stopping
// at the first error, which it returns naming the effect.
func (m *Machine[T]) RunEffects(ctx context.Context, rec T, tr Transition) error {
	ei, ok := m.eventIdx[tr.Event]
	if !ok {
		return nil
	}
	for _, e := range m.effects[ei] {
		if err := e.fn(ctx, rec, tr); err != nil {
			return fmt.Errorf("%s effect %s on %s: %w", m.kind, e.name, tr.Event, err)
		}
	}
	return nil
}

// Mermaid renders the lifecycle as a Mermaid state diagram: the initial
// state marked from [*], final states leading to [*], each edge labelled
// with its event and, in brackets, the names of its guards.
func (m *Machine[T]) Mermaid() string {
	var b strings.Builder
	b.WriteString("stateDiagram-v2\n")
	fmt.Fprintf(&b, "    [*] --> %s\n", m.initial)
	for _, e := range m.edges {
		label := e.event
		if gs := m.guards[m.eventIdx[e.event]]; len(gs) > 0 {
			names := make([]string, len(gs))
			for i, g := range gs {
				names[i] = g.name
			}
			label += " [" + strings.Join(names, ", ") + "]"
		}
		fmt.Fprintf(&b, "    %s --> %s: %s\n", e.from, e.to, label)
	}
	for i, s := range m.states {
		if m.final[i] {
			fmt.Fprintf(&b, "    %s --> [*]\n", s)
		}
	}
	return b.String()
}

// Graphviz renders the lifecycle in Graphviz dot form through looplab/fsm's
// visualizer.
func (m *Machine[T]) Graphviz() string {
	return fsm.Visualize(m.prototype)
}

// FSM returns a new looplab/fsm machine standing in state with the
// definition's events and no callbacks, for hosts that want fsm's own tools.
// The result is independent of the Machine.
func (m *Machine[T]) FSM(state string) *fsm.FSM {
	return fsm.NewFSM(state, m.fsmEvents(), nil)
}

// StampAt returns an Effect that sets the time field points to to the
// transition's time (Transition.At, the backdated time on an import): the
// "resolved at", "closed at" and "started at" stamps lifecycles keep. A nil
// pointer from field is an error, aborting the transition.
func StampAt[T any](field func(T) *time.Time) Effect[T] {
	return func(_ context.Context, rec T, tr Transition) error {
		p := field(rec)
		if p == nil {
			return errors.New("stamp: the field to stamp is missing")
		}
		*p = tr.At
		return nil
	}
}
