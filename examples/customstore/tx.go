package customstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// A unit of work reads committed documents as it goes (caching them, so a
// Get then Put costs one round trip), buffers its writes and events, and
// commits everything with one Lua script. Redis runs a script atomically, so
// the script first checks that every written document still has the version
// the unit read (optimistic concurrency: ErrConflict otherwise, with nothing
// written), then writes the documents and their index entries, and finally
// numbers the events with INCR and appends them to the log stream. Because
// numbering and appending happen inside the same atomic script, Seq values
// become visible in commit order with no holes: a reader that saw Seq n can
// never later find a unit committing n-1. That is the "never skip a late
// commit" rule of storage.Backend.ReadEvents, for free.
//
// Human numbers are kept unique the same way: each kind with numbers has a
// hash from number to id, and the script refuses (returning -w) a write w
// whose new number another document holds, unless the unit itself gives
// that number up, before it writes anything.
//
// Every event also goes to its tenant's own stream (KEYS[3], with the same
// Seq) unless the tenant is the default one (ARGV[4] empty), whose events
// are read off the whole log; a tenant is added to the tenants set
// (KEYS[4]) so that a migration finds its documents.
var commitScript = redis.NewScript(`
local i = 5
if ARGV[4] ~= '' then redis.call('SADD', KEYS[4], ARGV[4]) end
local function nx() local v = ARGV[i]; i = i + 1; return v end
local ws = {}
for w = 1, tonumber(ARGV[1]) do
  local x = {key = KEYS[tonumber(nx())], base = nx(), op = nx()}
  if x.op == 'p' then x.v = nx(); x.d = nx(); x.f = nx() end
  x.nkey = KEYS[tonumber(nx())]; x.id = nx(); x.old = nx(); x.new = nx()
  if (redis.call('HGET', x.key, 'v') or '0') ~= x.base then return w end
  ws[w] = x
end
local released, claimed = {}, {}
for _, x in ipairs(ws) do
  if x.old ~= '' and x.old ~= x.new then released[x.nkey .. ' ' .. x.old] = true end
end
for w, x in ipairs(ws) do
  if x.new ~= '' and x.new ~= x.old then
    local slot = x.nkey .. ' ' .. x.new
    local holder = redis.call('HGET', x.nkey, x.new)
    if claimed[slot] or (holder and holder ~= x.id and not released[slot]) then return -w end
    claimed[slot] = true
  end
end
for _, x in ipairs(ws) do
  if x.old ~= '' and x.old ~= x.new and redis.call('HGET', x.nkey, x.old) == x.id then redis.call('HDEL', x.nkey, x.old) end
end
for _, x in ipairs(ws) do
  if x.new ~= '' then redis.call('HSET', x.nkey, x.new, x.id) end
end
for _, x in ipairs(ws) do
  if x.op == 'p' then redis.call('HSET', x.key, 'v', x.v, 'd', x.d, 'f', x.f) else redis.call('DEL', x.key) end
end
for _ = 1, tonumber(ARGV[2]) do
  local key = KEYS[tonumber(nx())]
  for _, cmd in ipairs({'ZREM', 'ZADD'}) do
    local n, batch = tonumber(nx()), {}
    for j = 1, n do
      if cmd == 'ZADD' then batch[#batch+1] = 0 end
      batch[#batch+1] = nx()
      if #batch >= 1000 or j == n then redis.call(cmd, key, unpack(batch)); batch = {} end
    end
  end
end
for _ = 1, tonumber(ARGV[3]) do
  local h = KEYS[tonumber(nx())]; local body = nx()
  local seq = redis.call('INCR', KEYS[1])
  redis.call('XADD', KEYS[2], seq .. '-0', 'e', body)
  if ARGV[4] ~= '' then redis.call('XADD', KEYS[3], seq .. '-0', 'e', body) end
  redis.call('RPUSH', h, seq .. ' ' .. body)
end
return 0`)

type docRef struct{ kind, id string }

