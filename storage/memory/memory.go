// Package memory is the default in-process store of Pillars and the reference
// implementation of the storage contract.
//
// A Store keeps every document, sequence and event in maps and slices guarded
// by one read-write mutex. Units of work are optimistic: a unit reads the
// committed state, buffers its writes, and at commit takes the write lock,
// checks every expected version and applies everything at once, giving the
// unit's events their Seq in order. Documents are copied on the way in and
// out, so callers may reuse or mutate their slices freely; code that builds
// documents only to write them, or reads them only to decode them, may say
// so (Store.QueryShared, and PutOwned and AppendOwned on the Tx of Update,
// found with an interface assertion) and save the copies.
//
// Queries that fix a declared composite index's leading fields with Eq
// filters and sort ascending by its remaining fields (the queue and due-time
// queries of the pillars) walk a B-tree of that index from the cursor or
// lower bound and stop once the page is full: O(log n + page). Other queries
// run on hash indexes of every declared field (but CompositeOnly ones): the
// smallest candidate set among the query's Eq and In filters, or the entries
// of a composite index whose first field such a filter fixes when they are
// fewer, is filtered and the page picked with a bounded heap, so a query
// costs O(n log limit) at worst.
//
// The Store implements storage.EventScanner, scanning its log in place, but
// neither Traverser nor
// BulkImporter: the generic fallbacks in package storage serve it, and the
// conformance suite exercises them through it. Nothing is persisted; the
// data is gone when the Store is.
//
// Tenants are kept apart by construction: each tenant has its own
// documents, indexes, numbers, sequences and histories, and the one event
// log records each event's position in its tenant's list, so a tenant's
// queries and log reads never walk another tenant's data. Schemas are
// shared: Register migrates every tenant's documents of the kind at once
// (see storage.Backend).
package memory

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

var _ storage.Backend = (*Store)(nil)

// Store is an in-memory storage.Backend. Its zero value is not usable; call
// New. A Store is safe for concurrent use.
type Store struct {
	mu sync.RWMutex
	// empty holds, per registered kind, a kindData without documents: the
	// schema, and what a tenant that never wrote the kind reads.
	empty   map[string]*kindData
	tenants map[string]*tenantData
	events  eventLog

	requireTenant bool

	seqMu sync.Mutex
	seqs  map[seqKey]int64
}

// tenantData holds one tenant's documents and the positions of its events.
type tenantData struct {
	kinds    map[string]*kindData
	byRecord map[recordKey][]int // positions in Store.events, in Seq order
	events   []int               // positions in Store.events of the tenant's events, ascending
}

// seqKey names a sequence of a tenant.
type seqKey struct{ tenant, name string }

// Option configures a Store.
type Option func(*Store)

// RequireTenant makes the Store refuse, with ErrInvalid, every call whose
// context names no tenant (itsm.WithTenant), instead of serving
// itsm.DefaultTenant: for multi-tenant hosts that want a forgotten tenant
// to fail loudly.
func RequireTenant() Option { return func(s *Store) { s.requireTenant = true } }

// kindData holds the committed documents of one kind and their indexes.
type kindData struct {
	schema storage.Schema
	docs   map[string]storage.Document // never mutated after commit
	// index[i] maps a value of Schema.Fields[i] to the ids holding it.
	index []map[storage.Value]idSet
	// ordered holds one B-tree per declared composite index.
	ordered []*ordered
	// scratch builds the entries reorder deletes; used under the write lock.
	scratch []byte
	// numIdx is the position of the storage.NumberField, -1 without one;
	// numbers maps each non-empty number to the id holding it.
	numIdx  int
	numbers map[string]string
	// gen counts the schemas registered for the kind; a unit's pending
	// write made under an older one is refused at commit.
	gen int
	// ids holds the documents' ids sorted (sortedIDs), nil until a query
	// needs them and again once a commit adds or removes a document.
	ids   atomic.Pointer[[]string]
	idsMu sync.Mutex
}

