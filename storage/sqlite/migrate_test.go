package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// version1Tables is the DDL version 1 of this package gave a kind's table:
// no tenant, indexes on (field, _id), composite indexes on (fields..., _id)
// and the unique number index on (number).
var version1Tables = map[string][]string{
	"case": {
		`CREATE TABLE "pillars_doc_case" (_id TEXT NOT NULL COLLATE BINARY PRIMARY KEY, _version INTEGER NOT NULL, _data BLOB,
			"number" TEXT NOT NULL DEFAULT '' COLLATE BINARY, "state" TEXT NOT NULL DEFAULT '' COLLATE BINARY)`,
		`CREATE INDEX "pillars_doc_case__f_number" ON "pillars_doc_case" ("number", _id)`,
		`CREATE INDEX "pillars_doc_case__f_state" ON "pillars_doc_case" ("state", _id)`,
		`CREATE UNIQUE INDEX "pillars_doc_case__u_number" ON "pillars_doc_case" ("number") WHERE "number" <> ''`,
	},
	"ticket": {
		`CREATE TABLE "pillars_doc_ticket" (_id TEXT NOT NULL COLLATE BINARY PRIMARY KEY, _version INTEGER NOT NULL, _data BLOB,
			"grp" TEXT NOT NULL DEFAULT '' COLLATE BINARY, "state" TEXT NOT NULL DEFAULT '' COLLATE BINARY,
			"prio" INTEGER NOT NULL DEFAULT 0, "opened" INTEGER NOT NULL DEFAULT 0)`,
		`CREATE INDEX "pillars_doc_ticket__f_grp" ON "pillars_doc_ticket" ("grp", _id)`,
		`CREATE INDEX "pillars_doc_ticket__f_state" ON "pillars_doc_ticket" ("state", _id)`,
		`CREATE INDEX "pillars_doc_ticket__f_prio" ON "pillars_doc_ticket" ("prio", _id)`,
		`CREATE INDEX "pillars_doc_ticket__f_opened" ON "pillars_doc_ticket" ("opened", _id)`,
		`CREATE INDEX "pillars_doc_ticket__i_queue" ON "pillars_doc_ticket" ("grp", "state", "prio", "opened", _id)`,
	},
}