// entry is a document as the unit sees it.
type entry struct {
	ki    *kindInfo
	base  storage.Document // committed when first read; Version 0: absent
	cur   storage.Document // as the unit sees it
	found bool             // cur exists
	dirty bool
}

type tx struct {
	s      *Store
	sc     scope // the unit's tenant, decided by Update's context
	ctx    context.Context
	mu     sync.Mutex // a fn may share its tx across goroutines
	done   bool
	seen   map[docRef]*entry
	order  []docRef // dirty documents in first-write order
	events []itsm.Event
}

var errDone = itsm.Invalidf("customstore: unit of work used after its function returned")

// Update runs fn in one unit of work; see storage.Backend.
func (s *Store) Update(ctx context.Context, fn func(storage.Tx) error) error {
	if fn == nil {
		return itsm.Invalidf("customstore: update without a function")
	}
	sc, err := s.scope(ctx)
	if err != nil {
		return err
	}
	ctx = bg(ctx)
	if err := ctx.Err(); err != nil {
		return err
	}
	t := &tx{s: s, sc: sc, ctx: ctx, seen: map[docRef]*entry{}}
	err = run(t, fn)
	t.mu.Lock()
	t.done = true
	t.mu.Unlock()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return t.commit(ctx)
}

func run(t *tx, fn func(storage.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = fmt.Errorf("customstore: unit of work panicked: %w", e)
			} else {
				err = fmt.Errorf("customstore: unit of work panicked: %v", r)
			}
		}
	}()
	return fn(t)
}

// view returns the unit's entry for a document, reading it from Redis the
// first time. The caller holds t.mu.
func (t *tx) view(ctx context.Context, kind, id string) (*entry, error) {
	if t.done {
		return nil, errDone
	}
	ki, err := t.s.kind(kind)
	if err != nil {
		return nil, err
	}
	ref := docRef{kind, id}
	if e := t.seen[ref]; e != nil {
		return e, nil
	}
	d, err := t.s.load(bg(ctx), t.sc, ki, id)
	e := &entry{ki: ki, base: d, cur: d, found: err == nil}
	if err != nil && !errors.Is(err, itsm.ErrNotFound) {
		return nil, err
	}
	if !e.found {
		e.base = storage.Document{}
	}
	t.seen[ref] = e
	return e, nil
}

// Get returns the document as the unit sees it.
func (t *tx) Get(ctx context.Context, kind, id string) (storage.Document, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, err := t.view(ctx, kind, id)
	if err != nil {
		return storage.Document{}, err
	}
	if !e.found {
		return storage.Document{}, &itsm.NotFoundError{Kind: kind, ID: id}
	}
	return clone(e.cur), nil
}

// Query reads committed documents only; see storage.Tx.
func (t *tx) Query(ctx context.Context, q storage.Query) (storage.Page, error) {
	t.mu.Lock()
	done := t.done
	t.mu.Unlock()
	if done {
		return storage.Page{}, errDone
	}
	return t.s.queryIn(bg(ctx), t.sc, q)
}

// Put buffers d when the version the unit sees equals expected.
func (t *tx) Put(ctx context.Context, d storage.Document, expected int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return errDone
	}
	ki, err := t.s.kind(d.Kind)
	if err != nil {
		return err
	}
	if err := ki.schema.CheckDocument(d); err != nil {
		return err
	}
	if expected < 0 || d.Version <= expected {
		return itsm.Invalidf("customstore: put %s %s: version %d must be greater than expected version %d (at least 0)", d.Kind, d.ID, d.Version, expected)
	}
	e, err := t.view(ctx, d.Kind, d.ID)
	if err != nil {
		return err
	}
	if e.cur.Version != expected || e.found != (expected > 0) {
		return &itsm.ConflictError{Kind: d.Kind, ID: d.ID, Expected: expected}
	}
	e.cur, e.found = clone(d), true
	t.markDirty(e, d.Kind, d.ID)
	return nil
}

