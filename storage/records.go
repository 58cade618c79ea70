package storage

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/pillars-itsm/pillars/internal/jsontext"
	"github.com/pillars-itsm/pillars/itsm"
)

// Command carries what a person says along with a write: why, when it
// really happened (for an import of history), and which version of the
// record they acted on. It is the one trailing options value of every
// command in every pillar; its zero value asks for nothing.
type Command struct {
	// Reason is recorded on the event (a hold reason, an override's
	// justification, a rejection comment): valid UTF-8 without NUL, at most
	// MaxReason bytes.
	Reason string
	// At, when set, is the occurrence time of a backdated write. Only
	// actors allowed itsm.ActionImport may set it; it must not lie before
	// the record's newest event nor after the clock's now.
	At time.Time
	// IfVersion, when not 0, is the version of the record the caller last
	// saw (If-Match): a command on a record that has moved since is refused
	// with an error matching itsm.ErrConflict, and not retried.
	IfVersion int64
	// Strict asks that a backdated write (At set) obey the policies
	// measured from now, such as an incident's reopen window, as a live
	// command would. By default history is fact: an import row is not
	// refused by a window that has since closed.
	Strict bool
}

// MaxReason bounds Command.Reason in bytes.
const MaxReason = 4 << 10

// check refuses a command whose reason is too long or not text.
func (c Command) check(kind string) error {
	switch {
	case len(c.Reason) > MaxReason:
		return (&itsm.ValidationError{Kind: kind}).Add("reason", fmt.Sprintf("is %d bytes, at most %d", len(c.Reason), MaxReason))
	case !utf8.ValidString(c.Reason) || strings.IndexByte(c.Reason, 0) >= 0:
		return (&itsm.ValidationError{Kind: kind}).Add("reason", "must be UTF-8 text without NUL")
	case c.IfVersion < 0:
		return (&itsm.ValidationError{Kind: kind}).Add("if_version", fmt.Sprintf("%d is negative", c.IfVersion))
	}
	return nil
}

// Validator is implemented by records that check their own fields; Records
// calls it before every write and refuses the write with its error.
type Validator interface {
	Validate() error
}

// Records runs the commands of one record kind: it authorises the actor,
// decides the lifecycle event, runs effects, and writes the record and its
// hash-chained domain event in one unit of work. Pillars build their
// services on it; it is safe for concurrent use.
type Records[T any, P interface {
	*T
	itsm.Entity
}] struct {
	backend Backend
	coll    *Collection[T, P]
	machine *itsm.Machine[P]
	cfg     RecordsConfig
	public  bool // a host's view: members the pillar owns (WithOwned) are not written through it
	cloner  cloner[T, P]
	text    textCheck // validText planned for T; nil: T holds no strings
	// foldText is checkText for a Fold's commands; nil when T holds no
	// strings.
	foldText *foldText
	// foldBufs holds the member buffers of closed folds (*foldBuffers),
	// for the next ones (shared with the Public view).
	foldBufs *sync.Pool
}

// RecordsConfig configures a Records.
type RecordsConfig struct {
	// Prefix of human numbers, "INC" for INC0001042. Empty: no numbers.
	// Numbers come from a sequence of the tenant of the unit of work, so
	// every tenant counts from INC0000001 on its own.
	Prefix string
	// TenantNumbers puts the tenant in front of the human numbers of every
	// tenant but itsm.DefaultTenant, upper-cased with a dash:
	// "ACME-INC0000001" for tenant "acme", so a number read out of context
	// (an e-mail subject, a chat message) names its tenant. Records kept
	// with a number of their own (imports) keep it as given.
	TenantNumbers bool
	// Clock tells the time of events; the system clock when nil.
	Clock itsm.Clock
	// Authorizer checks every command; itsm.DefaultAuthorizer() when nil.
	Authorizer itsm.Authorizer
	// Retries is how many times Fire and Change re-read the record and try
	// again after a version conflict with a concurrent writer (default 3;
	// negative disables). Guards run again on the fresh record.
	Retries int
	// Check, when set, is called on every write before it is stored, with
	// the record as stored (nil on create) and as it would be written
	// (both of the records' pointer type): the place for invariants every
	// path must keep, such as fields only the lifecycle may change. Its
	// error refuses the write.
	Check func(ctx context.Context, before, after any) error
	// Observer, when set, watches every command, Tx forms included
	// (spans, metrics, logs: see storage/telemetry); nil observes nothing.
	Observer Observer
}