// version1Database writes a file as version 1 of this package left it,
// with raw SQL: two kinds with documents, a sequence at 41 and events.
func version1Database(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open(driverName, path)
	require.NoError(t, err)
	defer db.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		_, err := db.ExecContext(ctx, q, args...)
		require.NoError(t, err, q)
	}
	exec(sqlCreateMigrations)
	exec(migrations[0].sql)
	exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, 'init', 0)`)
	for name, sch := range map[string]storage.Schema{"case": numberedSchema, "ticket": ticketSchema} {
		js, err := json.Marshal(sch)
		require.NoError(t, err)
		exec(`INSERT INTO pillars_kinds (kind, schema, updated_at) VALUES (?, ?, 0)`, name, string(js))
		for _, ddl := range version1Tables[name] {
			exec(ddl)
		}
	}
	exec(`INSERT INTO "pillars_doc_case" (_id, _version, _data, "number", "state") VALUES ('c1', 1, '{}', 'INC0000041', 'new'), ('c2', 3, '{}', '', 'work'), ('c3', 1, '{}', '', 'new')`)
	exec(`INSERT INTO "pillars_doc_ticket" (_id, _version, _data, grp, state, prio, opened) VALUES ('t1', 1, '{}', 'net', 'new', 2, ?), ('t2', 1, '{}', 'net', 'new', 1, ?)`,
		t0.UnixMicro(), t0.UnixMicro())
	exec(`INSERT INTO pillars_sequences (name, value) VALUES ('case', 41)`)
	for _, e := range chain("case", "c1", 2, t0) {
		args, err := eventArgs(nil, &e, itsm.DefaultTenant)
		require.NoError(t, err)
		exec(`INSERT INTO pillars_events (`+eventCols[:len(eventCols)-len(", tenant")]+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args[:eventColCount-1]...)
	}
	return path
}

// TestMigrateVersion1: a file written before tenants migrates in place: its
// documents, sequences and events are the default tenant's and still
// readable, numbers stay unique, and every index leads with the tenant.
func TestMigrateVersion1(t *testing.T) {
	ctx := context.Background()
	acme := itsm.WithTenant(ctx, "acme")
	path := version1Database(t)
	s := openAt(t, path)
	v, err := s.SchemaVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, migrationVersion, v)

	// Readable before the kinds are registered again, by the default
	// tenant only.
	for _, dctx := range []context.Context{ctx, itsm.WithTenant(ctx, itsm.DefaultTenant)} {
		d, err := s.Get(dctx, "case", "c2")
		require.NoError(t, err)
		assert.Equal(t, int64(3), d.Version)
		assert.Equal(t, "work", d.Fields[1].Str())
	}
	_, err = s.Get(acme, "case", "c2")
	require.ErrorIs(t, err, itsm.ErrNotFound)

	require.NoError(t, s.Register(ctx, numberedSchema))
	require.NoError(t, s.Register(ctx, ticketSchema))
	page, err := s.Query(ctx, storage.Query{Kind: "ticket",
		Filters: []storage.Filter{storage.Eq("grp", storage.String("net")), storage.Eq("state", storage.String("new"))},
		Sort:    []storage.Sort{{Field: "prio"}, {Field: "opened"}}})
	require.NoError(t, err)
	assert.Equal(t, []string{"t2", "t1"}, idsOf(page.Docs))
	page, err = s.Query(acme, storage.Query{Kind: "ticket"})
	require.NoError(t, err)
	assert.Empty(t, page.Docs)

	// Numbers stay unique in the default tenant; another tenant may hold
	// the same one.
	err = putIn(ctx, s, numberedTicket("c9", "INC0000041", "new"), 0)
	var dn *storage.DuplicateNumberError
	require.ErrorAs(t, err, &dn)
	require.NoError(t, putIn(acme, s, numberedTicket("a9", "INC0000041", "new"), 0))

	// The default tenant's sequence goes on from 41; acme's starts at 1.
	for _, tt := range []struct {
		ctx  context.Context
		want int64
	}{{ctx, 42}, {acme, 1}} {
		require.NoError(t, s.Update(tt.ctx, func(tx storage.Tx) error {
			n, err := tx.NextSequence(tt.ctx, "case")
			assert.Equal(t, tt.want, n)
			return err
		}))
	}

	// Events are the default tenant's, and their chain still verifies.
	h, err := s.History(ctx, "case", "c1")
	require.NoError(t, err)
	require.Len(t, h, 2)
	require.NoError(t, itsm.Verify(h, ""))
	for _, e := range h {
		assert.Equal(t, itsm.DefaultTenant, e.Tenant)
	}
	h, err = s.History(acme, "case", "c1")
	require.NoError(t, err)
	assert.Empty(t, h)

	assert.Equal(t, []string{"_tenant", "grp", "state", "prio", "opened", "_id"}, indexColsOf(t, s, "pillars_doc_ticket__i_queue"))
	assert.Equal(t, []string{"_tenant", "state", "_id"}, indexColsOf(t, s, "pillars_doc_case__f_state"))
	assert.Equal(t, []string{"_tenant", "number"}, indexColsOf(t, s, numberIndexName("case")))
	assert.Equal(t, []string{"_tenant", "_id"}, indexColsOf(t, s, "sqlite_autoindex_pillars_doc_ticket_1"), "the primary key")
	assert.Equal(t, []string{"tenant", "kind", "record_id", "record_version"}, indexColsOf(t, s, "pillars_events_record"))
	var integrity string
	require.NoError(t, s.r.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&integrity))
	assert.Equal(t, "ok", integrity)
}

// TestMigrateVersion1WithoutNumberIndex: a file from before numbers were
// unique migrates too; its index comes with Register, which names a number
// its documents repeat.
func TestMigrateVersion1WithoutNumberIndex(t *testing.T) {
	ctx := context.Background()
	path := version1Database(t)
	db, err := sql.Open(driverName, path)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `DROP INDEX "pillars_doc_case__u_number"`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `UPDATE "pillars_doc_case" SET "number" = 'INC0000041'`)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	s := openAt(t, path)
	require.False(t, hasNumberIndex(t, s), "the migration adds no index the file lacked")
	var dn *storage.DuplicateNumberError
	require.ErrorAs(t, s.Register(ctx, numberedSchema), &dn)
	assert.Equal(t, "INC0000041", dn.Number)
	_, err = s.w.ExecContext(ctx, `UPDATE "pillars_doc_case" SET "number" = _id WHERE _id <> 'c1'`)
	require.NoError(t, err)
	require.NoError(t, s.Register(ctx, numberedSchema))
	assert.Equal(t, []string{"_tenant", "number"}, indexColsOf(t, s, numberIndexName("case")))
}
