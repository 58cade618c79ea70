package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// driverName is the database/sql driver registered by modernc.org/sqlite.
const driverName = "sqlite"

// Store is a storage.Backend on one SQLite database file. It is safe for
// concurrent use, and several processes may open the same file.
//
// A Store holds two connection pools: one connection that does every write,
// in BEGIN IMMEDIATE transactions, so units of work queue in the process
// instead of failing with SQLITE_BUSY, and a pool of read-only connections
// for Get, Query, ReadEvents and History, which WAL mode lets run while a
// unit of work writes.
type Store struct {
	path string
	opts options
	w    *sql.DB // one connection: every write
	r    *sql.DB // read-only connections

	closed atomic.Bool
	ready  atomic.Bool // the file's schema is at migrationVersion

	regMu sync.Mutex // serialises Register and Migrate in this process
	mu    sync.RWMutex
	kinds map[string]*kind

	// Prepared statements. Writer statements are prepared only when no unit
	// of work runs in the calling goroutine (the writer pool has one
	// connection); pending is set when a kind still needs them.
	stmtMu   sync.Mutex
	wfixed   writerStmts
	rcache   map[string]*readStmt
	maxReads int         // bound of rcache: maxCachedReads, lowered by tests
	retired  []*sql.Stmt // replaced by Register; closed by Close
	pending  atomic.Bool
}

// writerStmts are the statements every unit of work uses, prepared once on
// the writer connection.
type writerStmts struct {
	savepoint, release, rollbackTo *sql.Stmt
	nextSeq, appendEvent           *sql.Stmt
}

var _ storage.Backend = (*Store)(nil)
var _ storage.BulkImporter = (*Store)(nil)
var _ storage.Traverser = (*Store)(nil)

// Option configures Open.
type Option func(*options)

type options struct {
	migrate       bool
	requireTenant bool
	busyTimeout   time.Duration
	synchronous   string
	readConns     int
	cacheKiB      int
	err           error
}

func defaultOptions() options {
	return options{
		migrate:     true,
		busyTimeout: 5 * time.Second,
		synchronous: "FULL",
		readConns:   max(4, runtime.GOMAXPROCS(0)),
		cacheKiB:    16 << 10,
	}
}

// WithMigrate says whether Open applies pending schema migrations (the
// default, true). With false, Open only checks the schema version, and a
// store whose file is behind refuses every call with ErrInvalid until the
// host calls Migrate, for hosts that run migrations as a separate step.
func WithMigrate(on bool) Option { return func(o *options) { o.migrate = on } }

// WithRequireTenant makes every call whose context names no tenant (see
// itsm.WithTenant) fail with ErrInvalid, for hosts that serve several
// tenants and want a forgotten tenant to be an error rather than the
// default tenant's data. Without it, such a call belongs to
// itsm.DefaultTenant. Register (the kind it declares serves every tenant)
// and a ReadEvents under storage.AllTenants need none.
func WithRequireTenant() Option { return func(o *options) { o.requireTenant = true } }

// tenant returns the tenant a call with ctx belongs to (storage.TenantOf
// with the store's requirement).
func (s *Store) tenant(ctx context.Context) (string, error) {
	return storage.TenantOf(ctx, s.opts.requireTenant)
}

// WithBusyTimeout sets how long a connection waits for a lock held by
// another process before failing with ErrConflict (SQLITE_BUSY). The default
// is five seconds.
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) {
		if d < 0 {
			o.err = itsm.Invalidf("storage/sqlite: busy timeout %v is negative", d)
		}
		o.busyTimeout = d
	}
}

// WithSynchronous sets SQLite's synchronous pragma: "FULL" (the default: a
// unit of work that returned survives power loss), "NORMAL" (in WAL mode the
// database stays consistent, but the last units before a power loss or OS
// crash may be lost; several times faster per unit of work), "EXTRA" or
// "OFF".
func WithSynchronous(mode string) Option {
	return func(o *options) {
		switch m := strings.ToUpper(mode); m {
		case "OFF", "NORMAL", "FULL", "EXTRA":
			o.synchronous = m
		default:
			o.err = itsm.Invalidf("storage/sqlite: synchronous mode %q is not OFF, NORMAL, FULL or EXTRA", mode)
		}
	}
}