// NewRecords builds the command runner for a kind. The machine's kind must
// match the collection's.
func NewRecords[T any, P interface {
	*T
	itsm.Entity
}](b Backend, coll *Collection[T, P], m *itsm.Machine[P], cfg RecordsConfig) (*Records[T, P], error) {
	if b == nil || coll == nil || m == nil {
		return nil, itsm.Invalidf("records: backend, collection and machine are required")
	}
	if m.Kind() != coll.Kind() {
		return nil, itsm.Invalidf("records: machine kind %q does not match collection kind %q", m.Kind(), coll.Kind())
	}
	if cfg.Clock == nil {
		cfg.Clock = itsm.SystemClock{}
	}
	if cfg.Authorizer == nil {
		cfg.Authorizer = itsm.DefaultAuthorizer()
	}
	if cfg.Retries == 0 {
		cfg.Retries = 3
	}
	out := &Records[T, P]{backend: b, coll: coll, machine: m, cfg: cfg, cloner: newCloner[T, P](), text: newTextCheck(reflect.TypeFor[T]()), foldBufs: &sync.Pool{}}
	if out.text != nil {
		out.foldText = newFoldText(reflect.TypeFor[T]())
	}
	return out, nil
}

// Backend returns the backend the records live in.
func (r *Records[T, P]) Backend() Backend { return r.backend }

// Collection returns the record kind's collection.
func (r *Records[T, P]) Collection() *Collection[T, P] { return r.coll }

// Machine returns the record kind's compiled lifecycle.
func (r *Records[T, P]) Machine() *itsm.Machine[P] { return r.machine }

// Get reads one record for the actor in ctx: it must be in the actor's
// read scope and Authorize must allow itsm.ActionRead on it, or the error
// matches itsm.ErrForbidden; internal members are blanked unless the actor
// may read them.
func (r *Records[T, P]) Get(ctx context.Context, id string) (P, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("%s: nil context", r.coll.Kind())
	}
	s, err := r.scope(ctx)
	if err != nil {
		return nil, err
	}
	rec, err := r.coll.Get(ctx, r.backend, id)
	if err != nil {
		return nil, err
	}
	if err := r.readable(ctx, s, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// Query runs a query on the kind for the actor in ctx and decodes one page
// of the records the actor may read. The actor's read scope is added to the
// query's filters, so the store returns only those records; records that
// Authorize refuses besides are dropped and further records read, so a
// page holds q.Limit records unless it is the last. The cursor returned
// continues after the last record handed out.
func (r *Records[T, P]) Query(ctx context.Context, q Query) ([]P, string, error) {
	if ctx == nil {
		return nil, "", itsm.Invalidf("%s: nil context", r.coll.Kind())
	}
	s, err := r.scope(ctx)
	if err != nil {
		return nil, "", err
	}
	q = scoped(q, s)
	q.Kind = r.coll.Kind()
	limit := q.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	var out []P
	for {
		page, err := r.backend.Query(ctx, q)
		if err != nil {
			return nil, "", err
		}
		if out == nil {
			out = make([]P, 0, len(page.Docs))
		}
		for i, d := range page.Docs {
			rec, err := r.coll.Decode(d)
			if err != nil {
				return nil, "", err
			}
			if err := r.readable(ctx, s, rec); err != nil {
				if errors.Is(err, itsm.ErrForbidden) {
					continue
				}
				return nil, "", err
			}
			out = append(out, rec)
			if len(out) == limit {
				if i == len(page.Docs)-1 {
					return out, page.Next, nil
				}
				// The page filled before the store's page ended: continue
				// after this record (the store has checked the query).
				tenant, err := TenantOf(ctx, false)
				if err != nil {
					return nil, "", err
				}
				plan, err := r.coll.schema.CheckQueryFor(tenant, q)
				if err != nil {
					return nil, "", err
				}
				return out, plan.NextCursor(r.coll.document(rec, d.Data)), nil
			}
		}
		if page.Next == "" {
			return out, "", nil
		}
		q.Cursor = page.Next
	}
}

// All runs a query on the kind page by page and returns every record the
// actor in ctx may read, as Query decides.
func (r *Records[T, P]) All(ctx context.Context, q Query) ([]P, error) {
	return allPages(q, func(q Query) ([]P, string, error) { return r.Query(ctx, q) })
}

// History returns the record's events, oldest first, for an actor who may
// read the record (Get). The changes of internal members are left out of
// the events unless the actor may read them; such an event no longer
// verifies against its hash, which Verify checks on the stored events.
func (r *Records[T, P]) History(ctx context.Context, id string) ([]itsm.Event, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("%s: nil context", r.coll.Kind())
	}
	rec, err := r.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	evs, err := r.backend.History(ctx, r.coll.Kind(), id)
	if err != nil || r.seesInternal(ctx, rec) {
		return evs, err
	}
	for i := range evs {
		evs[i].Changes = slices.DeleteFunc(slices.Clone(evs[i].Changes), func(c itsm.FieldChange) bool { return r.coll.hiddenChange(ctx, c.Field) })
	}
	return evs, nil
}