// newKindData returns an empty kindData for sc.
func newKindData(sc storage.Schema, gen int) *kindData {
	kd := &kindData{schema: cloneSchema(sc), docs: map[string]storage.Document{}, ordered: newOrdered(sc),
		numIdx: sc.NumberIndex(), numbers: map[string]string{}, gen: gen}
	kd.index = make([]map[storage.Value]idSet, len(sc.Fields))
	for i, f := range sc.Fields {
		if !f.CompositeOnly { // served by the ordered indexes naming it
			kd.index[i] = map[storage.Value]idSet{}
		}
	}
	return kd
}

// number returns d's human number, "" when it has none.
func (kd *kindData) number(d storage.Document) string {
	if kd.numIdx < 0 || d.Fields == nil {
		return ""
	}
	return d.Fields[kd.numIdx].Str()
}

// idSet is the set of ids holding one value of a field. Most values of
// fields such as times are held by one document, so a single id is kept
// inline and a map is made only when a second id arrives.
type idSet struct {
	one  string              // the only id while many is nil ("" for none: ids are never empty)
	many map[string]struct{} // every id, once the set has held two
}

func (s idSet) len() int {
	if s.many != nil {
		return len(s.many)
	}
	if s.one != "" {
		return 1
	}
	return 0
}

// each calls fn for every id.
func (s idSet) each(fn func(id string)) {
	if s.many == nil {
		if s.one != "" {
			fn(s.one)
		}
		return
	}
	for id := range s.many {
		fn(id)
	}
}

type recordKey struct{ kind, id string }

// New returns an empty Store configured by opts.
func New(opts ...Option) *Store {
	s := &Store{
		empty:   map[string]*kindData{},
		tenants: map[string]*tenantData{},
		seqs:    map[seqKey]int64{},
	}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	return s
}

// tenant returns the tenant of a call with ctx; see storage.TenantOf.
func (s *Store) tenant(ctx context.Context) (string, error) {
	return storage.TenantOf(ctx, s.requireTenant)
}

// Register declares a kind, or migrates every tenant's documents of a kind
// registered before to the new schema; see storage.Backend.
func (s *Store) Register(ctx context.Context, sc storage.Schema) error {
	if _, err := storage.TenantOf(ctx, false); err != nil { // schemas are every tenant's: none is required
		return err
	}
	if err := sc.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	was, ok := s.empty[sc.Kind]
	if !ok {
		s.empty[sc.Kind] = newKindData(sc, 1)
		return nil
	}
	diff, err := storage.CompareSchemas(was.schema, sc)
	if err != nil {
		return err
	}
	if diff.Empty() {
		return nil
	}
	gen := was.gen + 1
	s.empty[sc.Kind] = newKindData(sc, gen)
	for _, td := range s.tenants {
		if kd := td.kinds[sc.Kind]; kd != nil {
			td.kinds[sc.Kind] = kd.migrate(sc, gen)
		}
	}
	return nil
}

// migrate returns the kind's documents under the schema next: their field
// values converted (storage.ConvertFields) and every index rebuilt. The
// caller holds the write lock.
func (kd *kindData) migrate(next storage.Schema, gen int) *kindData {
	out := newKindData(next, gen)
	for id, d := range kd.docs {
		d.Fields = storage.ConvertFields(kd.schema, next, d.Fields)
		out.reindex(storage.Document{}, d)
		out.reorder(storage.Document{}, d)
		if num := out.number(d); num != "" {
			out.numbers[num] = id
		}
		out.docs[id] = d
	}
	return out
}

// kind returns the tenant's data of a registered kind, an empty one when
// the tenant holds none of it; the caller holds s.mu and must not write to
// it.
func (s *Store) kind(tenant, kind string) (*kindData, error) {
	if td := s.tenants[tenant]; td != nil {
		if kd := td.kinds[kind]; kd != nil {
			return kd, nil
		}
	}
	kd, ok := s.empty[kind]
	if !ok {
		return nil, itsm.Invalidf("memory: kind %q is not registered", kind)
	}
	return kd, nil
}

