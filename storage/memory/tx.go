package memory

import (
	"context"
	"slices"
	"sync"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// tx is a unit of work of one tenant: it reads the tenant's committed state
// and buffers its writes and events until Store.commit.
type tx struct {
	s      *Store
	tenant string
	mu     sync.Mutex // guards the fields below against a fn that shares tx across goroutines
	done   bool
	writes []pending         // usually few per unit: a linear search beats a map
	byKey  map[recordKey]int // positions in writes, built once a unit writes many documents
	events []itsm.Event
	// claims maps the numbers of the unit's pending documents to their ids.
	claims map[numberKey]string
	// Most units write one document and one event: their first ones live
	// here, in the allocation of the tx itself.
	firstWrite [1]pending
	firstEvent [1]itsm.Event
}

// newTx returns a unit of work of tenant on s.
func newTx(s *Store, tenant string) *tx {
	t := &tx{s: s, tenant: tenant}
	t.writes, t.events = t.firstWrite[:0], t.firstEvent[:0]
	return t
}

// linearWrites is how many writes a unit searches linearly before it
// indexes them, so that bulk units (imports) stay O(n).
const linearWrites = 16

// find returns the unit's pending write of key, or nil.
func (t *tx) find(key recordKey) *pending {
	if t.byKey != nil {
		if i, ok := t.byKey[key]; ok {
			return &t.writes[i]
		}
		return nil
	}
	for i := range t.writes {
		if t.writes[i].key == key {
			return &t.writes[i]
		}
	}
	return nil
}

// add buffers a new pending write.
func (t *tx) add(w pending) {
	t.writes = append(t.writes, w)
	switch {
	case t.byKey != nil:
		t.byKey[w.key] = len(t.writes) - 1
	case len(t.writes) > linearWrites:
		t.byKey = make(map[recordKey]int, 2*len(t.writes))
		for i := range t.writes {
			t.byKey[t.writes[i].key] = i
		}
	}
}

// numberKey is a human number of a kind.
type numberKey struct{ kind, number string }

// numberTaken reports whether a document other than id holds num as the
// unit sees the store: a pending document of the unit, or a committed one
// the unit neither deletes nor renumbers. The caller holds t.mu or is the
// commit, and s.mu (read or write).
func (t *tx) numberTaken(kd *kindData, num, id string) bool {
	if holder, ok := t.claims[numberKey{kd.schema.Kind, num}]; ok && holder != id {
		return true
	}
	holder, ok := kd.numbers[num]
	if !ok || holder == id {
		return false
	}
	w := t.find(recordKey{kd.schema.Kind, holder})
	return w == nil || !w.deleted && kd.number(w.doc) == num
}

// claim records that the unit's pending version of id holds num (or no
// number when num is ""), instead of old.
func (t *tx) claim(kind, id, old, num string) {
	if old == num {
		return
	}
	if old != "" && t.claims[numberKey{kind, old}] == id {
		delete(t.claims, numberKey{kind, old})
	}
	if num != "" {
		if t.claims == nil {
			t.claims = map[numberKey]string{}
		}
		t.claims[numberKey{kind, num}] = id
	}
}

// pending is a buffered write of one document.
type pending struct {
	key     recordKey
	kd      *kindData
	base    int64 // the committed version the unit expects at commit (0: absent)
	gen     int   // the kind's schema generation the write was checked against
	deleted bool
	doc     storage.Document // the unit's own (a copy); meaningless when deleted
}

var errDone = itsm.Invalidf("memory: unit of work used after its function returned")

// view returns the version of (kind, id) as the unit sees it, 0 when absent,
// with the kind's data and the unit's pending write if any. The caller holds
// t.mu.
func (t *tx) view(kind, id string) (*kindData, *pending, storage.Document, bool, error) {
	if t.done {
		return nil, nil, storage.Document{}, false, errDone
	}
	key := recordKey{kind, id}
	t.s.mu.RLock()
	defer t.s.mu.RUnlock()
	kd, err := t.s.kind(t.tenant, kind)
	if err != nil {
		return nil, nil, storage.Document{}, false, err
	}
	if w := t.find(key); w != nil {
		return kd, w, w.doc, !w.deleted, nil
	}
	d, ok := kd.docs[id]
	return kd, nil, d, ok, nil
}

// Get returns the document as the unit sees it.
func (t *tx) Get(ctx context.Context, kind, id string) (storage.Document, error) {
	d, err := t.getShared(ctx, kind, id)
	if err != nil {
		return storage.Document{}, err
	}
	return cloneDoc(d), nil
}

// getShared returns the document as the unit sees it without copying it.
// Committed documents and the unit's pending
// ones are never modified, only replaced.
func (t *tx) getShared(_ context.Context, kind, id string) (storage.Document, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, _, d, ok, err := t.view(kind, id)
	if err != nil {
		return storage.Document{}, err
	}
	if !ok {
		return storage.Document{}, &itsm.NotFoundError{Kind: kind, ID: id}
	}
	return d, nil
}

// Query runs q on the committed state; the unit's own writes are not seen.
func (t *tx) Query(ctx context.Context, q storage.Query) (storage.Page, error) {
	t.mu.Lock()
	done := t.done
	t.mu.Unlock()
	if done {
		return storage.Page{}, errDone
	}
	return t.s.query(t.tenant, q, true)
}

// Put buffers a copy of d when the version the unit sees equals expected.
func (t *tx) Put(ctx context.Context, d storage.Document, expected int64) error {
	return t.put(ctx, d, expected, true)
}

// PutOwned is Put taking d's Data and Fields as the store's own instead of
// copying them: the caller hands them over and never reads or changes
// them again. Code that builds a document only to write it (a bulk
// rewrite) saves the copy; it finds the method on the Tx of a memory Store
// with an interface assertion.
func (t *tx) PutOwned(ctx context.Context, d storage.Document, expected int64) error {
	return t.put(ctx, d, expected, false)
}

// put is Put, copying d's slices when copied is set.
func (t *tx) put(_ context.Context, d storage.Document, expected int64, copied bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	kd, w, cur, ok, err := t.view(d.Kind, d.ID)
	if err != nil {
		return err
	}
	if err := kd.schema.CheckDocument(d); err != nil {
		return err
	}
	if expected < 0 || d.Version <= expected {
		return itsm.Invalidf("memory: put %s %s: version %d must be greater than expected version %d (at least 0)", d.Kind, d.ID, d.Version, expected)
	}
	var ver int64
	if ok {
		ver = cur.Version
	}
	if ver != expected {
		return &itsm.ConflictError{Kind: d.Kind, ID: d.ID, Expected: expected}
	}
	num := kd.number(d)
	if num != "" {
		t.s.mu.RLock()
		taken := t.numberTaken(kd, num, d.ID)
		t.s.mu.RUnlock()
		if taken {
			return &storage.DuplicateNumberError{Kind: d.Kind, Number: num, ID: d.ID}
		}
	}
	var oldNum string
	if w != nil && !w.deleted {
		oldNum = kd.number(w.doc)
	}
	t.claim(d.Kind, d.ID, oldNum, num)
	if copied {
		d.Data = slices.Clone(d.Data)
		d.Fields = slices.Clone(d.Fields)
	}
	if w != nil {
		w.doc, w.deleted, w.gen = d, false, kd.gen
		return nil
	}
	t.add(pending{key: recordKey{d.Kind, d.ID}, kd: kd, base: ver, gen: kd.gen, doc: d})
	return nil
}

// Delete buffers the removal of a document at version.
func (t *tx) Delete(_ context.Context, kind, id string, version int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	kd, w, cur, ok, err := t.view(kind, id)
	if err != nil {
		return err
	}
	if !ok {
		return &itsm.NotFoundError{Kind: kind, ID: id}
	}
	if cur.Version != version {
		return &itsm.ConflictError{Kind: kind, ID: id, Expected: version}
	}
	if w != nil {
		t.claim(kind, id, kd.number(w.doc), "")
		w.deleted, w.doc = true, storage.Document{}
		return nil
	}
	t.add(pending{key: recordKey{kind, id}, kd: kd, base: version, gen: kd.gen, deleted: true})
	return nil
}

// NextSequence returns the next value of a sequence at once; a unit that
// rolls back leaves a gap.
func (t *tx) NextSequence(_ context.Context, name string) (int64, error) {
	t.mu.Lock()
	done := t.done
	t.mu.Unlock()
	if done {
		return 0, errDone
	}
	return t.s.nextSequence(t.tenant, name)
}

// AdvanceSequence moves a sequence past atLeast at once; see storage.Tx.
func (t *tx) AdvanceSequence(_ context.Context, name string, atLeast int64) error {
	t.mu.Lock()
	done := t.done
	t.mu.Unlock()
	if done {
		return errDone
	}
	return t.s.advanceSequence(t.tenant, name, atLeast)
}

// Append buffers events of the unit's tenant; they get their Seq at
// commit. An event naming another tenant is ErrInvalid, and none of the
// call's events is buffered.
func (t *tx) Append(ctx context.Context, events ...itsm.Event) error {
	return t.append(ctx, events, true)
}

// AppendOwned is Append taking the events' Changes as the store's own
// instead of copying them (see PutOwned), and the slice of events itself
// when it is the unit's first: the caller never reads or changes either
// again.
func (t *tx) AppendOwned(ctx context.Context, events ...itsm.Event) error {
	return t.append(ctx, events, false)
}

// append is Append, copying the events' changes when copied is set.
func (t *tx) append(_ context.Context, events []itsm.Event, copied bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return errDone
	}
	for _, e := range events {
		if e.Tenant != "" && e.Tenant != t.tenant {
			return itsm.Invalidf("memory: append: event %s of %s %s names tenant %q in a unit of tenant %q", e.ID, e.Kind, e.RecordID, e.Tenant, t.tenant)
		}
	}
	if !copied && len(t.events) == 0 && len(events) > 1 {
		// The unit's first events, handed over: the slice becomes the
		// unit's list (it has no events of its own yet to keep).
		for i := range events {
			events[i].Tenant = t.tenant
		}
		t.events = events[:len(events):len(events)]
		return nil
	}
	t.events = slices.Grow(t.events, len(events)) // a bulk unit appends its events at once
	var changes []itsm.FieldChange
	if copied {
		changes = changesBuffer(events)
	}
	for _, e := range events {
		if copied {
			e.Changes, changes = cloneChanges(e.Changes, changes)
		}
		e.Tenant = t.tenant
		t.events = append(t.events, e)
	}
	return nil
}