// Verify checks the record's event chain against the hash the record
// holds, for an actor who may read the record.
func (r *Records[T, P]) Verify(ctx context.Context, id string) error {
	if _, err := r.Get(ctx, id); err != nil {
		return err
	}
	rec, err := r.coll.Get(ctx, r.backend, id) // with its internal members, as hashed
	if err != nil {
		return err
	}
	evs, err := r.backend.History(ctx, r.coll.Kind(), id)
	if err != nil {
		return err
	}
	return itsm.Verify(evs, rec.Meta().Head)
}

// Create stores a new record in the lifecycle's initial state, with a new id
// (unless rec carries a valid one, as imports do) and the next human number,
// and writes its "create" event.
func (r *Records[T, P]) Create(ctx context.Context, rec P, cmd Command) error {
	if err := r.precheck(ctx, rec); err != nil {
		return err
	}
	if r.cfg.Observer != nil {
		return r.createObserved(ctx, rec, cmd)
	}
	return r.backend.Update(ctx, func(tx Tx) error { return r.createTx(ctx, tx, rec, cmd) })
}

// CreateTx is Create inside a caller's unit of work, so several records can
// be written together. On error rec may be partly filled; the unit of work
// must be abandoned.
func (r *Records[T, P]) CreateTx(ctx context.Context, tx Tx, rec P, cmd Command) error {
	if err := r.precheck(ctx, rec); err != nil {
		return err
	}
	ctx, done := r.observe(ctx, tx, itsm.EventCreate, rec.Meta().ID)
	err := r.createTx(ctx, tx, rec, cmd)
	observed(done, rec, false, 1, err)
	return err
}

func (r *Records[T, P]) createTx(ctx context.Context, tx Tx, rec P, cmd Command) error {
	return r.createInto(ctx, tx, rec, cmd, nil)
}

// createInto is createTx writing into sink, when not nil, instead of tx.
func (r *Records[T, P]) createInto(ctx context.Context, tx Tx, rec P, cmd Command, sink *foldSink) error {
	if err := r.precheck(ctx, rec); err != nil {
		return err
	}
	kind := r.coll.Kind()
	if err := cmd.check(kind); err != nil {
		return err
	}
	if cmd.IfVersion != 0 {
		return itsm.Invalidf("%s: a new record has no version to match (if_version %d)", kind, cmd.IfVersion)
	}
	if err := itsm.Authorize(ctx, r.cfg.Authorizer, kind, itsm.ActionCreate, rec); err != nil {
		return err
	}
	now, at, err := r.times(ctx, cmd, time.Time{})
	if err != nil {
		return err
	}
	m := rec.Meta()
	if m.ID == "" {
		m.ID = itsm.NewID()
	} else if !itsm.ValidID(m.ID) {
		return itsm.Invalidf("%s: id %q is not a UUID", kind, m.ID)
	}
	if m.Version != 0 {
		return itsm.Invalidf("%s %s: a new record has version 0, not %d", kind, m.ID, m.Version)
	}
	m.State, m.Head = r.machine.Initial(), ""
	m.CreatedAt, m.UpdatedAt = at, at
	// Validate before drawing a number: sequence values are never given
	// back, so a refused record would leave a gap in the numbering.
	if err := r.validate(ctx, tx, nil, rec, nil); err != nil {
		return err
	}
	prefix, err := r.numberPrefix(ctx)
	if err != nil {
		return err
	}
	if prefix != "" && m.Number == "" {
		n, err := tx.NextSequence(ctx, kind)
		if err != nil {
			return err
		}
		m.Number = itsm.FormatNumber(prefix, n)
	} else if m.Number != "" {
		// Choosing a number is carrying history over from another tool.
		if err := itsm.Authorize(ctx, r.cfg.Authorizer, kind, itsm.ActionImport, rec); err != nil {
			return err
		}
		if err := KeepNumbers(ctx, tx, kind, prefix, m.Number); err != nil {
			return err // a kept number moves the sequence past it
		}
	}
	var authorize func([]itsm.FieldChange) error
	if r.public {
		authorize = func(changes []itsm.FieldChange) error { return r.checkOwned(ctx, changes, true) }
	}
	_, err = r.writeTo(ctx, tx, rec, nil, nil, itsm.Event{Name: itsm.EventCreate, To: m.State}, false, now, at, cmd, authorize, sink)
	return err
}