// tenantFor returns the tenant's data, made when missing; the caller holds
// the write lock.
func (s *Store) tenantFor(tenant string) *tenantData {
	td := s.tenants[tenant]
	if td == nil {
		td = &tenantData{kinds: map[string]*kindData{}, byRecord: map[recordKey][]int{}}
		s.tenants[tenant] = td
	}
	return td
}

// writableKind returns the tenant's data of a registered kind, made when
// missing; the caller holds the write lock.
func (s *Store) writableKind(td *tenantData, kind string) *kindData {
	kd := td.kinds[kind]
	if kd == nil {
		e := s.empty[kind]
		kd = newKindData(e.schema, e.gen)
		td.kinds[kind] = kd
	}
	return kd
}

// Get returns a copy of the committed document; see storage.Backend.
func (s *Store) Get(ctx context.Context, kind, id string) (storage.Document, error) {
	d, err := s.getShared(ctx, kind, id)
	if err != nil {
		return storage.Document{}, err
	}
	return cloneDoc(d), nil
}

// getShared returns the committed document without copying it; the caller
// must not modify it. Committed documents are never modified, only
// replaced.
func (s *Store) getShared(ctx context.Context, kind, id string) (storage.Document, error) {
	tenant, err := s.tenant(ctx)
	if err != nil {
		return storage.Document{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	kd, err := s.kind(tenant, kind)
	if err != nil {
		return storage.Document{}, err
	}
	d, ok := kd.docs[id]
	if !ok {
		return storage.Document{}, &itsm.NotFoundError{Kind: kind, ID: id}
	}
	return d, nil
}

// Query returns one page of committed documents; see storage.Backend.
func (s *Store) Query(ctx context.Context, q storage.Query) (storage.Page, error) {
	tenant, err := s.tenant(ctx)
	if err != nil {
		return storage.Page{}, err
	}
	return s.query(tenant, q, true)
}

// QueryShared is Query handing out the store's own documents instead of
// copies: the caller must not change their Data or Fields (committed
// documents are never changed, only replaced, so they stay as read). Code
// that only reads a page to decode it (a bulk rewrite) saves the copies.
func (s *Store) QueryShared(ctx context.Context, q storage.Query) (storage.Page, error) {
	tenant, err := s.tenant(ctx)
	if err != nil {
		return storage.Page{}, err
	}
	return s.query(tenant, q, false)
}

// query runs q on the tenant's committed documents, copying the page's
// documents when copied is set.
func (s *Store) query(tenant string, q storage.Query, copied bool) (storage.Page, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	kd, err := s.kind(tenant, q.Kind)
	if err != nil {
		return storage.Page{}, err
	}
	plan, err := kd.schema.CheckQueryFor(tenant, q)
	if err != nil {
		return storage.Page{}, err
	}
	return kd.query(plan, copied), nil
}

// Update runs fn in one optimistic unit of work; see storage.Backend. A
// cancelled ctx before the commit writes nothing and returns ctx.Err().
func (s *Store) Update(ctx context.Context, fn func(storage.Tx) error) error {
	if fn == nil {
		return itsm.Invalidf("memory: update without a function")
	}
	tenant, err := s.tenant(ctx)
	if err != nil {
		return err
	}
	if err := ctxErr(ctx); err != nil {
		return err
	}
	t := newTx(s, tenant)
	err = run(t, fn)
	t.mu.Lock()
	t.done = true
	t.mu.Unlock()
	if err != nil {
		return err
	}
	if err := ctxErr(ctx); err != nil {
		return err
	}
	return s.commit(t)
}

// run calls fn, turning a panic into an error.
func run(t *tx, fn func(storage.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = fmt.Errorf("memory: unit of work panicked: %w", e)
			} else {
				err = fmt.Errorf("memory: unit of work panicked: %v", r)
			}
		}
	}()
	return fn(t)
}

