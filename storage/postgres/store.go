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

	eventsTable   string // qualified, quoted
	kindsTable    string
	valuesSQL     [maxValuesEvents + 1]string // valuesSQL[n] inserts n events, see insertEvents
	readEventsSQL string

	eventLockSQL string // takes the event lock, see ReadEvents
	lastSeqSQL   string // the event sequence's last value

	holeReads atomic.Int64 // reads at a hole (readEventsAtHole)
	gapWaits  atomic.Int64 // ReadEvents calls that waited at a hole

	mu    sync.RWMutex
	kinds map[string]*kindInfo

	// Test hooks; nil in production.
	beforeCommit func(ctx context.Context) // runs after the events are inserted, before COMMIT
	unsafeReads  bool                      // ReadEvents hands out every event it reads: only to show, in tests, what the hole rule prevents
	noEventLock  bool                      // writers leave the event lock out: only to measure, in benchmarks, what it costs them
}

// Option configures a Store.
type Option func(*config)

type config struct {
	schema   string
	migrate  bool
	readWait time.Duration
}

// WithSchema names the PostgreSQL schema (namespace) holding the store's
// tables; it must be a lower-case identifier (storage.ValidName). The
// default is DefaultSchema. Stores in different schemas of one database
// share nothing, not even their locks.
func WithSchema(name string) Option { return func(c *config) { c.schema = name } }

// WithMigrate says whether the constructor runs Migrate (the default) or
// only checks that the schema is already at SchemaVersion, for deployments
// that migrate in a separate step.
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
	c := config{schema: DefaultSchema, migrate: true, readWait: DefaultEventReadWait}
	for _, o := range opts {
		o(&c)
	}
	if !storage.ValidName(c.schema) {
		return nil, itsm.Invalidf("postgres: schema name %q is not a lower-case identifier", c.schema)
	}
	if c.readWait < 0 {
		return nil, itsm.Invalidf("postgres: negative event read wait %s", c.readWait)
	}
	ns := quoteIdent(c.schema)
	s := &Store{
		pool:          pool,
		schema:        c.schema,
		ns:            ns,
		readWait:      c.readWait,
		eventsTable:   ns + "._events",
		kindsTable:    ns + "._kinds",
		kinds:         map[string]*kindInfo{},
		valuesSQL:     buildValuesSQL(ns + "._events"),
		readEventsSQL: "SELECT " + eventColumns + " FROM " + ns + "._events WHERE seq > $1 ORDER BY seq LIMIT $2", // eventsTable
	}
	// The event lock's class is the namespace's; its key, the sequence's
	// last value read as the lock is taken (lockKey, in SQL). The sequence
	// is named by a constant, resolved once when the statement is planned.
	class := int32(advisoryKey(c.schema, "events"))
	s.eventsClass = int64(uint32(class))
	seq := "'" + ns + "._event_seq'::regclass"
	s.lastSeqSQL = "SELECT coalesce(pg_catalog.pg_sequence_last_value(" + seq + "), 0)"
	s.eventLockSQL = fmt.Sprintf("SELECT pg_catalog.pg_advisory_xact_lock_shared(%d, "+
		"(coalesce(pg_catalog.pg_sequence_last_value(%s), 0) %% 4294967296 - 2147483648)::int4)", class, seq)
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
	// numberIndex names the unique index on the kind's human numbers, ""
	// for a kind without them.
	numberIndex string
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
	ki.selectSQL = "SELECT " + colList + " FROM " + ki.table
	ki.getSQL = ki.selectSQL + " WHERE id = $1"
	ki.versionSQL = "SELECT _version FROM " + ki.table + " WHERE id = $1"

	n := len(ki.cols)
	params := make([]string, n+3)
	for i := range params {
		params[i] = fmt.Sprintf("$%d", i+1)
	}
	const guard = " RETURNING 1) SELECT 1 / count(*) FROM w"
	ki.insertSQL = "WITH w AS (INSERT INTO " + ki.table + " (" + colList + ") VALUES (" + strings.Join(params, ", ") +
		") ON CONFLICT (id) DO NOTHING" + guard
	sets := []string{"_version = $2", "_data = $3"}
	for i, c := range ki.cols {
		sets = append(sets, fmt.Sprintf("%s = $%d", c, i+4))
	}
	ki.updateSQL = "WITH w AS (UPDATE " + ki.table + " SET " + strings.Join(sets, ", ") +
		fmt.Sprintf(" WHERE id = $1 AND _version = $%d", n+4) + guard
	ki.deleteSQL = "WITH w AS (DELETE FROM " + ki.table + " WHERE id = $1 AND _version = $2" + guard
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
	ki, err := s.kind(kind)
	if err != nil {
		return storage.Document{}, err
	}
	return getDoc(ctx, s.pool.Query, ki, id)
}

func getDoc(ctx context.Context, q queryFunc, ki *kindInfo, id string) (storage.Document, error) {
	rows, err := q(ctx, ki.getSQL, id)
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
	ki, err := s.kind(q.Kind)
	if err != nil {
		return storage.Page{}, err
	}
	return runQuery(ctx, s.pool.Query, ki, q)
}

func runQuery(ctx context.Context, qr queryFunc, ki *kindInfo, q storage.Query) (storage.Page, error) {
	plan, err := ki.schema.CheckQuery(q)
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
	if err := ctx.Err(); err != nil {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return interpretError(err, "update: acquire connection")
	}
	defer conn.Release()
	u := &unit{s: s, conn: conn.Conn()}
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
