-- Pillars storage/sqlite schema, version 1.

-- Registered kinds: the storage.Schema of each, as JSON, so a reopened store
-- knows the columns of every document table.
CREATE TABLE pillars_kinds (
	kind       TEXT NOT NULL PRIMARY KEY,
	schema     TEXT NOT NULL,
	updated_at INTEGER NOT NULL -- Unix microseconds
);

-- Named sequences for human numbers (INC0001042).
CREATE TABLE pillars_sequences (
	name  TEXT NOT NULL PRIMARY KEY,
	value INTEGER NOT NULL
);

-- The domain event log. seq is the rowid: SQLite has one writer at a time and
-- assigns it inside the write transaction, so seq order is commit order.
CREATE TABLE pillars_events (
	seq            INTEGER PRIMARY KEY,
	id             TEXT NOT NULL,
	kind           TEXT NOT NULL,
	record_id      TEXT NOT NULL,
	number         TEXT NOT NULL,
	record_version INTEGER NOT NULL,
	name           TEXT NOT NULL,
	from_state     TEXT NOT NULL,
	to_state       TEXT NOT NULL,
	actor          TEXT NOT NULL,
	at             INTEGER NOT NULL, -- Unix microseconds, UTC
	recorded_at    INTEGER NOT NULL, -- Unix microseconds, UTC
	reason         TEXT NOT NULL,
	changes        TEXT,             -- JSON array of itsm.Change; NULL when the event has none
	prev_hash      TEXT NOT NULL,
	hash           TEXT NOT NULL
);

CREATE INDEX pillars_events_record ON pillars_events (kind, record_id, record_version);

-- The log is append-only.
CREATE TRIGGER pillars_events_no_update BEFORE UPDATE ON pillars_events
BEGIN
	SELECT RAISE(ABORT, 'pillars_events is append-only');
END;

CREATE TRIGGER pillars_events_no_delete BEFORE DELETE ON pillars_events
BEGIN
	SELECT RAISE(ABORT, 'pillars_events is append-only');
END;