// Fire applies a lifecycle event to the record: the actor is authorised for
// the event on the stored record, mutate (may be nil) sets the fields the
// event needs (a resolution code, a hold reason), the lifecycle decides
// (guards see the mutated record), the effects run, and the record and its
// event are written together. A refusal writes nothing. On a version conflict with a
// concurrent writer it re-reads and tries again (RecordsConfig.Retries).
func (r *Records[T, P]) Fire(ctx context.Context, id, event string, cmd Command, mutate func(P) error) (P, error) {
	return r.retry(ctx, event, id, func(ctx context.Context, tx Tx) (P, error) { return r.fireTx(ctx, tx, id, event, cmd, mutate) })
}

// FireTx is Fire inside a caller's unit of work, without retries.
func (r *Records[T, P]) FireTx(ctx context.Context, tx Tx, id, event string, cmd Command, mutate func(P) error) (P, error) {
	ctx, done := r.observe(ctx, tx, event, id)
	out, err := r.fireTx(ctx, tx, id, event, cmd, mutate)
	observed(done, out, out == nil, 1, err)
	return out, err
}

func (r *Records[T, P]) fireTx(ctx context.Context, tx Tx, id, event string, cmd Command, mutate func(P) error) (P, error) {
	if event == "" {
		return nil, itsm.Invalidf("%s %s: a lifecycle event is required", r.coll.Kind(), id)
	}
	return r.change(ctx, tx, id, event, cmd, mutate)
}

// Change updates fields of the record without a state change and writes an
// "update" event listing the changed fields. mutate must not change the
// state; an unchanged record writes nothing and returns it as it was.
func (r *Records[T, P]) Change(ctx context.Context, id string, cmd Command, mutate func(P) error) (P, error) {
	return r.retry(ctx, itsm.EventUpdate, id, func(ctx context.Context, tx Tx) (P, error) { return r.changeTx(ctx, tx, id, cmd, mutate) })
}

// ChangeTx is Change inside a caller's unit of work, without retries.
func (r *Records[T, P]) ChangeTx(ctx context.Context, tx Tx, id string, cmd Command, mutate func(P) error) (P, error) {
	ctx, done := r.observe(ctx, tx, itsm.EventUpdate, id)
	out, err := r.changeTx(ctx, tx, id, cmd, mutate)
	observed(done, out, out == nil, 1, err)
	return out, err
}

func (r *Records[T, P]) changeTx(ctx context.Context, tx Tx, id string, cmd Command, mutate func(P) error) (P, error) {
	if mutate == nil {
		return nil, itsm.Invalidf("%s %s: change without a mutation", r.coll.Kind(), id)
	}
	return r.change(ctx, tx, id, "", cmd, mutate)
}

