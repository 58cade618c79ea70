package postgres

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// DefaultSchema is the PostgreSQL schema (namespace) a Store uses unless
// WithSchema names another.
const DefaultSchema = "pillars"

// DefaultEventReadWait bounds how long ReadEvents waits at a hole in the
// Seqs for the unit that may fill it; see WithEventReadWait.
const DefaultEventReadWait = time.Second

// Store is a storage.Backend on PostgreSQL. It is safe for concurrent use,
// and any number of Store values, in one process or many, may share one
// database and schema.
type Store struct {
	pool     *pgxpool.Pool
	ownsPool bool
	schema   string // the namespace, unquoted
	ns       string // the namespace, quoted

	readWait    time.Duration // see WithEventReadWait
	eventsClass int64         // the class (first key) of the event locks, see ReadEvents; as pg_locks shows it

	requireTenant bool   // a context without a tenant is ErrInvalid
	role          string // the role every statement on documents and events runs under ("": the pool's user)
	scopeSQL      string // sets role and tenant for the statements after it, see scope

	eventsTable      string // qualified, quoted
	kindsTable       string
	valuesSQL        [maxValuesEvents + 1]string // valuesSQL[n] inserts n events, see insertEvents
	readEventsSQL    string                      // one tenant's events
	readAllEventsSQL string                      // every tenant's events (storage.AllTenants)

	eventLockSQL     string // takes the namespace's and a tenant's event locks ($1: lockClass), see ReadEvents
	lastSeqSQL       string // the event sequence's last value
	tenantLastSeqSQL string // the same, unless the tenant's next committed Seq is after+1 or none ($1 tenant, $2 after)
	tenantLocksSQL   string // whether it skips, and the held keys of a tenant's event locks ($1 class, $2 tenant, $3 after)

	holeReads atomic.Int64 // reads that looked at the writers' locks (readSettled)
	gapWaits  atomic.Int64 // ReadEvents calls that waited at a hole

	mu    sync.RWMutex
	kinds map[string]*kindInfo

	// Test hooks; nil in production.
	beforeCommit func(ctx context.Context) // runs after the events are inserted, before COMMIT
	unsafeReads  bool                      // ReadEvents hands out every event it reads: only to show, in tests, what the hole rule prevents
	noEventLock  bool                      // writers leave the event locks out: only to measure, in benchmarks, what they cost them
	noScope      bool                      // send no role and tenant setting (row-level security then holds only for a pool user subject to it): only to measure, in benchmarks, what they cost
}

// Option configures a Store.
type Option func(*config)

type config struct {
	schema        string
	migrate       bool
	readWait      time.Duration
	requireTenant bool
	role          string
	tracer        pgx.QueryTracer // WithTelemetry: set on the pool Open makes
}

// DefaultRole is the PostgreSQL role a Store runs its statements on
// documents and events under, unless WithRole names another. Migrate
// creates it (NOLOGIN, neither superuser nor BYPASSRLS) when it is missing,
// so that row-level security holds even when the pool connects as a
// superuser.
const DefaultRole = "pillars_store"

// WithRequireTenant makes every call whose context names no tenant
// (itsm.WithTenant) fail with ErrInvalid, instead of belonging to
// itsm.DefaultTenant. A host serving several tenants sets it, so that a
// path that forgot the tenant fails rather than reads or writes the
// default tenant's data.
func WithRequireTenant() Option { return func(c *config) { c.requireTenant = true } }

// WithRole names the role the store runs its statements on documents and
// events under (SET LOCAL ROLE, sent with each statement), so that
// row-level security applies to them; the default is DefaultRole. The
// pool's user must be a member of it (Migrate creates the role and grants
// it to the user when it can) and the role must be subject to row-level
// security: not a superuser, not BYPASSRLS. WithRole("") runs them as the
// pool's user; the tables FORCE row-level security, so that is safe only
// when the pool's user is neither a superuser nor BYPASSRLS. Stores sharing
// a schema use the same role.
func WithRole(name string) Option { return func(c *config) { c.role = name } }

// WithSchema names the PostgreSQL schema (namespace) holding the store's
// tables; it must be a lower-case identifier (storage.ValidName). The
// default is DefaultSchema. Stores in different schemas of one database
// share nothing, not even their locks.
func WithSchema(name string) Option { return func(c *config) { c.schema = name } }

