// Package customstore is a storage adapter for Pillars on Redis, written the
// way a host team would write their own: a storage.Backend on a go-redis
// client, proven by running storage/storagetest unchanged.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
//	store, err := customstore.New(rdb, "servicedesk")
//	// hand store to storage.Records and the pillars like any other backend
//
// # Keys
//
// Every key starts with "{prefix}:"; the hash tag puts them all in one
// cluster slot, because the scripts below touch many keys atomically.
//
//	{p}:schema:<kind>               the registered schema (JSON); every instance must agree
//	{p}:doc:<kind>:<id>             hash: v (version), d (data), f (indexed values, encoded)
//	{p}:ix:<kind>:id                sorted set of ids
//	{p}:ix:<kind>:f:<field>:a / :d  one field, ascending and descending twin
//	{p}:ix:<kind>:i:<index>:a / :d  one declared composite index, and its twin
//	{p}:num:<kind>                  hash: human number -> id, keeping numbers unique
//	{p}:numready:<kind>             set once the hash covers the documents of older versions
//	{p}:seq:<name>                  a sequence (INCR; AdvanceSequence by script)
//	{p}:logseq, {p}:log             the event counter and the event stream (every tenant's)
//	{p}:hist:<kind>:<id>            a record's events ("seq json"), for History
//	{p}:tenants                     set of the tenants that wrote, for migrations
//
// # Tenants
//
// The keys above are the default tenant's, so a prefix written before
// tenants existed is the default tenant's data. Every other tenant's
// documents, index sets, number hashes, sequences and histories live under
// "{p}:t:<tenant>:" with the same names (tenant ids hold no ':'), and its
// events go to the whole log and to a stream of its own, {p}:t:<tenant>:log,
// with the same Seq: a tenant reads its stream, the default tenant reads the
// whole log skipping other tenants' events, and storage.AllTenants reads the
// whole log. Cursors are bound to the tenant (storage.Schema.CheckQueryFor).
// New(rdb, prefix, RequireTenant()) refuses a context without a tenant.
//
// # Schema changes
//
// Register of a changed schema (storage.CompareSchemas) rewrites every
// tenant's documents of the kind, converting their field values and
// rebuilding their index sets, then stores the new schema; a changed field
// type is a *storage.SchemaChangeError. Run it at start-up: it is not atomic
// with concurrent writers.
//
// # How the contract maps onto Redis
//
// Indexes are sorted sets whose scores are all zero, read with ZRANGEBYLEX:
// a score is a float64 and cannot hold an int64 or a microsecond time
// exactly, while an order-preserving byte encoding of the values followed by
// the id orders exactly as storage.Plan does, ties included, and gives exact
// keyset pagination: a cursor is just the member to continue after. A
// descending twin holds the same entries with the id part complemented, so
// a reverse walk still breaks ties by ascending id.
//
// A unit of work reads through (caching what it read), buffers its writes
// and events, and commits with one Lua script that checks every written
// document's version, writes documents and index entries, then numbers the
// events (INCR) and appends them to the stream, all atomically. Seq values
// therefore appear in commit order with no holes, and a reader resuming
// after the last Seq it saw never misses a late commit.
//
// A query picks one sorted set (its plan): when the set
// yields the query's order it reads limit+1 matches off it and stops; when
// no set does (mixed directions, or an index suffix without equality on the
// fields before it) it reads the narrowest range and sorts, as a SQL
// database would. Each read is one Lua call returning members and their
// documents from one atomic snapshot.
//
// The Store implements storage.BulkImporter (one script per Import, no
// read-before-write) and not storage.Traverser (the generic breadth-first
// search over Query serves CMDB walks).
package customstore