func (r *Records[T, P]) change(ctx context.Context, tx Tx, id, event string, cmd Command, mutate func(P) error) (P, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("%s: nil context", r.coll.Kind())
	}
	kind := r.coll.Kind()
	if err := cmd.check(kind); err != nil {
		return nil, err
	}
	s, err := r.scope(ctx)
	if err != nil {
		return nil, err
	}
	before, err := tx.Get(ctx, kind, id)
	if err != nil {
		return nil, err
	}
	if cmd.IfVersion != 0 && cmd.IfVersion != before.Version {
		return nil, Final(&itsm.ConflictError{Kind: kind, ID: id, Expected: cmd.IfVersion, Actual: before.Version})
	}
	// The stored document is split into its members once, for the decode
	// and for the diff of the write; stored is the record as it is, which
	// authorisation and Check judge, rec the one the command changes.
	var buf [64]jsonMember
	rec, beforeMembers, err := r.coll.decodeMembers(before, buf[:0])
	if err != nil {
		return nil, err
	}
	stored, err := r.coll.Decode(before)
	if err != nil {
		return nil, err
	}
	return r.apply(ctx, tx, s, id, event, cmd, mutate, stored, rec, before.Data, beforeMembers, nil)
}

// apply runs a command on rec, a copy of stored (the record as stored,
// encoded as beforeData, split into beforeMembers when not nil) that the
// command may change: authorisation, the edit, the lifecycle decision and
// effects, validation, and the write through tx, or into sink when not nil
// (a Fold). change and Fold share it, so a folded history is judged as the
// same commands run one by one would be.
func (r *Records[T, P]) apply(ctx context.Context, tx Tx, s itsm.Scope, id, event string, cmd Command, mutate func(P) error,
	stored, rec P, beforeData []byte, beforeMembers []jsonMember, sink *foldSink) (P, error) {
	kind := r.coll.Kind()
	version := stored.Meta().Version
	m := rec.Meta()
	from := m.State
	if err := r.machine.CheckState(from); err != nil {
		return nil, err
	}
	// Authorise on the record as stored, before the mutation runs, so that
	// a refused actor learns nothing from the command's validation: the
	// actor must be able to read the record and, for a lifecycle event, be
	// allowed the event. What a field edit is authorised as follows from
	// the fields it changes, checked once they are known.
	if err := r.mayRead(ctx, s, stored); err != nil {
		return nil, err
	}
	if event != "" {
		if err := itsm.Authorize(ctx, r.cfg.Authorizer, kind, event, stored); err != nil {
			return nil, err
		}
	} else if err := r.mayEdit(ctx, stored); err != nil {
		return nil, err
	}
	if mutate != nil {
		if err := callMutate(kind, id, mutate, rec); err != nil {
			return nil, err
		}
		if m.ID != id || m.Version != version || m.State != from {
			return nil, itsm.Invalidf("%s %s: a mutation may not change id, version or state", kind, id)
		}
		if err := r.coll.customJSON(rec); err != nil {
			return nil, err // before the edits are encoded to be authorised
		}
		if event != "" {
			// The fields a command's edit function sets along with an event
			// are authorised as field edits, unless the collection declares
			// them the event's inputs (WithEventInputs).
			if !r.mayEditAll(ctx, stored) {
				if err := r.authorizeEdits(ctx, stored, beforeMembers, beforeData, rec, func(f string) bool { return r.coll.eventInput(event, f) }); err != nil {
					return nil, err
				}
			}
		}
	}
	now, at, err := r.times(ctx, cmd, m.UpdatedAt)
	if err != nil {
		return nil, err
	}
	actor, _ := itsm.ActorFrom(ctx)
	ev := itsm.Event{Name: itsm.EventUpdate, From: from, To: from}
	if event != "" {
		tr, err := r.machine.Decide(ctx, rec, itsm.Transition{Event: event, From: from, Actor: actor, At: at, Reason: cmd.Reason,
			Import: !cmd.At.IsZero(), Strict: cmd.Strict})
		if err != nil {
			var te *itsm.TransitionError
			if errors.As(err, &te) {
				te.ID, te.Number = m.ID, m.Number
			}
			return nil, err
		}
		m.State = tr.To
		if err := r.machine.RunEffects(ctx, rec, tr); err != nil {
			return nil, err
		}
		if m.ID != id || m.Version != version || m.State != tr.To {
			return nil, itsm.Invalidf("%s %s: an effect may not change id, version or state", kind, id)
		}
		ev = itsm.Event{Name: event, From: from, To: tr.To}
	}
	var checked P // a record whose text passed, which rec's strings may share
	if sink != nil && sink.checked {
		checked = stored
	}
	if err := r.validate(ctx, tx, stored, rec, checked); err != nil {
		return nil, err
	}
	var authorize func([]itsm.FieldChange) error
	if event == "" {
		authorize = func(changes []itsm.FieldChange) error {
			if err := r.checkOwned(ctx, changes, false); err != nil {
				return err
			}
			return r.authorizeActions(ctx, stored, changes, nil)
		}
	}
	if _, err := r.writeTo(ctx, tx, rec, beforeData, beforeMembers, ev, event == "", now, at, cmd, authorize, sink); err != nil {
		return nil, err
	}
	return rec, nil
}

