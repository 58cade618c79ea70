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
// one twice: a run of consecutive Seqs is returned without any lock, and a
// hole right after the reader's position is resolved under an advisory lock
// that writers hold (shared) from drawing their Seq to their commit. See
// Store.ReadEvents for the argument, WithEventReadLockTimeout for the bound
// on a reader's wait.
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
