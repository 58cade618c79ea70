// Package sqlite is the embedded persistent storage.Backend of Pillars, on
// SQLite through modernc.org/sqlite (pure Go, no cgo).
//
// One call opens a database file, creating it and applying the embedded
// schema migrations as needed:
//
//	st, err := sqlite.Open(ctx, "pillars.db")
//	...
//	defer st.Close()
//
// # Connections
//
// SQLite admits one writer at a time. A Store therefore keeps one writer
// connection, on which every unit of work (Update, Import, Register,
// Migrate) runs as a BEGIN IMMEDIATE transaction: units of one process queue
// for that connection in Go, and units of other processes on the same file
// wait for the write lock up to the busy timeout (WithBusyTimeout) instead of
// failing mid-way. Reads outside units of work (Get, Query, ReadEvents,
// History, Traverse) use a separate pool of read-only connections that WAL
// mode lets run while a unit writes. Every connection is set up by its DSN:
// WAL journal, busy_timeout, foreign_keys and, for the writer,
// synchronous=FULL unless WithSynchronous says otherwise and temp_store=MEMORY
// (statement journals in memory rather than in temporary files).
//
// # Layout
//
// Migrations (schema_migrations records them) create the fixed tables:
// pillars_kinds (each registered storage.Schema, as JSON), pillars_sequences
// keyed (tenant, name), and pillars_events, the append-only event log whose
// INTEGER PRIMARY KEY seq is assigned inside the single writer's
// transaction, so seq order is commit order. Register adds one table per
// kind, pillars_doc_<kind>, with the document in _id, _version, _data and
// _tenant and every declared field in a column of its own name (TEXT with
// the binary collation for strings, INTEGER for ints and for times as Unix
// microseconds). Every index of the table leads with _tenant: the primary
// key (_tenant, _id), one per field on (_tenant, field, _id) unless the
// field is CompositeOnly, one per declared composite Index on (_tenant, its
// fields in order, _id), and, for a kind with human numbers, a unique index
// on (_tenant, number) where the number is not empty.
//
// Queries are checked with storage.Schema.CheckQuery and run as one SQL
// statement: filters become parameterised conditions, the cursor becomes a
// keyset condition on the sort key and id, and LIMIT n+1 tells whether a
// next page exists. Nothing a caller passes is interpolated into SQL: values
// are parameters, and names were validated by the schema and are quoted.
//
// # Tenants
//
// Every call belongs to the tenant of its context (storage.TenantOf;
// itsm.DefaultTenant when the context names none, unless the store was
// opened WithRequireTenant, which makes that ErrInvalid). A unit of work
// belongs to its Update's context: every document, sequence value and event
// it writes is that tenant's. Every statement filters on the tenant, first,
// so a tenant's queue among many tenants is one range of an index, and a
// query's cursors are bound to the tenant (storage.Schema.CheckQueryFor).
// Documents are keyed (tenant, id): the same id in two tenants is two
// documents, so a write of one tenant never touches or shows another's,
// and Get and Delete of another tenant's document are ErrNotFound.
// Sequences are per tenant (tenants A and B both draw INC0000001), human
// numbers are unique per tenant, ReadEvents, History, Traverse and Import
// are scoped, and ReadEvents under storage.AllTenants returns every
// tenant's events, each carrying its Tenant. A file written before tenants
// existed is migrated in place (migration 2, which rebuilds each kind's
// table once under the new key): its documents, sequences and events
// become the default tenant's.
//
// # Schema changes
//
// Register of a kind already registered, on this Store, by an earlier run
// or by another process, with a schema that adds fields or indexes adds
// their columns (existing documents hold storage.ZeroValue until
// rewritten) and indexes; a removed field loses its index, its column stays
// and is ignored (declared again, it starts from the zero value); a changed
// field type is a *storage.SchemaChangeError (ErrConflict) naming the
// field. Documents read afterwards carry the fields of the schema
// registered last.
//
// # Capabilities
//
// Store implements storage.BulkImporter (multi-row INSERTs in one
// transaction, rebuilding the indexes of a table that a batch at least
// doubles) and storage.Traverser (a breadth-first walk with one indexed
// statement per level inside one read transaction, returning exactly what
// the generic storage.Traverse returns). Both are scoped to the context's
// tenant.
//
// # Several processes
//
// Several processes may open the same file. Units of work serialise on
// SQLite's write lock; sequence values are unique across them, committed or
// not; a kind registered by one process is found by the others on first use.
// A schema change made by another process reaches a running Store when it
// next registers the kind or reopens the file.
package sqlite