func ctxErr(ctx context.Context) error {
	if ctx == nil {
		return nil
	}
	return ctx.Err()
}

// commit validates the unit's expected versions against the committed state
// and applies its writes and events, all under the write lock.
func (s *Store) commit(t *tx) error {
	if len(t.writes) == 0 && len(t.events) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	td := s.tenantFor(t.tenant)
	for i := range t.writes {
		w := &t.writes[i]
		w.kd = s.writableKind(td, w.key.kind)
		if w.kd.gen != w.gen {
			return fmt.Errorf("%w: memory: %s %s: the kind's schema changed while the unit ran", itsm.ErrConflict, w.key.kind, w.key.id)
		}
		if w.kd.docs[w.key.id].Version != w.base { // a missing document has version 0
			return &itsm.ConflictError{Kind: w.key.kind, ID: w.key.id, Expected: w.base}
		}
	}
	for i := range t.writes {
		w := &t.writes[i]
		if num := w.kd.number(w.doc); num != "" && !w.deleted && t.numberTaken(w.kd, num, w.key.id) {
			return &storage.DuplicateNumberError{Kind: w.key.kind, Number: num, ID: w.key.id}
		}
	}
	// Numbers the unit gives up are released before those it takes, so
	// that the map stays right whatever order the unit wrote in.
	for i := range t.writes {
		w := &t.writes[i]
		if num := w.kd.number(w.kd.docs[w.key.id]); num != "" && w.kd.numbers[num] == w.key.id {
			delete(w.kd.numbers, num)
		}
	}
	for i := range t.writes {
		w := &t.writes[i]
		if num := w.kd.number(w.doc); num != "" && !w.deleted {
			w.kd.numbers[num] = w.key.id
		}
	}
	for i := range t.writes {
		w := &t.writes[i]
		old, existed := w.kd.docs[w.key.id] // the zero Document when absent
		if w.deleted || !existed {
			w.kd.ids.Store(nil) // a document removed or added
		}
		if w.deleted {
			w.kd.unindex(old)
			w.kd.reorder(old, storage.Document{})
			delete(w.kd.docs, w.key.id)
			continue
		}
		w.kd.reindex(old, w.doc)
		w.kd.reorder(old, w.doc)
		w.kd.docs[w.key.id] = w.doc
	}
	for _, e := range t.events {
		pos := s.events.len()
		e.Seq = int64(pos) + 1
		rk := recordKey{e.Kind, e.RecordID}
		td.byRecord[rk] = append(td.byRecord[rk], pos)
		td.events = append(td.events, pos)
		s.events.append(e)
	}
	return nil
}

