package customstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

var _ storage.Backend = (*Store)(nil)

// Store is a storage.Backend on Redis. It is safe for concurrent use, and
// several Store values (in one process or many) may share a prefix: Redis
// holds everything, the Store only caches the schemas it registered.
type Store struct {
	rdb    redis.UniversalClient
	prefix string // "{name}:" — the hash tag keeps every key in one cluster slot

	requireTenant bool

	mu    sync.RWMutex
	kinds map[string]*kindInfo
}

// Option configures a Store.
type Option func(*Store)

// RequireTenant makes the Store refuse, with ErrInvalid, every call whose
// context names no tenant (itsm.WithTenant) instead of serving
// itsm.DefaultTenant.
func RequireTenant() Option { return func(s *Store) { s.requireTenant = true } }

// scope is where one tenant's keys live: under the prefix itself for the
// default tenant (so data written before tenants existed is the default
// tenant's), under "{prefix}:t:<tenant>:" for every other. Tenant ids hold
// no ':', so no tenant's keys meet another's.
type scope struct {
	s      *Store
	tenant string
	p      string
}

// scope returns the scope of a call with ctx; see storage.TenantOf.
func (s *Store) scope(ctx context.Context) (scope, error) {
	t, err := storage.TenantOf(ctx, s.requireTenant)
	if err != nil {
		return scope{}, err
	}
	return s.scopeOf(t), nil
}

func (s *Store) scopeOf(tenant string) scope {
	if tenant == itsm.DefaultTenant {
		return scope{s: s, tenant: tenant, p: s.prefix}
	}
	return scope{s: s, tenant: tenant, p: s.prefix + "t:" + tenant + ":"}
}

// key maps a key of the default tenant (under the prefix) to the scope's.
func (sc scope) key(k string) string {
	if sc.p == sc.s.prefix {
		return k
	}
	return sc.p + k[len(sc.s.prefix):]
}

func (sc scope) docKey(kind, id string) string  { return sc.p + "doc:" + kind + ":" + id }
func (sc scope) histKey(kind, id string) string { return sc.p + "hist:" + kind + ":" + id }
func (sc scope) numKey(kind string) string      { return sc.p + "num:" + kind }
func (sc scope) seqKey(name string) string      { return sc.p + "seq:" + name }

// logKey is the scope's own event stream: the whole log for the default
// tenant (read with the other tenants' events skipped), a stream of its
// own for any other.
func (sc scope) logKey() string { return sc.p + "log" }

// kindInfo is a registered kind and the sorted sets that index it.
type kindInfo struct {
	schema storage.Schema
	sets   []zset // sets[0] is the id index
	numIdx int    // position of the storage.NumberField, -1 without one
}

// number returns d's human number, "" when it has none.
func (ki *kindInfo) number(d storage.Document) string {
	if ki.numIdx < 0 || len(d.Fields) <= ki.numIdx {
		return ""
	}
	return d.Fields[ki.numIdx].Str()
}

// zset is one index: ordered by fields (positions in schema.Fields), then id.
// twin says it has a descending twin (key + ":d") next to key + ":a". An
// empty key stands for the missing set of a CompositeOnly field.
type zset struct {
	key    string
	fields []int
	twin   bool
}

// MaxReadEvents caps what one ReadEvents call returns.
const MaxReadEvents = 10_000