// callMutate runs a command's edit function, turning a panic into an error
// matching itsm.ErrInvalid.
func callMutate[P any](kind, id string, mutate func(P) error, rec P) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = itsm.Invalidf("%s %s: the edit function panicked: %v", kind, id, p)
		}
	}()
	return mutate(rec)
}

// mayEdit refuses, before an edit function runs, an actor allowed none of
// the actions a field edit can be authorised as (itsm.ActionUpdate and the
// collection's WithAction actions).
func (r *Records[T, P]) mayEdit(ctx context.Context, stored P) error {
	err := itsm.Authorize(ctx, r.cfg.Authorizer, r.coll.Kind(), itsm.ActionUpdate, stored)
	if err == nil {
		return nil
	}
	for _, a := range r.coll.access.actions {
		if itsm.Authorize(ctx, r.cfg.Authorizer, r.coll.Kind(), a, stored) == nil {
			return nil
		}
	}
	return err
}

// mayEditAll reports whether authorizeEdits would allow any edit of stored
// by the actor in ctx: no member is owned on this view and the actor is
// allowed every action a field edit can be authorised as. The edits then
// need not be encoded to be listed.
func (r *Records[T, P]) mayEditAll(ctx context.Context, stored P) bool {
	if r.public && len(r.coll.access.owned) > 0 {
		return false
	}
	kind := r.coll.Kind()
	if itsm.Authorize(ctx, r.cfg.Authorizer, kind, itsm.ActionUpdate, stored) != nil {
		return false
	}
	for _, a := range r.coll.access.actions {
		if itsm.Authorize(ctx, r.cfg.Authorizer, kind, a, stored) != nil {
			return false
		}
	}
	return true
}

// authorizeActions authorises the actions the changed fields name
// (Collection.WithAction; itsm.ActionUpdate for the rest) on the record as
// stored, skipping the fields skip reports.
func (r *Records[T, P]) authorizeActions(ctx context.Context, stored P, changes []itsm.FieldChange, skip func(string) bool) error {
	for _, a := range r.coll.actionsFor(changes, skip) {
		if err := itsm.Authorize(ctx, r.cfg.Authorizer, r.coll.Kind(), a, stored); err != nil {
			return err
		}
	}
	return nil
}

// authorizeEdits authorises the fields a command's edit function changed
// along with a lifecycle event, as authorizeActions does.
func (r *Records[T, P]) authorizeEdits(ctx context.Context, stored P, beforeMembers []jsonMember, beforeData []byte, rec P, skip func(string) bool) error {
	var bufA, bufB [64]jsonMember
	data, am, err := r.coll.marshalMembers(rec, bufA[:0])
	if err == nil && am == nil {
		am, err = topLevelMembers(data, bufA[:0])
	}
	if err == nil && beforeMembers == nil {
		beforeMembers, err = topLevelMembers(beforeData, bufB[:0])
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", r.coll.Kind(), rec.Meta().ID, err)
	}
	changes, _ := diffMembers(beforeMembers, am, metaFields, "head")
	if err := r.checkOwned(ctx, changes, false); err != nil {
		return err
	}
	return r.authorizeActions(ctx, stored, changes, skip)
}

// headPlaceholder stands in for the new event's hash while the record is
// encoded: the event's hash covers the changed fields, which come from the
// encoding, so the record is encoded once with this placeholder and the hash
// is written over it afterwards (a hex SHA-256 is as long and needs no JSON
// escaping).
var headPlaceholder = strings.Repeat("0", 64)

// write encodes rec at the next version, lists the top-level fields that
// differ from beforeData (nil for a new record; beforeMembers, when not
// nil, is it already split), seals the event for them and stores the
// record with its event. rec's Meta carries the pre-write version and
// head; they advance only when the write is buffered. When optional is set
// (a field change without a lifecycle event) and no field changed, it
// writes nothing and reports false.
func (r *Records[T, P]) write(ctx context.Context, tx Tx, rec P, beforeData []byte, beforeMembers []jsonMember, ev itsm.Event, optional bool, now, at time.Time, cmd Command, authorize func([]itsm.FieldChange) error) (bool, error) {
	return r.writeTo(ctx, tx, rec, beforeData, beforeMembers, ev, optional, now, at, cmd, authorize, nil)
}

