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
// and pillars_events, the append-only event log whose INTEGER PRIMARY KEY
// seq is assigned inside the single writer's transaction, so seq order is
// commit order. Register adds one table per kind, pillars_doc_<kind>, with
// the document in _id, _version and _data and every declared field in a
// column of its own name (TEXT with the binary collation for strings,
// INTEGER for ints and for times as Unix microseconds), an index per field
// on (field, _id) unless the field is CompositeOnly, and an index per
// declared composite Index on its fields in order, then _id.
//
// Queries are checked with storage.Schema.CheckQuery and run as one SQL
// statement: filters become parameterised conditions, the cursor becomes a
// keyset condition on the sort key and id, and LIMIT n+1 tells whether a
// next page exists. Nothing a caller passes is interpolated into SQL: values
// are parameters, and names were validated by the schema and are quoted.
//
// # Capabilities
//
// Store implements storage.BulkImporter (multi-row INSERTs in one
// transaction, rebuilding the indexes of a table that a batch at least
// doubles) and storage.Traverser (a breadth-first walk with one indexed
// statement per level inside one read transaction, returning exactly what
// the generic storage.Traverse returns).
//
// # Several processes
//
// Several processes may open the same file. Units of work serialise on
// SQLite's write lock; sequence values are unique across them, committed or
// not; a kind registered by one process is found by the others on first use.
// A schema change made by another process reaches a running Store when it
// next registers the kind or reopens the file.
package sqlite