// WithMigrate says whether the constructor runs Migrate (the default) or
// only checks that the schema is already at SchemaVersion, for deployments
// that migrate in a separate step. Migrate also prepares the store's role
// (see WithRole): a deployment that migrates separately runs it with the
// same role.
func WithMigrate(run bool) Option { return func(c *config) { c.migrate = run } }

// WithEventReadWait bounds how long ReadEvents waits when it can hand out
// nothing yet: the events after the reader's position follow a hole in the
// Seqs, and a transaction that may fill it is still running (see
// Store.ReadEvents). Past the bound it returns an error matching
// itsm.ErrBusy: retry shortly. Zero does not wait: ReadEvents then returns
// what is safe, nothing, and no error. Writers never wait for a reader,
// whatever the bound. The default is DefaultEventReadWait.
func WithEventReadWait(d time.Duration) Option {
	return func(c *config) { c.readWait = d }
}

// New returns a Store on pool. The caller keeps ownership of pool: Close
// does not close it. Unless WithMigrate(false) is given, New runs Migrate.
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	if pool == nil {
		return nil, itsm.Invalidf("postgres: New without a pool")
	}
	if ctx == nil {
		return nil, errNilContext
	}
	c := config{schema: DefaultSchema, migrate: true, readWait: DefaultEventReadWait, role: DefaultRole}
	for _, o := range opts {
		o(&c)
	}
	if !storage.ValidName(c.schema) {
		return nil, itsm.Invalidf("postgres: schema name %q is not a lower-case identifier", c.schema)
	}
	if c.role != "" && !storage.ValidName(c.role) {
		return nil, itsm.Invalidf("postgres: role name %q is not a lower-case identifier", c.role)
	}
	if c.readWait < 0 {
		return nil, itsm.Invalidf("postgres: negative event read wait %s", c.readWait)
	}
	ns := quoteIdent(c.schema)
	s := &Store{
		pool:             pool,
		schema:           c.schema,
		ns:               ns,
		readWait:         c.readWait,
		requireTenant:    c.requireTenant,
		role:             c.role,
		scopeSQL:         scopeSQL(c.role),
		eventsTable:      ns + "._events",
		kindsTable:       ns + "._kinds",
		kinds:            map[string]*kindInfo{},
		valuesSQL:        buildValuesSQL(ns + "._events"),
		readEventsSQL:    "SELECT " + eventColumns + " FROM " + ns + "._events WHERE tenant = $3 AND seq > $1 ORDER BY seq LIMIT $2", // eventsTable
		readAllEventsSQL: "SELECT " + eventColumns + " FROM " + ns + "._events WHERE seq > $1 ORDER BY seq LIMIT $2",
	}
	// The event locks' classes are the namespace's and each tenant's
	// (lockClass); their key, the sequence's last value read as they are
	// taken (lockKey, in SQL, read once for both). The sequence is named
	// by a constant, resolved once when the statement is planned.
	class := int32(advisoryKey(c.schema, "events"))
	s.eventsClass = int64(uint32(class))
	seq := "'" + ns + "._event_seq'::regclass"
	last := "coalesce(pg_catalog.pg_sequence_last_value(" + seq + "), 0)"
	s.lastSeqSQL = "SELECT " + last
	s.eventLockSQL = fmt.Sprintf("WITH l AS MATERIALIZED (SELECT (%s %% 4294967296 - 2147483648)::int4 AS k) "+
		"SELECT pg_catalog.pg_advisory_xact_lock_shared(%d, l.k), pg_catalog.pg_advisory_xact_lock_shared($1::int4, l.k) FROM l", last, class)
	// A reader of one tenant looks at C and the locks only when the
	// tenant's next committed Seq is not after+1 (see ReadEvents): skip
	// is true when it is after+1, or there is none.
	skip := "coalesce((SELECT seq FROM " + ns + "._events WHERE tenant = $%d AND seq > $%d::int8 ORDER BY seq LIMIT 1) = $%[2]d::int8 + 1, true)"
	s.tenantLastSeqSQL = "SELECT CASE WHEN " + fmt.Sprintf(skip, 1, 2) + " THEN NULL ELSE " + last + " END"
	s.tenantLocksSQL = "SELECT x.skip, CASE WHEN x.skip THEN NULL ELSE ARRAY(" + heldLocksSQL + ") END FROM (SELECT " +
		fmt.Sprintf(skip, 2, 3) + " AS skip) AS x"
	var err error
	if c.migrate {
		err = s.Migrate(ctx)
	} else {
		err = s.checkVersion(ctx)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Open connects to the database at dsn (a PostgreSQL URL or key=value
// string, as pgxpool.ParseConfig reads it) and returns a Store that owns the
// connection pool: Close closes it.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	if ctx == nil {
		return nil, errNilContext
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: postgres: open: %w", itsm.ErrInvalid, err)
	}
	var c config
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.tracer != nil {
		cfg.ConnConfig.Tracer = c.tracer
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	s, err := New(ctx, pool, opts...)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ownsPool = true
	return s, nil
}

// Schema returns the PostgreSQL schema (namespace) the store uses.
func (s *Store) Schema() string { return s.schema }

// Pool returns the connection pool the store runs on.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the connection pool when the store opened it (Open), and
// does nothing when the caller passed the pool in (New).
func (s *Store) Close() error {
	if s.ownsPool {
		s.pool.Close()
	}
	return nil
}

// kindInfo is a registered kind with its prepared SQL.
type kindInfo struct {
	schema storage.Schema
	table  string   // qualified, quoted
	cols   []string // quoted column of each field
	// indexes lists, per index of the kind (single fields included), the
	// positions of its string fields, for the index row size check.
	indexStrings [][]int

	selectSQL  string // SELECT id, _version, _data, fields... FROM table
	getSQL     string // the document by id
	versionSQL string // its version alone
	// The writes a unit sends at commit. Each one ends in "SELECT 1 /
	// count(*)" over the rows it touched, so a write that finds the
	// document changed (or taken) fails with division_by_zero and aborts
	// the transaction before its COMMIT, in the same round trip.
	insertSQL string
	updateSQL string
	deleteSQL string
	// importSQL inserts many documents from one array per column (see
	// importColumns).
	importSQL string
	// numberIndex names the unique index on the kind's human numbers, ""
	// for a kind without them.
	numberIndex string
}

// typeSignature returns a comment naming the types of a schema's fields
// in order, one letter each.
func typeSignature(sc storage.Schema) string {
	b := make([]byte, 0, len(sc.Fields)+5)
	b = append(b, "/*"...)
	for _, f := range sc.Fields {
		b = append(b, f.Type.String()[0])
	}
	return string(append(b, "*/ "...))
}

func newKindInfo(ns string, sc storage.Schema) *kindInfo {
	ki := &kindInfo{schema: cloneSchema(sc), table: ns + "." + quoteIdent(sc.Kind)}
	ki.cols = make([]string, len(sc.Fields))
	for i, f := range sc.Fields {
		ki.cols[i] = quoteIdent(columnName(f.Name))
	}
	for i, f := range sc.Fields {
		if f.Type == storage.TypeString {
			ki.indexStrings = append(ki.indexStrings, []int{i})
		}
	}
	for _, ix := range sc.Indexes {
		var strs []int
		for _, name := range ix.Fields {
			if fi := sc.FieldIndex(name); sc.Fields[fi].Type == storage.TypeString {
				strs = append(strs, fi)
			}
		}
		ki.indexStrings = append(ki.indexStrings, strs)
	}
	colList := strings.Join(append([]string{"id", "_version", "_data"}, ki.cols...), ", ")
	// The statements name the field types in a comment: pgx caches
	// prepared statements by their text, and a column dropped and added
	// again with another type (see migrateColumns) must not meet a
	// statement prepared for the old one ("cached plan must not change
	// result type").
	sig := typeSignature(sc)
	ki.selectSQL = sig + "SELECT " + colList + " FROM " + ki.table
	ki.getSQL = ki.selectSQL + " WHERE tenant = $1 AND id = $2"
	ki.versionSQL = "SELECT _version FROM " + ki.table + " WHERE tenant = $1 AND id = $2"

	// Writes take tenant, id, version, data, fields... (see docArgs).
	n := len(ki.cols)
	params := make([]string, n+4)
	for i := range params {
		params[i] = fmt.Sprintf("$%d", i+1)
	}
	const guard = " RETURNING 1) SELECT 1 / count(*) FROM w"
	ki.insertSQL = sig + "WITH w AS (INSERT INTO " + ki.table + " (tenant, " + colList + ") VALUES (" + strings.Join(params, ", ") +
		") ON CONFLICT (tenant, id) DO NOTHING" + guard
	sets := []string{"_version = $3", "_data = $4"}
	for i, c := range ki.cols {
		sets = append(sets, fmt.Sprintf("%s = $%d", c, i+5))
	}
	ki.updateSQL = sig + "WITH w AS (UPDATE " + ki.table + " SET " + strings.Join(sets, ", ") +
		fmt.Sprintf(" WHERE tenant = $1 AND id = $2 AND _version = $%d", n+5) + guard
	ki.deleteSQL = sig + "WITH w AS (DELETE FROM " + ki.table + " WHERE tenant = $1 AND id = $2 AND _version = $3" + guard
	arrays := []string{"$2::text[]", "$3::int8[]", "$4::bytea[]"}
	for i, f := range sc.Fields {
		typ := "int8"
		if f.Type == storage.TypeString {
			typ = "text"
		}
		arrays = append(arrays, fmt.Sprintf("$%d::%s[]", i+5, typ))
	}
	ki.importSQL = sig + "INSERT INTO " + ki.table + " (tenant, " + colList + ") SELECT $1, u.* FROM unnest(" + strings.Join(arrays, ", ") + ") AS u"
	if sc.NumberIndex() >= 0 {
		ki.numberIndex = numberIndexName(sc.Kind)
	}
	return ki
}

// kind returns the registered kind, or ErrInvalid.
func (s *Store) kind(kind string) (*kindInfo, error) {
	s.mu.RLock()
	ki := s.kinds[kind]
	s.mu.RUnlock()
	if ki == nil {
		return nil, itsm.Invalidf("postgres: kind %q is not registered", kind)
	}
	return ki, nil
}

// queryFunc runs a statement returning rows: the pool's Query outside a unit
// of work, the unit's rawQuery inside one.
type queryFunc func(ctx context.Context, sql string, args ...any) (pgx.Rows, error)

// Get returns the committed document; see storage.Backend.
func (s *Store) Get(ctx context.Context, kind, id string) (storage.Document, error) {
	if ctx == nil {
		return storage.Document{}, errNilContext
	}
	tenant, err := s.tenant(ctx)
	if err != nil {
		return storage.Document{}, err
	}
	ki, err := s.kind(kind)
	if err != nil {
		return storage.Document{}, err
	}
	return getDoc(ctx, s.scoped(s.pool, tenant), tenant, ki, id)
}

func getDoc(ctx context.Context, q queryFunc, tenant string, ki *kindInfo, id string) (storage.Document, error) {
	rows, err := q(ctx, ki.getSQL, tenant, id)
	if err != nil {
		return storage.Document{}, interpretError(err, "get "+ki.schema.Kind+" "+id)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return storage.Document{}, interpretError(err, "get "+ki.schema.Kind+" "+id)
		}
		return storage.Document{}, &itsm.NotFoundError{Kind: ki.schema.Kind, ID: id}
	}
	var sc docScanner
	d, err := sc.scan(rows, ki)
	if err != nil {
		return storage.Document{}, err
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return storage.Document{}, interpretError(err, "get "+ki.schema.Kind+" "+id)
	}
	return d, nil
}