// writeTo is write handing the encoding, its members and the sealed event
// to sink, when not nil, instead of writing them to tx.
func (r *Records[T, P]) writeTo(ctx context.Context, tx Tx, rec P, beforeData []byte, beforeMembers []jsonMember, ev itsm.Event, optional bool, now, at time.Time, cmd Command, authorize func([]itsm.FieldChange) error, sink *foldSink) (bool, error) {
	m := rec.Meta()
	prevHead, expected, prevUpdated := m.Head, m.Version, m.UpdatedAt
	restore := func() { m.Head, m.Version, m.UpdatedAt = prevHead, expected, prevUpdated }
	m.Head, m.Version, m.UpdatedAt = headPlaceholder, expected+1, at
	var bufA, bufB [64]jsonMember
	var data []byte
	var am []jsonMember
	var err error
	folded := false
	var after encodedAfter
	if sink != nil && sink.prev.IsValid() && beforeMembers != nil && r.coll.codec != nil && r.coll.codec.encodable && jsontext.MatchesEncodingJSON() {
		// A fold encodes only what the command changed (Fold.Document
		// joins the members once, at the end), and lists the changes as
		// it goes.
		after, folded = r.coll.codec.encodeAfter(reflect.ValueOf(rec).Elem(), sink.prev, beforeMembers, sink.buffer(len(r.coll.plan.keys)), r.coll.plan)
		am = after.members
	}
	if !folded {
		data, am, err = r.coll.marshalMembers(rec, bufA[:0])
	}
	if err != nil {
		restore()
		return false, err
	}
	// The codec reports the members it wrote and read; what encoding/json
	// wrote or read is split here.
	if am == nil {
		am, err = topLevelMembers(data, bufA[:0])
	}
	if err == nil && beforeMembers == nil && len(beforeData) > 0 {
		beforeMembers, err = topLevelMembers(beforeData, bufB[:0])
	}
	if err != nil {
		restore()
		return false, fmt.Errorf("%s %s: %w", r.coll.Kind(), m.ID, err)
	}
	changes, head := after.changes, after.head
	if !after.listed {
		changes, head = diffMembers(beforeMembers, am, metaFields, "head")
	}
	markAppended(changes, r.coll.journal)
	if r.coll.custom.at != nil {
		if changes, err = expandCustom(changes); err != nil {
			restore()
			return false, fmt.Errorf("%s %s: custom values: %w", r.coll.Kind(), m.ID, err)
		}
	}
	if optional && len(changes) == 0 {
		restore()
		return false, nil
	}
	if authorize != nil {
		if err := authorize(changes); err != nil {
			restore()
			return false, err
		}
	}
	if len(head) != len(headPlaceholder)+2 || string(head[1:len(head)-1]) != headPlaceholder {
		restore()
		return false, itsm.Invalidf("%s %s: the encoded record has no head field of its own", r.coll.Kind(), m.ID)
	}
	actor, _ := itsm.ActorFrom(ctx)
	// The store sets the unit's tenant on the event; the hash must cover
	// it, so it is set here, before the seal.
	tenant, err := TenantOf(ctx, false)
	if err != nil {
		restore()
		return false, err
	}
	ev.Tenant = tenant
	if sink != nil && sink.ids != nil {
		ev.ID = sink.ids.next()
	} else {
		ev.ID = itsm.NewID()
	}
	ev.Kind, ev.RecordID, ev.Number = r.coll.Kind(), m.ID, m.Number
	ev.RecordVersion = expected + 1
	ev.Actor, ev.At, ev.RecordedAt, ev.Reason, ev.Changes = actor.ID, at, now, cmd.Reason, changes
	itsm.Seal(&ev, prevHead)
	copy(head[1:], ev.Hash) // head is the quoted value inside data
	m.Head = ev.Hash
	if sink != nil {
		sink.put(data, am, ev)
		return true, nil
	}
	if err := tx.Put(ctx, r.coll.document(rec, data), expected); err != nil {
		restore()
		return false, err
	}
	return true, tx.Append(ctx, ev)
}