// ReadEvents returns up to limit of the tenant's events after Seq after,
// or of every tenant's under storage.AllTenants; see storage.Backend. A
// limit below 1 is ErrInvalid.
func (s *Store) ReadEvents(ctx context.Context, after int64, limit int) ([]itsm.Event, error) {
	if limit < 1 {
		return nil, itsm.Invalidf("memory: read events: limit %d, want at least 1", limit)
	}
	var out []itsm.Event
	err := s.ScanEvents(ctx, after, limit, func(run []itsm.Event) error {
		if out == nil {
			out = make([]itsm.Event, 0, min(limit, len(run)))
		}
		for i := range run {
			out = append(out, cloneEvent(run[i]))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

var _ storage.EventScanner = (*Store)(nil)

// ScanEvents hands fn the events after Seq after, up to limit, in Seq
// order, in place: each run fn gets is a part of one chunk of the log
// itself; see storage.EventScanner. Like ReadEvents it hands over the
// tenant's events, or every tenant's under storage.AllTenants: a run is
// then a stretch of consecutive events of the tenant. It holds the read
// lock only while it finds the next run, never while fn runs, so fn may
// use the store and writers are not held up by a long scan: committed
// events are never changed, and a chunk's events below the length read
// under the lock stay where they are while later ones are appended.
func (s *Store) ScanEvents(ctx context.Context, after int64, limit int, fn func([]itsm.Event) error) error {
	if limit < 1 || fn == nil {
		return itsm.Invalidf("memory: scan events: limit %d (want at least 1) or nil function", limit)
	}
	tenant, err := s.tenant(ctx)
	all := storage.IsAllTenants(ctx)
	if err != nil && !all {
		return err
	}
	i := int(max(after, 0)) // the position of the next event to consider
	for limit > 0 {
		if err := ctxErr(ctx); err != nil {
			return err
		}
		s.mu.RLock()
		start, n, ok := s.nextRun(tenant, all, i)
		if !ok {
			s.mu.RUnlock()
			return nil
		}
		chunk := s.events.chunks[start/eventChunk] // its length now is what is committed
		s.mu.RUnlock()
		part := chunk[start%eventChunk : start%eventChunk+n]
		if limit < len(part) {
			part = part[:limit]
		}
		if err := fn(part[:len(part):len(part)]); err != nil { // the log's own events: fn only reads them
			return err
		}
		i = start + len(part)
		limit -= len(part)
	}
	return nil
}

// nextRun finds the next run of events to hand out from position i on:
// its start and length within one chunk, false when there is none. The
// caller holds the read lock.
func (s *Store) nextRun(tenant string, all bool, i int) (start, n int, ok bool) {
	total := s.events.len()
	chunkEnd := func(p int) int { return min(total, (p/eventChunk+1)*eventChunk) }
	if i >= total {
		return 0, 0, false
	}
	td := s.tenants[tenant]
	if all || td != nil && len(td.events) == total { // every event qualifies
		return i, chunkEnd(i) - i, true
	}
	if td == nil {
		return 0, 0, false
	}
	k, _ := slices.BinarySearch(td.events, i)
	if k == len(td.events) {
		return 0, 0, false
	}
	start = td.events[k]
	end := chunkEnd(start)
	n = 1
	for k+n < len(td.events) && td.events[k+n] == start+n && start+n < end {
		n++
	}
	return start, n, true
}

// History returns the events of one record of the tenant in RecordVersion
// order; see storage.Backend. A record without events has an empty
// history.
func (s *Store) History(ctx context.Context, kind, id string) ([]itsm.Event, error) {
	tenant, err := s.tenant(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var pos []int
	if td := s.tenants[tenant]; td != nil {
		pos = td.byRecord[recordKey{kind, id}]
	}
	out := make([]itsm.Event, len(pos))
	n := 0
	for i, p := range pos {
		out[i] = *s.events.at(p)
		n += len(out[i].Changes)
	}
	changes := make([]itsm.FieldChange, 0, n)
	for i := range out {
		out[i].Changes, changes = cloneChanges(out[i].Changes, changes)
	}
	slices.SortStableFunc(out, func(a, b itsm.Event) int {
		switch {
		case a.RecordVersion < b.RecordVersion:
			return -1
		case a.RecordVersion > b.RecordVersion:
			return 1
		}
		return 0
	})
	return out, nil
}

// eventLog is the append-only log, kept in fixed-size chunks so that it
// grows without copying what it holds; the event at position i has Seq i+1.
type eventLog struct {
	chunks [][]itsm.Event
	n      int
}

const eventChunk = 1024

func (l *eventLog) len() int { return l.n }

func (l *eventLog) at(i int) *itsm.Event { return &l.chunks[i/eventChunk][i%eventChunk] }

// append adds e to the log.
func (l *eventLog) append(e itsm.Event) {
	if l.n%eventChunk == 0 {
		l.chunks = append(l.chunks, make([]itsm.Event, 0, eventChunk))
	}
	last := len(l.chunks) - 1
	l.chunks[last] = append(l.chunks[last], e)
	l.n++
}

// Close does nothing: a Store holds no outside resources. It stays usable.
func (s *Store) Close() error { return nil }

// nextSequence hands out the next value of a tenant's sequence, committed
// at once.
func (s *Store) nextSequence(tenant, name string) (int64, error) {
	if !storage.ValidName(name) {
		return 0, itsm.Invalidf("memory: sequence name %q is not a lower-case identifier", name)
	}
	k := seqKey{tenant, name}
	s.seqMu.Lock()
	defer s.seqMu.Unlock()
	s.seqs[k]++
	return s.seqs[k], nil
}

// advanceSequence moves a tenant's sequence to at least atLeast, at once.
func (s *Store) advanceSequence(tenant, name string, atLeast int64) error {
	if !storage.ValidName(name) {
		return itsm.Invalidf("memory: sequence name %q is not a lower-case identifier", name)
	}
	k := seqKey{tenant, name}
	s.seqMu.Lock()
	defer s.seqMu.Unlock()
	s.seqs[k] = max(s.seqs[k], atLeast)
	return nil
}

// reindex moves d's id from old's field values to d's; old is the zero
// Document for a new id.
func (kd *kindData) reindex(old, d storage.Document) {
	for i, v := range d.Fields {
		if kd.index[i] == nil {
			continue
		}
		if old.Fields != nil {
			if old.Fields[i] == v {
				continue
			}
			kd.drop(i, old.Fields[i], d.ID)
		}
		set := kd.index[i][v]
		switch {
		case set.many != nil:
			set.many[d.ID] = struct{}{}
		case set.one == "":
			set.one = d.ID
		default:
			set.many = map[string]struct{}{set.one: {}, d.ID: {}}
			set.one = ""
		}
		kd.index[i][v] = set
	}
}

func (kd *kindData) unindex(d storage.Document) {
	for i, v := range d.Fields {
		kd.drop(i, v, d.ID)
	}
}

func (kd *kindData) drop(field int, v storage.Value, id string) {
	if kd.index[field] == nil {
		return
	}
	set := kd.index[field][v]
	if set.many != nil {
		delete(set.many, id)
		if len(set.many) > 0 {
			return
		}
	} else if set.one != id {
		return
	}
	delete(kd.index[field], v)
}

func cloneDoc(d storage.Document) storage.Document {
	d.Data = slices.Clone(d.Data)
	d.Fields = slices.Clone(d.Fields)
	return d
}

// changesBuffer returns an empty slice with room for the changes of every
// one of events, which cloneChanges copies them into: one allocation for a
// call's events instead of one per event. Events are never removed from
// the log, so no event's changes keep another's alive for longer.
func changesBuffer(events []itsm.Event) []itsm.FieldChange {
	n := 0
	for i := range events {
		n += len(events[i].Changes)
	}
	if n == 0 {
		return nil
	}
	return make([]itsm.FieldChange, 0, n)
}

// cloneChanges copies c to the end of buf and returns the copy (nil for
// nil and empty for empty, as slices.Clone), its capacity its length so
// that an append to it cannot reach the next event's, and buf grown by it.
func cloneChanges(c, buf []itsm.FieldChange) (clone, rest []itsm.FieldChange) {
	if len(c) == 0 {
		return c[:0:0], buf
	}
	at := len(buf)
	buf = append(buf, c...)
	return buf[at:len(buf):len(buf)], buf
}

func cloneEvent(e itsm.Event) itsm.Event {
	e.Changes = slices.Clone(e.Changes)
	return e
}

func cloneSchema(sc storage.Schema) storage.Schema {
	sc.Fields = slices.Clone(sc.Fields)
	sc.Indexes = slices.Clone(sc.Indexes)
	for i := range sc.Indexes {
		sc.Indexes[i].Fields = slices.Clone(sc.Indexes[i].Fields)
	}
	return sc
}
