-- Pillars storage/sqlite schema, version 2: tenants.
--
-- Every sequence, event and document belongs to a tenant; what was written
-- before belongs to the default tenant. The document tables of registered
-- kinds get their _tenant column and tenant-led indexes from Go code run in
-- the same transaction (see tenantKindTables): their names are data.

-- Sequences are keyed (tenant, name): tenants A and B both get INC0000001.
CREATE TABLE pillars_sequences_v2 (
	tenant TEXT NOT NULL DEFAULT 'default',
	name   TEXT NOT NULL,
	value  INTEGER NOT NULL,
	PRIMARY KEY (tenant, name)
) WITHOUT ROWID;

INSERT INTO pillars_sequences_v2 (tenant, name, value) SELECT 'default', name, value FROM pillars_sequences;

DROP TABLE pillars_sequences;

ALTER TABLE pillars_sequences_v2 RENAME TO pillars_sequences;

-- Events carry their tenant; a record's history and a tenant's log are read
-- on indexes that lead with it.
ALTER TABLE pillars_events ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';

DROP INDEX pillars_events_record;

CREATE INDEX pillars_events_record ON pillars_events (tenant, kind, record_id, record_version);

CREATE INDEX pillars_events_tenant ON pillars_events (tenant, seq);