// Delete buffers the removal of a document at version.
func (t *tx) Delete(ctx context.Context, kind, id string, version int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, err := t.view(ctx, kind, id)
	if err != nil {
		return err
	}
	if !e.found {
		return &itsm.NotFoundError{Kind: kind, ID: id}
	}
	if e.cur.Version != version {
		return &itsm.ConflictError{Kind: kind, ID: id, Expected: version}
	}
	e.cur, e.found = storage.Document{}, false
	t.markDirty(e, kind, id)
	return nil
}

func (t *tx) markDirty(e *entry, kind, id string) {
	if !e.dirty {
		e.dirty = true
		t.order = append(t.order, docRef{kind, id})
	}
}

// NextSequence returns the next value of a sequence at once (INCR); a unit
// that rolls back leaves a gap.
func (t *tx) NextSequence(ctx context.Context, name string) (int64, error) {
	t.mu.Lock()
	done := t.done
	t.mu.Unlock()
	if done {
		return 0, errDone
	}
	if !storage.ValidName(name) {
		return 0, itsm.Invalidf("customstore: sequence name %q is not a lower-case identifier", name)
	}
	n, err := t.s.rdb.Incr(bg(ctx), t.sc.seqKey(name)).Result()
	if err != nil {
		return 0, fmt.Errorf("customstore: sequence %s: %w", name, err)
	}
	return n, nil
}

// advanceScript sets a sequence to ARGV[1] unless it is there already, in
// one atomic step with every INCR.
var advanceScript = redis.NewScript(`
if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 0`)

// AdvanceSequence moves a sequence past atLeast at once; a unit that rolls
// back keeps the move. See storage.Tx.
func (t *tx) AdvanceSequence(ctx context.Context, name string, atLeast int64) error {
	t.mu.Lock()
	done := t.done
	t.mu.Unlock()
	if done {
		return errDone
	}
	if !storage.ValidName(name) {
		return itsm.Invalidf("customstore: sequence name %q is not a lower-case identifier", name)
	}
	if atLeast < 1 {
		return nil
	}
	if err := advanceScript.Run(bg(ctx), t.s.rdb, []string{t.sc.seqKey(name)}, atLeast).Err(); err != nil {
		return fmt.Errorf("customstore: advance sequence %s: %w", name, err)
	}
	return nil
}

// Append buffers events; the commit script gives them their Seq.
func (t *tx) Append(_ context.Context, events ...itsm.Event) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return errDone
	}
	return t.append(events)
}

func (t *tx) append(events []itsm.Event) error {
	for _, e := range events {
		if !storage.ValidName(e.Kind) {
			return itsm.Invalidf("customstore: event %s: kind %q is not a lower-case identifier", e.ID, e.Kind)
		}
		if e.Tenant != "" && e.Tenant != t.sc.tenant {
			return itsm.Invalidf("customstore: append: event %s of %s %s names tenant %q in a unit of tenant %q", e.ID, e.Kind, e.RecordID, e.Tenant, t.sc.tenant)
		}
	}
	for _, e := range events {
		e.Changes = slices.Clone(e.Changes)
		e.Tenant = t.sc.tenant
		t.events = append(t.events, e)
	}
	return nil
}

var _ storage.BulkImporter = (*Store)(nil)

// Import writes new documents and their events with one commit script,
// without reading each document first as Tx.Put must: the script's version
// check (every document absent) does that, all or nothing. It implements
// storage.BulkImporter. Redis runs a script alone, so hosts importing
// millions of records call Import in chunks of a few thousand.
func (s *Store) Import(ctx context.Context, docs []storage.Document, events []itsm.Event) error {
	sc, err := s.scope(ctx)
	if err != nil {
		return err
	}
	t := &tx{s: s, sc: sc, ctx: bg(ctx), seen: make(map[docRef]*entry, len(docs)), done: true}
	for _, d := range docs {
		ki, err := s.kind(d.Kind)
		if err != nil {
			return err
		}
		if err := ki.schema.CheckDocument(d); err != nil {
			return err
		}
		ref := docRef{d.Kind, d.ID}
		if t.seen[ref] != nil {
			return &itsm.ConflictError{Kind: d.Kind, ID: d.ID}
		}
		t.seen[ref] = &entry{ki: ki, cur: d, found: true, dirty: true}
		t.order = append(t.order, ref)
	}
	if err := t.append(events); err != nil {
		return err
	}
	return t.commit(t.ctx)
}