// docScanner reads document rows (id, _version, _data, fields...) and
// reuses its destinations from row to row.
type docScanner struct {
	id      string
	version int64
	data    []byte
	strs    []string
	nums    []int64
	dest    []any
}

func (sc *docScanner) scan(rows pgx.Rows, ki *kindInfo) (storage.Document, error) {
	fields := ki.schema.Fields
	if sc.dest == nil {
		sc.strs = make([]string, len(fields))
		sc.nums = make([]int64, len(fields))
		sc.dest = make([]any, 0, len(fields)+3)
		sc.dest = append(sc.dest, &sc.id, &sc.version, &sc.data)
		for i, f := range fields {
			if f.Type == storage.TypeString {
				sc.dest = append(sc.dest, &sc.strs[i])
			} else {
				sc.dest = append(sc.dest, &sc.nums[i])
			}
		}
	}
	sc.data = nil
	var rawID []byte // the id column as received, to name a corrupt record
	if raw := rows.RawValues(); len(raw) > 0 {
		rawID = raw[0]
	}
	if err := rows.Scan(sc.dest...); err != nil {
		return storage.Document{}, fmt.Errorf("postgres: %s %s: stored row is corrupt: %w", ki.schema.Kind, rawID, err)
	}
	if sc.version < 1 {
		return storage.Document{}, fmt.Errorf("postgres: %s %s: stored version %d is corrupt", ki.schema.Kind, sc.id, sc.version)
	}
	d := storage.Document{Kind: ki.schema.Kind, ID: sc.id, Version: sc.version, Data: sc.data, Fields: make([]storage.Value, len(fields))}
	for i, f := range fields {
		switch f.Type {
		case storage.TypeString:
			d.Fields[i] = storage.String(sc.strs[i])
		case storage.TypeInt:
			d.Fields[i] = storage.Int(sc.nums[i])
		default:
			d.Fields[i] = storage.TimeMicros(sc.nums[i])
		}
	}
	return d, nil
}

