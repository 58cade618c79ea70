package storage

import (
	"context"
	"reflect"

	"github.com/pillars-itsm/pillars/itsm"
)

// Fold runs a record's commands one after another in memory, for an import
// that replays a record's history: each command is judged exactly as
// FireTx or ChangeTx would judge it on the record as the previous command
// left it (the same authorisation, edit, lifecycle guards and effects,
// Validate, custom field checks, RecordsConfig.Check and hash-chained
// event), but the record stays decoded between commands and nothing is
// written: Document and Events hand the result over, to be written once
// (storage.Import for a new record, or Put and Append in one unit).
//
// A Fold is not safe for concurrent use. The records it returns belong to
// it and must not be changed.
type Fold[T any, P interface {
	*T
	itsm.Entity
}] struct {
	r       *Records[T, P]
	tx      Tx // reads of other records, sequences
	rec     P  // the record as the last command left it
	data    []byte
	members []jsonMember // data split into its top-level members
	spare   []jsonMember // the other members buffer, reused
	events  []itsm.Event
	sink    foldSink // reused by every command
	ids     foldIDs  // the events' ids
	set     bool
	checked bool         // rec is one the fold made, whose text was checked
	bufs    *foldBuffers // members and spare live in it, when set
}

// foldBuffers holds the two member buffers of a fold, handed from a
// closed fold to the next one of its Records.
type foldBuffers struct{ members []jsonMember }

// Close ends the fold, once its Document and Events are taken: its
// buffers go to the next fold of its Records. The fold must not be used
// after (the document, events and records it handed out stay valid).
func (f *Fold[T, P]) Close() {
	if f.bufs == nil {
		return
	}
	if f.data == nil {
		f.data = joinMembers(f.members)
	}
	clear(f.bufs.members) // keep no encoding alive
	f.r.foldBufs.Put(f.bufs)
	f.bufs, f.members, f.spare = nil, nil, nil
}

// foldSink receives what a write would store.
type foldSink struct {
	prev    reflect.Value // the record before the command; invalid: encode whole
	written bool
	data    []byte
	members []jsonMember
	ev      itsm.Event
	ids     *foldIDs
	checked bool // prev's text passed checkText (a record the fold made)
}

// buffer returns the sink's members buffer, empty, for n members.
func (s *foldSink) buffer(n int) []jsonMember {
	if cap(s.members) < n {
		s.members = make([]jsonMember, 0, n)
	}
	return s.members[:0]
}

func (s *foldSink) put(data []byte, members []jsonMember, ev itsm.Event) {
	s.written, s.data, s.ev = true, data, ev
	if len(members) > 0 && cap(s.members) > 0 && &members[0] == &s.members[:1][0] {
		s.members = s.members[:len(members)] // written in place (buffer)
		return
	}
	if cap(s.members) < len(members) {
		s.members = make([]jsonMember, 0, 2*len(members)) // room for members a later command adds
	}
	s.members = append(s.members[:0], members...)
}

// FoldCreate starts a fold with the creation of rec, as CreateTx creates
// it: its number is drawn from (or kept through) tx, which the fold also
// reads other records through. rec belongs to the fold from then on.
func (r *Records[T, P]) FoldCreate(ctx context.Context, tx Tx, rec P, cmd Command) (*Fold[T, P], error) {
	if err := r.precheck(ctx, rec); err != nil {
		return nil, err
	}
	if tx == nil {
		return nil, itsm.Invalidf("%s: fold without a unit of work", r.coll.Kind())
	}
	f := &Fold[T, P]{r: r, tx: tx}
	sink := foldSink{ids: &f.ids}
	if r.coll.plan != nil {
		// The record's members, and the buffer the next command encodes
		// into, in one buffer (a closed fold's, or new): no encoding has
		// more members than the codec has fields.
		n := len(r.coll.plan.keys)
		f.bufs, _ = r.foldBufs.Get().(*foldBuffers)
		if f.bufs == nil || len(f.bufs.members) != 2*n {
			f.bufs = &foldBuffers{members: make([]jsonMember, 2*n)}
		}
		buf := f.bufs.members
		sink.members, f.spare = buf[:0:n], buf[n:n]
	}
	ctx, done := r.observe(ctx, tx, itsm.EventCreate, rec.Meta().ID)
	err := r.createInto(ctx, f, rec, cmd, &sink)
	observed(done, rec, false, 1, err)
	if err != nil {
		return nil, err
	}
	f.rec, f.data, f.members, f.checked = rec, sink.data, sink.members, true
	f.events = append(make([]itsm.Event, 0, 8), sink.ev)
	return f, nil
}

// FoldFrom starts a fold on a stored record's document (read through tx,
// or by the caller): the commands continue its history.
func (r *Records[T, P]) FoldFrom(ctx context.Context, tx Tx, doc Document) (*Fold[T, P], error) {
	if ctx == nil {
		return nil, itsm.Invalidf("%s: nil context", r.coll.Kind())
	}
	if tx == nil {
		return nil, itsm.Invalidf("%s: fold without a unit of work", r.coll.Kind())
	}
	if doc.Kind != r.coll.Kind() {
		return nil, itsm.Invalidf("%s: cannot fold a %s", r.coll.Kind(), doc.Kind)
	}
	rec, members, err := r.coll.decodeMembers(doc, nil)
	if err == nil && members == nil {
		members, err = topLevelMembers(doc.Data, nil)
	}
	if err != nil {
		return nil, err
	}
	return &Fold[T, P]{r: r, tx: tx, rec: rec, data: doc.Data, members: members}, nil
}

// Record returns the record as the commands so far left it.
func (f *Fold[T, P]) Record() P { return f.rec }

