-- Pillars storage, schema version 2: tenancy. Every event and every
-- document belongs to a tenant; rows written before belong to 'default'
-- (itsm.DefaultTenant). Row-level security keys every table on the
-- transaction-local setting pillars.tenant, which the store sets in the
-- same round trip as each statement it runs; '*' (never a tenant id) lets
-- a log consumer read every tenant's events, and nothing else.
-- FORCE makes the policies hold for the tables' owner too; superusers and
-- BYPASSRLS roles still bypass them, so the store runs its statements
-- under a role that does not (see Store.Migrate and WithRole).
-- {{schema}} is replaced by the quoted namespace.

ALTER TABLE {{schema}}._events ADD COLUMN tenant text COLLATE "C" NOT NULL DEFAULT 'default';

DROP INDEX {{schema}}._events_record;
CREATE INDEX _events_record ON {{schema}}._events (tenant, kind, record_id, record_version, seq);
CREATE INDEX _events_tenant ON {{schema}}._events (tenant, seq);

ALTER TABLE {{schema}}._events ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}._events FORCE ROW LEVEL SECURITY;
-- The log is append-only: readers see their tenant (or every tenant under
-- '*'), writers insert into their own; no policy allows UPDATE or DELETE.
CREATE POLICY _tenant_read ON {{schema}}._events FOR SELECT
    USING (tenant = current_setting('pillars.tenant', true) OR current_setting('pillars.tenant', true) = '*');
CREATE POLICY _tenant_append ON {{schema}}._events FOR INSERT
    WITH CHECK (tenant = current_setting('pillars.tenant', true));

-- The kinds registered so far: a tenant column, the primary key
-- (tenant, id), RLS and the policy. Their other indexes are rebuilt to lead with the tenant when the kind is next
-- registered (Register drops the old ones).
DO $pillars$
DECLARE
    k text;
    t text;
    pk name;
BEGIN
    FOR k IN SELECT kind FROM {{schema}}._kinds LOOP
        t := '{{schema}}.' || quote_ident(k);
        EXECUTE format('ALTER TABLE %s ADD COLUMN IF NOT EXISTS tenant text COLLATE "C" NOT NULL DEFAULT %L', t, 'default');
        -- A document is named by its id within its tenant.
        SELECT conname INTO pk FROM pg_catalog.pg_constraint WHERE conrelid = t::regclass AND contype = 'p';
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I, ADD PRIMARY KEY (tenant, id)', t, pk);
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY _tenant ON %s USING (tenant = current_setting(%L, true)) WITH CHECK (tenant = current_setting(%L, true))',
            t, 'pillars.tenant', 'pillars.tenant');
    END LOOP;
END
$pillars$;