// WithReadConns sets the size of the read-only connection pool, by default
// the larger of 4 and GOMAXPROCS.
func WithReadConns(n int) Option {
	return func(o *options) {
		if n < 1 {
			o.err = itsm.Invalidf("storage/sqlite: %d read connections, want at least 1", n)
		}
		o.readConns = n
	}
}

// WithCacheSize sets SQLite's page cache per connection, in KiB (default
// 16 MiB). Bulk imports into large tables with many indexes profit from more.
func WithCacheSize(kib int) Option {
	return func(o *options) {
		if kib < 1 {
			o.err = itsm.Invalidf("storage/sqlite: cache size %d KiB, want at least 1", kib)
		}
		o.cacheKiB = kib
	}
}

// dsn builds the data source name for the writer or the readers. Every
// setting is a DSN parameter, so each connection the pools open gets it.
func dsn(path string, o options, write bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", fmt.Sprintf("cache_size(%d)", -o.cacheKiB))
	if write {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous("+o.synchronous+")")
		// Statement journals (and temporary tables) in memory: a
		// multi-row statement of a unit of work journals its pages
		// there instead of writing them to a temporary file. The WAL,
		// and with it durability, is unaffected.
		q.Add("_pragma", "temp_store(MEMORY)")
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}
	if !strings.HasPrefix(u.Path, "/") { // a Windows drive path
		u.Path = "/" + u.Path
	}
	return u.String()
}

// Open opens (creating it if needed) the SQLite database at path and returns
// a Store on it. The file is switched to WAL mode, foreign keys are enforced
// and lock waits use the busy timeout. Unless WithMigrate(false) is given,
// Open applies the package's pending schema migrations; it then loads the
// kinds registered by earlier runs, so their documents can be read before
// Register is called again.
//
// path is a file path; in-memory databases are not supported (use
// storage/memory).
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	ctx = orBackground(ctx)
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if o.err != nil {
		return nil, o.err
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, itsm.Invalidf("storage/sqlite: open %q: want the path of a database file", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("storage/sqlite: open %s: %w", path, err)
	}
	s := &Store{path: abs, opts: o, kinds: map[string]*kind{}, rcache: map[string]*readStmt{}, maxReads: maxCachedReads}
	if s.w, err = sql.Open(driverName, dsn(abs, o, true)); err != nil {
		return nil, fmt.Errorf("storage/sqlite: open %s: %w", abs, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	// The writer connects first: it turns the file to WAL mode before any
	// reader opens it.
	if err := s.w.PingContext(ctx); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("storage/sqlite: open %s: %w", abs, interpretError(err))
	}
	if s.r, err = sql.Open(driverName, dsn(abs, o, false)); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("storage/sqlite: open %s: %w", abs, err)
	}
	s.r.SetMaxOpenConns(o.readConns)
	s.r.SetMaxIdleConns(o.readConns)
	if o.migrate {
		err = s.Migrate(ctx)
	} else {
		err = s.checkVersion(ctx)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	// Planner statistics for tables that have none or stale ones, as
	// SQLite recommends when a long-lived connection opens: without them a
	// query with several equality filters may pick the least selective
	// single-field index and walk most of a table.
	if _, err := s.w.ExecContext(ctx, "PRAGMA optimize=0x10002"); err != nil {
		s.Close()
		return nil, fmt.Errorf("storage/sqlite: open %s: %w", abs, interpretError(err))
	}
	return s, nil
}

// Path returns the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// Close closes both connection pools. Calls after Close fail with ErrClosed;
// closing twice is a no-op.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.stmtMu.Lock()
	for _, st := range s.allStmtsLocked() {
		st.Close()
	}
	s.rcache = map[string]*readStmt{}
	s.stmtMu.Unlock()
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		// Let SQLite refresh its planner statistics where they are stale,
		// as its documentation recommends before closing a connection.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		s.w.ExecContext(ctx, "PRAGMA optimize")
		cancel()
		errs = append(errs, s.w.Close())
	}
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("storage/sqlite: close %s: %w", s.path, err)
		}
	}
	return nil
}