// New returns a Store keeping its data in rdb under keys that start with
// "{prefix}:", configured by opts. The caller owns rdb: Close does not
// close it. A prefix is one or more of a-z, A-Z, 0-9, '_', '-', '.'.
func New(rdb redis.UniversalClient, prefix string, opts ...Option) (*Store, error) {
	if rdb == nil {
		return nil, itsm.Invalidf("customstore: no redis client")
	}
	if prefix == "" || strings.Trim(prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != "" {
		return nil, itsm.Invalidf("customstore: prefix %q must be letters, digits, '_', '-' or '.'", prefix)
	}
	s := &Store{rdb: rdb, prefix: "{" + prefix + "}:", kinds: map[string]*kindInfo{}}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	return s, nil
}

// Prefix returns the prefix the Store was opened with.
func (s *Store) Prefix() string { return s.prefix[1 : len(s.prefix)-2] }

func (s *Store) logKey() string     { return s.prefix + "log" }
func (s *Store) logSeqKey() string  { return s.prefix + "logseq" }
func (s *Store) tenantsKey() string { return s.prefix + "tenants" }

// bg turns a nil context, as a careless caller passes it, into Background.
func bg(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}

// Register declares a kind; see storage.Backend. The schema is kept in
// Redis and shared by every tenant. Registering a changed schema migrates
// the kind (storage.CompareSchemas): every tenant's documents get their
// field values converted and their index entries rebuilt, then the new
// schema is stored. The migration is not atomic with concurrent writers:
// run it at start-up, and give every instance on the prefix the new schema
// (an instance still on the old one writes documents of the old shape).
func (s *Store) Register(ctx context.Context, sc storage.Schema) error {
	if _, err := storage.TenantOf(ctx, false); err != nil { // schemas are every tenant's: none is required
		return err
	}
	if err := sc.Validate(); err != nil {
		return err
	}
	s.mu.RLock()
	known := s.kinds[sc.Kind]
	s.mu.RUnlock()
	if known != nil && known.schema.Equal(sc) {
		return nil
	}
	enc, err := json.Marshal(sc)
	if err != nil {
		return fmt.Errorf("customstore: register %s: %w", sc.Kind, err)
	}
	key := s.prefix + "schema:" + sc.Kind
	ctx = bg(ctx)
	set, err := s.rdb.SetNX(ctx, key, enc, 0).Result()
	if err != nil {
		return fmt.Errorf("customstore: register %s: %w", sc.Kind, err)
	}
	ki := newKindInfo(s.prefix, sc)
	if !set {
		cur, err := s.rdb.Get(ctx, key).Result()
		if err != nil {
			return fmt.Errorf("customstore: register %s: %w", sc.Kind, err)
		}
		if cur != string(enc) {
			var old storage.Schema
			if err := json.Unmarshal([]byte(cur), &old); err != nil || old.Validate() != nil {
				return fmt.Errorf("customstore: register %s: the stored schema is malformed: %q", sc.Kind, cur)
			}
			diff, err := storage.CompareSchemas(old, sc)
			if err != nil {
				return err
			}
			if !diff.Empty() {
				if err := s.migrate(ctx, newKindInfo(s.prefix, old), ki); err != nil {
					return err
				}
			}
			if err := s.rdb.Set(ctx, key, enc, 0).Err(); err != nil {
				return fmt.Errorf("customstore: register %s: %w", sc.Kind, err)
			}
		}
	}
	if err := s.indexNumbers(ctx, ki); err != nil {
		return err
	}
	s.mu.Lock()
	s.kinds[sc.Kind] = ki
	s.mu.Unlock()
	return nil
}

// migrateBatch is how many documents a migration rewrites per pipeline.
const migrateBatch = 500

// migrate rewrites every tenant's documents of a kind from old to next:
// field values converted, index sets rebuilt.
func (s *Store) migrate(ctx context.Context, old, next *kindInfo) error {
	kind := next.schema.Kind
	tenants, err := s.rdb.SMembers(ctx, s.tenantsKey()).Result()
	if err != nil {
		return fmt.Errorf("customstore: register %s: %w", kind, err)
	}
	for _, t := range append([]string{itsm.DefaultTenant}, tenants...) {
		if err := s.migrateScope(ctx, s.scopeOf(t), old, next); err != nil {
			return fmt.Errorf("customstore: register %s: tenant %s: %w", kind, t, err)
		}
	}
	return nil
}

func (s *Store) migrateScope(ctx context.Context, sc scope, old, next *kindInfo) error {
	kind := next.schema.Kind
	members, err := s.rdb.ZRange(ctx, sc.key(old.sets[0].key), 0, -1).Result()
	if err != nil {
		return err
	}
	// Drop every index set but the ids (the same in both), then refill.
	var drop []string
	for _, z := range old.sets[1:] {
		if z.key == "" {
			continue
		}
		if z.twin {
			drop = append(drop, sc.key(z.key+":a"), sc.key(z.key+":d"))
		} else {
			drop = append(drop, sc.key(z.key))
		}
	}
	if old.numIdx >= 0 && next.numIdx < 0 {
		drop = append(drop, sc.numKey(kind), sc.p+"numready:"+kind)
	}
	if len(drop) > 0 {
		if err := s.rdb.Del(ctx, drop...).Err(); err != nil {
			return err
		}
	}
	for len(members) > 0 {
		batch := members[:min(len(members), migrateBatch)]
		members = members[len(batch):]
		ids := make([]string, len(batch))
		cmds := make([]*redis.SliceCmd, len(batch))
		pipe := s.rdb.Pipeline()
		for i, m := range batch {
			if ids[i], err = memberID(m); err != nil {
				return err
			}
			cmds[i] = pipe.HMGet(ctx, sc.docKey(kind, ids[i]), "v", "d", "f")
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		pipe = s.rdb.Pipeline()
		for i, c := range cmds {
			r := c.Val()
			d, ok, err := old.decodeDoc(ids[i], r[0], r[1], r[2])
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			d.Fields = storage.ConvertFields(old.schema, next.schema, d.Fields)
			pipe.HSet(ctx, sc.docKey(kind, d.ID), "f", encodeFields(d.Fields))
			for _, m := range next.members(d) {
				pipe.ZAdd(ctx, sc.key(m[0]), redis.Z{Member: m[1]})
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// indexNumbers fills the number hash of a kind whose documents were written
// before numbers were kept unique (by an earlier version of this package),
// once per prefix: {p}:numready:<kind> marks it done. Documents that
// repeat a number fail it with a *storage.DuplicateNumberError naming one.
// Upgrade every instance first: an old one writing meanwhile does not
// maintain the hash.
func (s *Store) indexNumbers(ctx context.Context, ki *kindInfo) error {
	if ki.numIdx < 0 {
		return nil
	}
	kind, ready := ki.schema.Kind, s.prefix+"numready:"+ki.schema.Kind
	def := s.scopeOf(itsm.DefaultTenant) // only the default tenant's data predates numbers
	if n, err := s.rdb.Exists(ctx, ready).Result(); err != nil || n == 1 {
		return err
	}
	plan, err := ki.schema.CheckQuery(storage.Query{Kind: kind, Limit: storage.MaxLimit})
	if err != nil {
		return err
	}
	for {
		page, err := s.query(ctx, def, ki, plan)
		if err != nil {
			return err
		}
		for _, d := range page.Docs {
			num := ki.number(d)
			if num == "" {
				continue
			}
			if err := s.rdb.HSetNX(ctx, def.numKey(kind), num, d.ID).Err(); err != nil {
				return fmt.Errorf("customstore: register %s: %w", kind, err)
			}
			if holder, err := s.rdb.HGet(ctx, def.numKey(kind), num).Result(); err != nil || holder != d.ID {
				if err != nil {
					return fmt.Errorf("customstore: register %s: %w", kind, err)
				}
				return fmt.Errorf("customstore: register %s: documents repeat a number: %w", kind, &storage.DuplicateNumberError{Kind: kind, Number: num})
			}
		}
		if page.Next == "" {
			break
		}
		if plan, err = ki.schema.CheckQuery(storage.Query{Kind: kind, Limit: storage.MaxLimit, Cursor: page.Next}); err != nil {
			return err
		}
	}
	return s.rdb.Set(ctx, ready, "1", 0).Err()
}

// newKindInfo lists the sorted sets of a kind: ids, each field but the
// CompositeOnly ones (with a descending twin) and each composite index (with
// a twin).
func newKindInfo(prefix string, sc storage.Schema) *kindInfo {
	ki := &kindInfo{schema: sc, numIdx: sc.NumberIndex()}
	base := prefix + "ix:" + sc.Kind + ":"
	ki.sets = append(ki.sets, zset{key: base + "id"})
	for i, f := range sc.Fields {
		if f.CompositeOnly { // no set of its own; the entry keeps sets[1+i] the field's
			ki.sets = append(ki.sets, zset{fields: []int{i}})
			continue
		}
		ki.sets = append(ki.sets, zset{key: base + "f:" + f.Name, fields: []int{i}, twin: true})
	}
	for _, ix := range sc.Indexes {
		z := zset{key: base + "i:" + ix.Name, twin: true}
		for _, f := range ix.Fields {
			z.fields = append(z.fields, sc.FieldIndex(f))
		}
		ki.sets = append(ki.sets, z)
	}
	// Own copies: the caller may reuse its slices.
	ki.schema.Fields = slices.Clone(sc.Fields)
	ki.schema.Indexes = slices.Clone(sc.Indexes)
	for i := range ki.schema.Indexes {
		ki.schema.Indexes[i].Fields = slices.Clone(sc.Indexes[i].Fields)
	}
	return ki
}

// kind returns a registered kind, ErrInvalid otherwise.
func (s *Store) kind(kind string) (*kindInfo, error) {
	s.mu.RLock()
	ki := s.kinds[kind]
	s.mu.RUnlock()
	if ki == nil {
		return nil, itsm.Invalidf("customstore: kind %q is not registered", kind)
	}
	return ki, nil
}

// members lists the index entries of d: (key, member) pairs.
func (ki *kindInfo) members(d storage.Document) [][2]string {
	out := make([][2]string, 0, 2*len(ki.sets))
	vals := make([]storage.Value, 0, 8)
	for _, z := range ki.sets {
		if z.key == "" {
			continue
		}
		vals = vals[:0]
		for _, fi := range z.fields {
			vals = append(vals, d.Fields[fi])
		}
		if !z.twin {
			out = append(out, [2]string{z.key, member(vals, d.ID, false)})
			continue
		}
		out = append(out, [2]string{z.key + ":a", member(vals, d.ID, false)}, [2]string{z.key + ":d", member(vals, d.ID, true)})
	}
	return out
}

// decodeDoc builds a document from the hash fields v, d, f; ok is false
// when the document does not exist.
func (ki *kindInfo) decodeDoc(id string, v, data, fields any) (storage.Document, bool, error) {
	vs, ok := v.(string)
	if !ok || vs == "" {
		return storage.Document{}, false, nil
	}
	d := storage.Document{Kind: ki.schema.Kind, ID: id}
	var err error
	if d.Version, err = strconv.ParseInt(vs, 10, 64); err != nil {
		return d, false, fmt.Errorf("customstore: %s %s: bad version %q", d.Kind, id, vs)
	}
	ds, _ := data.(string)
	d.Data = []byte(ds)
	fs, _ := fields.(string)
	if d.Fields, err = decodeFields(ki.schema.Fields, fs); err != nil {
		return d, false, fmt.Errorf("%s %s: %w", d.Kind, id, err)
	}
	if len(d.Fields) == 0 {
		d.Fields = nil
	}
	return d, true, nil
}

// Get returns the committed document; see storage.Backend.
func (s *Store) Get(ctx context.Context, kind, id string) (storage.Document, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return storage.Document{}, err
	}
	ki, err := s.kind(kind)
	if err != nil {
		return storage.Document{}, err
	}
	return s.load(bg(ctx), sc, ki, id)
}

func (s *Store) load(ctx context.Context, sc scope, ki *kindInfo, id string) (storage.Document, error) {
	r, err := s.rdb.HMGet(ctx, sc.docKey(ki.schema.Kind, id), "v", "d", "f").Result()
	if err != nil {
		return storage.Document{}, fmt.Errorf("customstore: get %s %s: %w", ki.schema.Kind, id, err)
	}
	d, ok, err := ki.decodeDoc(id, r[0], r[1], r[2])
	if err == nil && !ok {
		err = &itsm.NotFoundError{Kind: ki.schema.Kind, ID: id}
	}
	return d, err
}

// Query returns one page of committed documents; see storage.Backend, and
// the package documentation for how it walks the sorted sets.
func (s *Store) Query(ctx context.Context, q storage.Query) (storage.Page, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return storage.Page{}, err
	}
	return s.queryIn(bg(ctx), sc, q)
}

// queryIn runs q in a tenant's scope.
func (s *Store) queryIn(ctx context.Context, sc scope, q storage.Query) (storage.Page, error) {
	ki, err := s.kind(q.Kind)
	if err != nil {
		return storage.Page{}, err
	}
	plan, err := ki.schema.CheckQueryFor(sc.tenant, q)
	if err != nil {
		return storage.Page{}, err
	}
	return s.query(ctx, sc, ki, plan)
}

// ReadEvents returns up to limit of the tenant's events after Seq after,
// or every tenant's under storage.AllTenants, at most MaxReadEvents; see
// storage.Backend. A limit below 1 is ErrInvalid.
func (s *Store) ReadEvents(ctx context.Context, after int64, limit int) ([]itsm.Event, error) {
	if limit < 1 {
		return nil, itsm.Invalidf("customstore: read events: limit %d, want at least 1", limit)
	}
	all := storage.IsAllTenants(ctx)
	sc, err := s.scope(ctx)
	if err != nil && !all {
		return nil, err
	}
	key := sc.logKey()
	if all {
		key = s.logKey()
	}
	// The default tenant's events are read off the whole log, skipping
	// the others'; every other tenant has a stream of its own.
	skip := !all && sc.tenant == itsm.DefaultTenant
	limit = min(limit, MaxReadEvents)
	out := make([]itsm.Event, 0, min(limit, 256))
	for len(out) < limit && after < math.MaxInt64 {
		want := int64(limit - len(out))
		msgs, err := s.rdb.XRangeN(bg(ctx), key, strconv.FormatInt(max(after, 0)+1, 10), "+", want).Result()
		if err != nil {
			return nil, fmt.Errorf("customstore: read events: %w", err)
		}
		for _, m := range msgs {
			body, _ := m.Values["e"].(string)
			seq, _, _ := strings.Cut(m.ID, "-")
			e, err := decodeEvent(seq, body)
			if err != nil {
				return nil, err
			}
			after = e.Seq
			if skip && e.Tenant != itsm.DefaultTenant {
				continue
			}
			out = append(out, e)
		}
		if int64(len(msgs)) < want || !skip {
			break
		}
	}
	return out, nil
}

// History returns the events of one record in RecordVersion order; see
// storage.Backend. An invalid kind name is ErrInvalid.
func (s *Store) History(ctx context.Context, kind, id string) ([]itsm.Event, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	if !storage.ValidName(kind) {
		return nil, itsm.Invalidf("customstore: history: kind %q is not a lower-case identifier", kind)
	}
	items, err := s.rdb.LRange(bg(ctx), sc.histKey(kind, id), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("customstore: history %s %s: %w", kind, id, err)
	}
	out := make([]itsm.Event, len(items))
	for i, it := range items {
		seq, body, _ := strings.Cut(it, " ")
		if out[i], err = decodeEvent(seq, body); err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(out, func(a, b itsm.Event) int { return cmpInt(a.RecordVersion, b.RecordVersion) })
	return out, nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func decodeEvent(seq, body string) (itsm.Event, error) {
	var e itsm.Event
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		return e, fmt.Errorf("customstore: event %s: %w", seq, err)
	}
	n, err := strconv.ParseInt(seq, 10, 64)
	if err != nil {
		return e, fmt.Errorf("customstore: event with bad seq %q", seq)
	}
	e.Seq = n
	if e.Tenant == "" { // written before tenants existed
		e.Tenant = itsm.DefaultTenant
	}
	return e, nil
}

// Close forgets the registered kinds; it does not close the Redis client,
// which belongs to the caller.
func (s *Store) Close() error {
	s.mu.Lock()
	s.kinds = map[string]*kindInfo{}
	s.mu.Unlock()
	return nil
}