// Document returns the record's document as the commands so far left it,
// ready to be written at its version.
func (f *Fold[T, P]) Document() Document {
	if f.data == nil {
		f.data = joinMembers(f.members)
	}
	return f.r.coll.document(f.rec, f.data)
}

// Events returns the events of the fold's commands, oldest first.
func (f *Fold[T, P]) Events() []itsm.Event { return f.events }

// Replaced reports whether Replace was used: the fold then checks further
// commands only, its result must not be written.
func (f *Fold[T, P]) Replaced() bool { return f.set }

// Fire is FireTx on the folded record.
func (f *Fold[T, P]) Fire(ctx context.Context, event string, cmd Command, mutate func(P) error) (P, error) {
	if event == "" {
		return nil, itsm.Invalidf("%s %s: a lifecycle event is required", f.r.coll.Kind(), f.id())
	}
	return f.step(ctx, event, cmd, mutate)
}

// Change is ChangeTx on the folded record: an unchanged record writes no
// event.
func (f *Fold[T, P]) Change(ctx context.Context, cmd Command, mutate func(P) error) (P, error) {
	if mutate == nil {
		return nil, itsm.Invalidf("%s %s: change without a mutation", f.r.coll.Kind(), f.id())
	}
	return f.step(ctx, "", cmd, mutate)
}

// Replace changes the folded record without a command or an event, for
// checking the commands after one that was refused as if it had done what
// it meant to (an import reporting every bad row of a history). The fold
// is then Replaced: its result must not be written.
func (f *Fold[T, P]) Replace(mutate func(P)) error {
	rec := f.r.cloner.clone(f.rec)
	mutate(rec)
	data, members, err := f.r.coll.marshalMembers(rec, f.spare[:0])
	if err == nil && members == nil {
		members, err = topLevelMembers(data, f.spare[:0])
	}
	if err != nil {
		return err
	}
	f.set, f.checked = true, false
	f.rec, f.data = rec, data
	f.members, f.spare = members, f.members
	return nil
}

func (f *Fold[T, P]) id() string { return f.rec.Meta().ID }

func (f *Fold[T, P]) step(ctx context.Context, event string, cmd Command, mutate func(P) error) (P, error) {
	r := f.r
	if ctx == nil {
		return nil, itsm.Invalidf("%s: nil context", r.coll.Kind())
	}
	name := event
	if name == "" {
		name = itsm.EventUpdate
	}
	id := f.id()
	ctx, done := r.observe(ctx, f, name, id)
	out, err := f.apply(ctx, event, cmd, mutate)
	observed(done, out, out == nil, 1, err)
	return out, err
}

func (f *Fold[T, P]) apply(ctx context.Context, event string, cmd Command, mutate func(P) error) (P, error) {
	r := f.r
	kind := r.coll.Kind()
	if err := cmd.check(kind); err != nil {
		return nil, err
	}
	s, err := r.scope(ctx)
	if err != nil {
		return nil, err
	}
	stored := f.rec
	if v := stored.Meta().Version; cmd.IfVersion != 0 && cmd.IfVersion != v {
		return nil, Final(&itsm.ConflictError{Kind: kind, ID: stored.Meta().ID, Expected: cmd.IfVersion, Actual: v})
	}
	rec := r.cloner.clone(stored)
	sink := &f.sink
	*sink = foldSink{members: f.spare[:0], prev: reflect.ValueOf(stored).Elem(), ids: &f.ids, checked: f.checked}
	if _, err := r.apply(ctx, f, s, stored.Meta().ID, event, cmd, mutate, stored, rec, f.data, f.members, sink); err != nil {
		return nil, err
	}
	if !sink.written {
		return stored, nil // a change that changed nothing
	}
	f.rec, f.data, f.checked = rec, sink.data, true
	f.members, f.spare = sink.members, f.members
	f.events = append(f.events, sink.ev)
	return rec, nil
}

// The fold is the unit of work its commands run in: the folded record is
// read as it stands, other records and sequences through the fold's tx;
// it writes nothing itself.

// Get returns the folded record as it stands, or another record from the
// fold's unit of work.
func (f *Fold[T, P]) Get(ctx context.Context, kind, id string) (Document, error) {
	if f.rec != nil && kind == f.r.coll.Kind() && id == f.id() {
		return f.Document(), nil
	}
	return f.tx.Get(ctx, kind, id)
}

// Query runs q in the fold's unit of work.
func (f *Fold[T, P]) Query(ctx context.Context, q Query) (Page, error) { return f.tx.Query(ctx, q) }

// Put refuses: a fold hands its result over instead of writing.
func (f *Fold[T, P]) Put(context.Context, Document, int64) error {
	return itsm.Invalidf("%s: a fold writes nothing", f.r.coll.Kind())
}

// Delete refuses: a fold writes nothing.
func (f *Fold[T, P]) Delete(context.Context, string, string, int64) error {
	return itsm.Invalidf("%s: a fold writes nothing", f.r.coll.Kind())
}

// Append refuses: a fold hands its events over instead of writing them.
func (f *Fold[T, P]) Append(context.Context, ...itsm.Event) error {
	return itsm.Invalidf("%s: a fold writes nothing", f.r.coll.Kind())
}

// NextSequence draws from the fold's unit of work.
func (f *Fold[T, P]) NextSequence(ctx context.Context, name string) (int64, error) {
	return f.tx.NextSequence(ctx, name)
}

// AdvanceSequence advances a sequence of the fold's unit of work.
func (f *Fold[T, P]) AdvanceSequence(ctx context.Context, name string, atLeast int64) error {
	return f.tx.AdvanceSequence(ctx, name, atLeast)
}