// Query returns one page of committed documents; see storage.Backend.
func (s *Store) Query(ctx context.Context, q storage.Query) (storage.Page, error) {
	if ctx == nil {
		return storage.Page{}, errNilContext
	}
	tenant, err := s.tenant(ctx)
	if err != nil {
		return storage.Page{}, err
	}
	ki, err := s.kind(q.Kind)
	if err != nil {
		return storage.Page{}, err
	}
	return runQuery(ctx, s.scoped(s.pool, tenant), tenant, ki, q)
}

func runQuery(ctx context.Context, qr queryFunc, tenant string, ki *kindInfo, q storage.Query) (storage.Page, error) {
	plan, err := ki.schema.CheckQueryFor(tenant, q)
	if err != nil {
		return storage.Page{}, err
	}
	sql, args := buildQuery(ki, plan)
	rows, err := qr(ctx, sql, args...)
	if err != nil {
		return storage.Page{}, interpretError(err, "query "+q.Kind)
	}
	defer rows.Close()
	var page storage.Page
	var sc docScanner
	for rows.Next() {
		d, err := sc.scan(rows, ki)
		if err != nil {
			return storage.Page{}, err
		}
		page.Docs = append(page.Docs, d)
	}
	if err := rows.Err(); err != nil {
		return storage.Page{}, interpretError(err, "query "+q.Kind)
	}
	if len(page.Docs) > plan.Limit {
		page.Docs = page.Docs[:plan.Limit]
		page.Next = plan.NextCursor(page.Docs[plan.Limit-1])
	}
	return page, nil
}

// Update runs fn in one unit of work; see storage.Backend. Reads inside the
// unit see the latest committed state (and Get its own writes); writes are
// version-checked when made and again at the commit, which sends them with
// the unit's events in one round trip. A unit holds one pooled connection
// while fn runs.
func (s *Store) Update(ctx context.Context, fn func(storage.Tx) error) error {
	if ctx == nil {
		return errNilContext
	}
	if fn == nil {
		return itsm.Invalidf("postgres: update without a function")
	}
	tenant, err := s.tenant(ctx)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return interpretError(err, "update: acquire connection")
	}
	defer conn.Release()
	u := &unit{s: s, conn: conn.Conn(), tenant: tenant}
	u.q = s.scoped(u.conn, tenant)
	fnErr := u.run(ctx, fn)
	return u.finish(ctx, fnErr)
}

func cloneSchema(sc storage.Schema) storage.Schema {
	sc.Fields = append([]storage.Field(nil), sc.Fields...)
	idx := make([]storage.Index, len(sc.Indexes))
	for i, ix := range sc.Indexes {
		idx[i] = storage.Index{Name: ix.Name, Fields: append([]string(nil), ix.Fields...)}
	}
	sc.Indexes = idx
	return sc
}