// allStmtsLocked lists every prepared statement; stmtMu is held.
func (s *Store) allStmtsLocked() []*sql.Stmt {
	var out []*sql.Stmt
	for _, st := range []*sql.Stmt{s.wfixed.savepoint, s.wfixed.release, s.wfixed.rollbackTo, s.wfixed.nextSeq, s.wfixed.appendEvent} {
		if st != nil {
			out = append(out, st)
		}
	}
	for _, rs := range s.rcache {
		out = append(out, rs.st)
	}
	out = append(out, s.retired...)
	s.mu.RLock()
	for _, k := range s.kinds {
		if p := k.prep.Load(); p != nil {
			out = append(out, p.all()...)
		}
	}
	s.mu.RUnlock()
	return out
}

// check is the first step of every method: the store is open and migrated.
func (s *Store) check() error {
	if s.closed.Load() {
		return ErrClosed
	}
	if !s.ready.Load() {
		return errNotMigrated
	}
	return nil
}

// fail wraps a database error with what was being done, through
// interpretError; after Close it is ErrClosed whatever the driver said.
func (s *Store) fail(what string, err error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return fmt.Errorf("storage/sqlite: %s: %w", what, interpretError(err))
}

// readStmt is a statement prepared on the reader pool and cached by its
// text, with the number of calls using it: a statement evicted from the
// cache is closed when its last user releases it, never under a running
// query.
type readStmt struct {
	st      *sql.Stmt
	users   int
	evicted bool
}

// readStmt returns the cached statement for query, preparing it on first
// use; the caller calls releaseRead when its rows are closed. The cache is
// bounded; when it fills up it starts over.
func (s *Store) readStmt(ctx context.Context, query string) (*readStmt, error) {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if rs, ok := s.rcache[query]; ok {
		rs.users++
		return rs, nil
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	st, err := s.r.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if len(s.rcache) >= s.maxReads {
		for q, old := range s.rcache {
			delete(s.rcache, q)
			old.evicted = true
			if old.users == 0 {
				old.st.Close()
			}
		}
	}
	rs := &readStmt{st: st, users: 1}
	s.rcache[query] = rs
	return rs, nil
}

// releaseRead ends a use of a cached statement.
func (s *Store) releaseRead(rs *readStmt) {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	rs.users--
	if rs.evicted && rs.users == 0 {
		rs.st.Close()
	}
}

// maxCachedReads bounds the reader statement cache: one Get per kind plus the
// shapes of the queries a host runs.
const maxCachedReads = 256

// prepareWriter prepares the fixed writer statements and those of every kind
// that lacks them. It must not run while the calling goroutine holds the
// writer connection (inside a unit of work): it would wait for itself.
func (s *Store) prepareWriter(ctx context.Context) error {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	prep := func(dst **sql.Stmt, q string) error {
		if *dst != nil {
			return nil
		}
		st, err := s.w.PrepareContext(ctx, q)
		if err != nil {
			return s.fail("prepare", err)
		}
		*dst = st
		return nil
	}
	f := &s.wfixed
	for _, p := range []struct {
		dst **sql.Stmt
		q   string
	}{
		{&f.savepoint, "SAVEPOINT pillars_unit"},
		{&f.release, "RELEASE pillars_unit"},
		{&f.rollbackTo, "ROLLBACK TO pillars_unit"},
		{&f.nextSeq, sqlNextSequence},
		{&f.appendEvent, sqlAppendEvent},
	} {
		if err := prep(p.dst, p.q); err != nil {
			return err
		}
	}
	s.mu.RLock()
	var todo []*kind
	for _, k := range s.kinds {
		if k.prep.Load() == nil {
			todo = append(todo, k)
		}
	}
	s.mu.RUnlock()
	for _, k := range todo {
		var ks kindStmts
		for _, p := range []struct {
			dst **sql.Stmt
			q   string
		}{
			{&ks.get, k.getSQL}, {&ks.insert, k.insertSQL}, {&ks.update, k.updateSQL},
			{&ks.delete, k.deleteSQL}, {&ks.exists, k.existsSQL},
		} {
			if err := prep(p.dst, p.q); err != nil {
				for _, st := range ks.all() {
					st.Close()
				}
				return err
			}
		}
		s.mu.RLock()
		current := s.kinds[k.schema.Kind] == k
		s.mu.RUnlock()
		if !current { // replaced by Register meanwhile
			s.retired = append(s.retired, ks.all()...)
			continue
		}
		k.prep.Store(&ks)
	}
	s.pending.Store(false)
	return nil
}

// orBackground stands in for a nil context, which database/sql does not
// survive (it panics holding a pool lock): a nil context works as
// context.Background.
func orBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}