// commit sends the unit's writes and events to the commit script.
func (t *tx) commit(ctx context.Context) error {
	if len(t.order) == 0 && len(t.events) == 0 {
		return nil
	}
	keys := []string{t.s.logSeqKey(), t.s.logKey(), t.sc.logKey(), t.s.tenantsKey()}
	slot := map[string]string{}
	key := func(k string) string {
		if n, ok := slot[k]; ok {
			return n
		}
		keys = append(keys, k)
		slot[k] = strconv.Itoa(len(keys))
		return slot[k]
	}
	type changes struct{ rem, add []string }
	var sets []string // index keys in first-use order
	bySet := map[string]*changes{}
	change := func(m [2]string, add bool) {
		k := t.sc.key(m[0])
		c := bySet[k]
		if c == nil {
			c = &changes{}
			bySet[k] = c
			sets = append(sets, k)
		}
		if add {
			c.add = append(c.add, m[1])
		} else {
			c.rem = append(c.rem, m[1])
		}
	}
	tenant := t.sc.tenant
	if tenant == itsm.DefaultTenant {
		tenant = ""
	}
	args := []any{len(t.order), 0, len(t.events), tenant}
	for _, ref := range t.order {
		e := t.seen[ref]
		args = append(args, key(t.sc.docKey(ref.kind, ref.id)), e.base.Version)
		if e.found {
			args = append(args, "p", e.cur.Version, e.cur.Data, encodeFields(e.cur.Fields))
		} else {
			args = append(args, "d")
		}
		var oldNum, curNum string // the numbers given up and taken
		if e.base.Version > 0 {
			oldNum = e.ki.number(e.base)
		}
		if e.found {
			curNum = e.ki.number(e.cur)
		}
		args = append(args, key(t.sc.numKey(ref.kind)), ref.id, oldNum, curNum)
		var old, cur [][2]string
		if e.base.Version > 0 {
			old = e.ki.members(e.base)
		}
		if e.found {
			cur = e.ki.members(e.cur)
		}
		for _, m := range diff(old, cur) {
			change(m, false)
		}
		for _, m := range diff(cur, old) {
			change(m, true)
		}
	}
	args[1] = len(sets)
	for _, k := range sets {
		c := bySet[k]
		args = append(args, key(k), len(c.rem))
		for _, m := range c.rem {
			args = append(args, m)
		}
		args = append(args, len(c.add))
		for _, m := range c.add {
			args = append(args, m)
		}
	}
	for _, e := range t.events {
		e.Seq = 0
		body, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("customstore: event %s: %w", e.ID, err)
		}
		args = append(args, key(t.sc.histKey(e.Kind, e.RecordID)), body)
	}
	// Once sent, the unit runs to the end even if ctx is cancelled now, so
	// an error never hides a commit.
	n, err := commitScript.Run(context.WithoutCancel(ctx), t.s.rdb, keys, args...).Int()
	if err != nil {
		return fmt.Errorf("customstore: commit: %w", err)
	}
	if n > 0 && n <= len(t.order) {
		ref := t.order[n-1]
		return &itsm.ConflictError{Kind: ref.kind, ID: ref.id, Expected: t.seen[ref].base.Version}
	}
	if n < 0 && -n <= len(t.order) {
		ref := t.order[-n-1]
		e := t.seen[ref]
		return &storage.DuplicateNumberError{Kind: ref.kind, Number: e.ki.number(e.cur), ID: ref.id}
	}
	return nil
}

// diff returns the entries of a that are not in b (both are short).
func diff(a, b [][2]string) [][2]string {
	var out [][2]string
	for _, m := range a {
		if !slices.Contains(b, m) {
			out = append(out, m)
		}
	}
	return out
}

func clone(d storage.Document) storage.Document {
	d.Data = slices.Clone(d.Data)
	d.Fields = slices.Clone(d.Fields)
	return d
}
