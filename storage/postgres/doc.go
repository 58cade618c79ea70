// Package postgres is the PostgreSQL storage backend of Pillars, for
// deployments where many application instances share one database. It runs
// on github.com/jackc/pgx/v5 and implements storage.Backend together with
// the optional storage.Traverser (CMDB impact as one recursive query) and
// storage.BulkImporter (COPY).
//
// # Opening a store
//
// Open connects with a DSN and owns its connection pool; New runs on a
// *pgxpool.Pool the host already has. Both migrate the store's schema
// (PostgreSQL namespace, "pillars" unless WithSchema names another) unless
// WithMigrate(false) is given, in which case they only check that it is at
// SchemaVersion. Migrate is safe to run from several instances at once.
//
// # Layout
//
// Each registered kind is a table named after it, with one real column per
// indexed field (text COLLATE "C" for strings, so ordering is bytewise as
// storage.Value.Compare says; bigint for integers and for times as Unix
// microseconds), an index on (field, id) for every field and a composite
// index on (fields..., id) for every declared storage.Index. Queries are one
// SELECT with parameters, ordered by the sort fields and id, paged by
// keyset (a row comparison for the trailing ascending fields), so every
// ordering the contract allows reads an index. Identifiers come only from
// validated schema names and are quoted; values are always parameters.
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
// sequence _event_seq, and one native sequence _seq_<name> per number
// sequence.
//
// # Units of work
//
// A unit reads at once (the latest committed state, plus its own writes for
// Get), checks each write against the version it sees (ErrConflict right
// away when stale), and sends all writes, its events and the commit to the
// server in one pipelined round trip at the end, each write guarded by the
// version it expects. A unit that lost a race to another instance fails
// there with ErrConflict naming the document, and writes nothing. Row locks
// are held only while that commit runs, and taken in one global order.
//
// # The event log
//
// Events get their Seq from one PostgreSQL sequence when their unit
// commits. A reader never skips an event that commits late, and never reads
// one twice, and no writer ever waits for a reader: a run of consecutive
// Seqs is returned as read, and a hole right after the reader's position is
// resolved by looking at the advisory locks writers hold (shared, keyed by
// the Seq they start above) from drawing their Seq to their commit; nobody
// takes them exclusively. A reader that can hand out nothing yet waits a
// bounded time (WithEventReadWait) and then returns an error matching
// itsm.ErrBusy: retry shortly. See Store.ReadEvents for the argument.
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
//     transaction-level SHARED advisory locks from drawing Seqs to commit,
//     and readers at a hole list them in pg_locks. Replace the DDL locks
//     with a row lock (SELECT ... FOR UPDATE on a _locks row) around
//     idempotent DDL (IF NOT EXISTS), or retries; the event log's locks
//     have no equivalent (see below).
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
//   - COPY (Import, storage.BulkImporter). Both databases accept COPY FROM
//     STDIN, but may split a large one into several transactions; Import
//     must stay all or nothing, so a port checks that (or inserts batches
//     of multi-row INSERTs in one transaction).
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
// million tickets for BenchmarkQueryPage.
package postgres
