// Package postgres is the PostgreSQL storage backend of Pillars, for
// deployments where many application instances share one database. It runs
// on github.com/jackc/pgx/v5 and implements storage.Backend together with
// the optional storage.Traverser (CMDB impact as one recursive query) and
// storage.BulkImporter (one INSERT from arrays per kind).
//
// # Opening a store
//
// Open connects with a DSN and owns its connection pool; New runs on a
// *pgxpool.Pool the host already has. Both migrate the store's schema
// (PostgreSQL namespace, "pillars" unless WithSchema names another) unless
// WithMigrate(false) is given, in which case they only check that it is at
// SchemaVersion. Migrate is safe to run from several instances at once.
// Migrate also prepares the role the store's statements run under (see
// Tenancy): it creates DefaultRole when missing, which needs the CREATEROLE
// attribute (a superuser has it); where the store's user has not, a DBA
// creates the role once (CREATE ROLE pillars_store NOLOGIN; GRANT
// pillars_store TO the store's user) and Migrate grants it the tables.
//
// # Layout
//
// Each registered kind is a table named after it, keyed by (tenant, id),
// with one real column per indexed field (text COLLATE "C" for strings, so
// ordering is bytewise as storage.Value.Compare says; bigint for integers
// and for times as Unix microseconds), an index on (tenant, field, id) for
// every field and a composite index on (tenant, fields..., id) for every
// declared storage.Index. Queries are one SELECT with parameters, the
// tenant first, ordered by the sort fields and id, paged by keyset (a row
// comparison for the trailing ascending fields), so every ordering the
// contract allows reads an index within the tenant. Identifiers come only
// from validated schema names and are quoted; values are always
// parameters.
//
// Document data is stored as bytea, byte for byte: the contract's
// Document.Data is opaque bytes (the conformance suite stores invalid UTF-8,
// NUL bytes and non-JSON), and jsonb would reorder and respace JSON. String
// values of indexed fields, ids and event fields must be valid UTF-8 without
// NUL bytes, as PostgreSQL's text type requires; other strings are refused
// with ErrInvalid naming the record. So are indexed strings too long for a
// btree entry (more than 2,400 bytes in one index, id included).
//
// The store's own objects all start with an underscore, which no kind can:
// _migrations, _kinds (the registered field lists), _events with its
// sequence _event_seq, and one native sequence per tenant and number
// sequence: _seq_<name> for the default tenant (the name it had before
// tenants), _tseq_<tenant>_<name>_<hash> for the others. Human numbers are
// unique per tenant and kind: a unique index on (tenant, number) where the
// number is not empty.
//
// # Tenancy
//
// Every document, sequence and event belongs to the tenant of the call's
// context (itsm.WithTenant; itsm.DefaultTenant without one, or ErrInvalid
// under WithRequireTenant); a unit of work belongs to the tenant of
// Update's context. A document of another tenant does not exist for the
// caller, and two tenants may hold documents of the same id.
//
// Every statement names the tenant, and row-level security holds the rule
// a second time inside the database: every kind table and the event log
// have policies (FORCEd, so that the tables' owner is held too) admitting
// only rows whose tenant equals the transaction-local setting
// pillars.tenant. The store sends
//
//	SELECT set_config('pillars.tenant', $1, true), set_config('role', $2, true)
//
// pipelined with each statement it runs on documents and events, in the
// same round trip and the same transaction, so the setting and the role end
// with the statement: nothing leaks to the next user of a pooled
// connection, and a statement that forgot the tenant sees only the tenant's
// rows (none without a setting). The event log admits no UPDATE or DELETE
// at all. ReadEvents under storage.AllTenants sets the value '*', which
// only the log's read policy admits.
//
// Superusers and BYPASSRLS roles bypass row-level security, so the store
// switches, per transaction, to a role that does not: DefaultRole
// (pillars_store, NOLOGIN, no attribute), or the one WithRole names. The
// pool's user (for New, the host's pool) must be a member of it; Migrate
// grants the membership when it creates the role. DDL (Migrate, Register,
// number sequences) runs as the pool's user, which owns the tables.
// WithRole("") skips the switch, which is safe only when the pool's user is
// neither a superuser nor BYPASSRLS; New refuses a role that is.
//
// The role is switched per transaction rather than once per connection
// (SET ROLE in the pool's AfterConnect) so that it holds for pools the host
// passes to New as well, and nothing stays set on a connection the host
// reuses. Measured (BenchmarkUnitOfWork/tenancy, one Get, one Put, one
// event, synchronous_commit off so that the disk does not hide it): the
// setting and the role switch cost one small statement per round trip, and
// with the policies about 30 µs of a 200 µs unit (default/no_rls about 1.1
// to 1.2): some 13 µs for the statement setting the tenant alone, the rest
// for the role switch and the policies, so a per-connection role would
// save at most half of it. Naming a tenant costs nothing more than the
// default tenant (tenant/default about 1.0, within the noise). With
// synchronous commits a unit takes milliseconds and the difference is lost
// in the noise. A query page of 50 among a
// million tickets of 100 tenants reads the queue index led by the tenant
// (p95 0.8 ms on a shared two-core machine).
//
// # Schema changes
//
// Register of a kind stored with another schema migrates it in one
// transaction under the schema's DDL lock: added fields become columns
// (NOT NULL, defaulting to storage.ZeroValue, so documents stored before
// hold the zero value and stores still running the old schema go on
// writing) with their indexes; removed fields keep their column (with its
// default) and lose their indexes; indexes no longer declared are dropped;
// a changed field type is a *storage.SchemaChangeError and nothing changes.
// Each Store value reads documents with the schema it registered last. A
// database written before tenants migrates in place (schema version 2):
// rows, events and sequences become the default tenant's, and each kind's
// indexes are rebuilt to lead with the tenant when it is next registered.
//
// # Units of work
//
// A unit reads at once (the latest committed state, plus its own writes for
// Get), checks each write against the version it sees (ErrConflict right
// away when stale), and sends all writes, its events and the commit to the
// server in one pipelined round trip at the end (the tenant setting first),
// each write guarded by the version it expects. A unit that lost a race to another instance fails
// there with ErrConflict naming the document, and writes nothing. Row locks
// are held only while that commit runs, and taken in one global order.
//
// # The event log
//
// Events get their Seq from one PostgreSQL sequence, shared by all tenants,
// when their unit commits. A reader never skips an event that commits late,
// and never reads one twice, and no writer ever waits for a reader: a run of
// consecutive Seqs is returned as read, and a hole is resolved by looking at
// the advisory locks writers hold (shared, keyed by the Seq they start
// above) from drawing their Seq to their commit; nobody takes them
// exclusively. Each unit takes two: the namespace's, which a reader of every
// tenant (storage.AllTenants) looks at, and its tenant's, which a reader of
// that tenant looks at. A reader of one tenant sees the other tenants' Seqs
// as holes; it computes how far every Seq is decided in the same round trip
// as its read (unless the tenant's next Seq is already committed), and only
// the tenant's own open units hold it back. A reader that can hand out
// nothing yet waits a bounded time (WithEventReadWait) and then returns an
// error matching itsm.ErrBusy: retry shortly. See Store.ReadEvents for the
// argument.
//
// # What the store relies on, and how a port would replace it
//
// PostgreSQL-wire distributed databases (CockroachDB, YugabyteDB) speak the
// protocol pgx uses but not every feature below. A port keeps the
// storage.Backend contract (storage/storagetest proves it) and replaces:
//
//   - Advisory locks. Migrate, Register and the creation of number sequences
//     hold a session-level advisory lock per namespace and purpose, so that
//     instances doing the same DDL take turns. The event log holds
//     transaction-level SHARED advisory locks (the namespace's and the
//     tenant's) from drawing Seqs to commit, and readers at a hole list
//     them in pg_locks. Replace the DDL locks with a row lock (SELECT ...
//     FOR UPDATE on a _locks row) around idempotent DDL (IF NOT EXISTS), or
//     retries; the event log's locks have no equivalent (see below).
//   - Native sequences with CACHE 1. Event Seqs need "a value drawn later is
//     larger" across all sessions, and human numbers need uniqueness (and
//     AdvanceSequence reads pg_sequence_last_value and locks the sequence
//     with ALTER SEQUENCE in a DO block). Both databases have sequences, but
//     cache them per node by default, which breaks the ordering, and an
//     uncached one is a distributed write per value. Human numbers: a
//     counter row per sequence (UPDATE ... RETURNING) or an uncached
//     sequence. Event Seqs: see the next item.
//   - The event log's ordering (Seq, the shared locks, pg_locks, and
//     pg_sequence_last_value as the low-water mark). There is no pg_locks to
//     look at, and transaction ids do not order commits. Replace the log
//     reader with the database's change feed, which orders by commit
//     timestamp and says when no earlier commit can still arrive:
//     CockroachDB's CHANGEFEED with resolved timestamps, YugabyteDB's CDC
//     stream; Seq then comes from the feed's position (strictly increasing,
//     gaps allowed), or events are read by commit timestamp up to the
//     closed timestamp (CockroachDB's AS OF SYSTEM TIME with
//     crdb_internal_mvcc_timestamp). xid8 and snapshot functions
//     (pg_current_xact_id, pg_current_snapshot) are not used: they cannot
//     order Seqs (Store.ReadEvents says why), and neither database has them.
//   - LISTEN/NOTIFY: not used; consumers poll ReadEvents. (CockroachDB has
//     no LISTEN; a port that wants pushes uses the change feed.)
//   - Import (storage.BulkImporter): one INSERT ... SELECT FROM unnest of
//     arrays per kind, the events and the commit in one pipelined implicit
//     transaction (COPY FROM is refused into a table under row-level
//     security). A port checks that such a pipeline is one transaction
//     there, and that a large one is not split.
//   - Row-level security, set_config and the per-transaction role switch
//     (see Tenancy). The statements name the tenant themselves, so a port
//     to a database without policies keeps the contract and loses only the
//     second guard.
//   - Recursive CTEs (Traverse, storage.Traverser): one WITH RECURSIVE
//     query over arrays. Both databases accept WITH RECURSIVE; a port checks
//     the array functions it uses and its plan, or drops storage.Traverser
//     and lets storage.Traverse run its generic breadth-first search.
//   - Units of work as one pipelined implicit transaction whose guards
//     divide by zero to abort it (division_by_zero becomes ErrConflict),
//     with READ COMMITTED reads before it. Both databases run SERIALIZABLE
//     (CockroachDB by default), where the commit may also fail with 40001,
//     which already maps to ErrConflict; a port checks that a pipeline up to
//     Sync is one transaction there.
//   - Catalog lookups through pg_catalog (pg_class for sequences): emulated
//     and slow on CockroachDB; a port names sequences directly.
//   - Text COLLATE "C" for bytewise order, bytea for data, and ON CONFLICT
//     DO NOTHING: available on both, with COLLATE "C" to check.
//
// # Errors
//
// Errors match the itsm sentinels with errors.Is (ErrNotFound, ErrConflict,
// ErrInvalid) and wrap the driver's error, so errors.As reaches a
// *pgconn.PgError. A lost connection or a server shutting down has no
// sentinel: the unit did not commit (or, if the connection broke during the
// commit itself, its outcome is unknown, as with any database), and the
// pool replaces the connection, so the store works again once the server
// does.
//
// # Tests
//
// The tests and benchmarks need a database: set PILLARS_POSTGRES_DSN, for
// example postgres://postgres@127.0.0.1:5432/test?sslmode=disable; without
// it they skip. Each test works in a fresh schema of its own and drops it.
// PILLARS_SCALE=1 runs the conformance suite at full size and fills a
// million tickets for BenchmarkQueryPage and BenchmarkQueryPageTenants. The
// tests create the role pillars_store when it is missing (the test user is
// a superuser).
package postgres