// numberPrefix returns the prefix of the human numbers written with ctx:
// Prefix, behind the upper-cased tenant under TenantNumbers.
func (r *Records[T, P]) numberPrefix(ctx context.Context) (string, error) {
	if r.cfg.Prefix == "" || !r.cfg.TenantNumbers {
		return r.cfg.Prefix, nil
	}
	tenant, err := TenantOf(ctx, false)
	if err != nil {
		return "", err
	}
	if tenant == itsm.DefaultTenant {
		return r.cfg.Prefix, nil
	}
	return strings.ToUpper(tenant) + "-" + r.cfg.Prefix, nil
}

// metaFields are not reported as changes: they change on every write.
var metaFields = []string{"version", "head", "updated_at"}

// times returns the recording time and the occurrence time of a command,
// checking a backdated time against the actor's rights and the record's
// newest event.
func (r *Records[T, P]) times(ctx context.Context, cmd Command, newest time.Time) (now, at time.Time, err error) {
	now = itsm.NormalizeTime(r.cfg.Clock.Now())
	if cmd.At.IsZero() {
		if now.Before(newest) {
			// A backdated import may have left the record ahead of the
			// clock's now only by clock skew; never write time backwards.
			return now, newest, nil
		}
		return now, now, nil
	}
	if err := itsm.Authorize(ctx, r.cfg.Authorizer, r.coll.Kind(), itsm.ActionImport, nil); err != nil {
		return now, now, err
	}
	at = itsm.NormalizeTime(cmd.At)
	switch {
	case at.After(now):
		return now, now, itsm.Invalidf("%s: occurrence time %s is in the future", r.coll.Kind(), at.Format(time.RFC3339))
	case at.Before(newest):
		return now, now, itsm.Invalidf("%s: occurrence time %s is before the record's newest event at %s",
			r.coll.Kind(), at.Format(time.RFC3339), newest.Format(time.RFC3339))
	}
	return now, at, nil
}

func (r *Records[T, P]) precheck(ctx context.Context, rec P) error {
	if ctx == nil {
		return itsm.Invalidf("%s: nil context", r.coll.Kind())
	}
	if rec == nil {
		return itsm.Invalidf("%s: nil record", r.coll.Kind())
	}
	return nil
}

// retry runs fn in units of work until it does not conflict, and hands
// the record written to the actor as Get would: without the internal
// members they may not read. (The Tx forms return the record whole, for the
// pillar code that goes on writing in the same unit.)
func (r *Records[T, P]) retry(ctx context.Context, event, id string, fn func(context.Context, Tx) (P, error)) (P, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("%s: nil context", r.coll.Kind())
	}
	out, err := r.retryObserved(ctx, event, id, fn)
	if err != nil {
		return nil, err
	}
	if out != nil && !r.seesInternal(ctx, out) {
		r.coll.redact(ctx, out)
	}
	return out, nil
}

// checkText is validText on rec, as planned for the kind's type.
func (r *Records[T, P]) checkText(rec P) (string, bool) {
	if r.text == nil {
		return "", true
	}
	return r.text(reflect.ValueOf(rec).Elem())
}

// validate runs the record's own Validate, checks its custom values
// against the dictionary (references read through g), refuses text that is
// not UTF-8, and runs the configured Check with the record as stored (nil
// on create). checked, when not nil, is a record whose text passed (a
// Fold's): rec's top-level strings it shares are not read again.
func (r *Records[T, P]) validate(ctx context.Context, g Getter, stored, rec, checked P) error {
	if v, ok := any(rec).(Validator); ok {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	if err := r.coll.checkCustom(ctx, g, stored, rec, stored == nil); err != nil {
		return err
	}
	if checked != nil && r.foldText != nil && r.foldText.ok(unsafe.Pointer(rec), unsafe.Pointer(checked)) {
		// rec's text is checkText's as a fold knows it: fine.
	} else if field, ok := r.checkText(rec); !ok {
		return (&itsm.ValidationError{Kind: r.coll.Kind(), ID: rec.Meta().ID}).Add(field, "is not UTF-8 text without NUL")
	}
	if r.cfg.Check != nil {
		var before any
		if stored != nil {
			before = stored
		}
		return r.cfg.Check(ctx, before, rec)
	}
	return nil
}
