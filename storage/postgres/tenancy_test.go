package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// count runs a statement returning one number on the store's own path:
// the pool, the store's role, tenant set as the store sets it.
func count(t *testing.T, s *Store, tenant, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, scanOne(s.query(context.Background(), s.pool, tenant, sql, args...))(&n))
	return n
}

// readAll reads the log as a consumer does, from the start until a read
// returns nothing (one tenant's Seqs have gaps: other tenants' events).
func readAll(t *testing.T, s *Store, ctx context.Context) []itsm.Event {
	t.Helper()
	var out []itsm.Event
	after := int64(0)
	for {
		evs, err := s.ReadEvents(ctx, after, 100)
		require.NoError(t, err)
		if len(evs) == 0 {
			return out
		}
		out = append(out, evs...)
		after = evs[len(evs)-1].Seq
	}
}

// TestTenantIsolation walks every entry point with two tenants holding
// documents, numbers, sequences and events of the same kind.
func TestTenantIsolation(t *testing.T) {
	s := newTestStore(t)
	bg := context.Background()
	a, b := itsm.WithTenant(bg, "acme"), itsm.WithTenant(bg, "globex")
	require.NoError(t, s.Register(bg, numberedSchema("case")))
	require.NoError(t, s.Register(bg, edgeSchema()))

	// Each tenant's first number is 1, and both may hold INC0000001.
	put := func(ctx context.Context, id string) (int64, error) {
		var n int64
		err := s.Update(ctx, func(tx storage.Tx) error {
			var err error
			if n, err = tx.NextSequence(ctx, "case"); err != nil {
				return err
			}
			d := numberedDoc("case", id, fmt.Sprintf("INC%07d", n))
			if err := tx.Put(ctx, d, 0); err != nil {
				return err
			}
			e := sealedEvent("case", id, 1, "")
			return tx.Append(ctx, e)
		})
		return n, err
	}
	n, err := put(a, "a1")
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	n, err = put(b, "b1")
	require.NoError(t, err)
	require.Equal(t, int64(1), n, "sequences are per tenant")
	n, err = put(a, "a2")
	require.NoError(t, err)
	require.Equal(t, int64(2), n)
	n, err = put(bg, "d1")
	require.NoError(t, err)
	require.Equal(t, int64(1), n, "the default tenant has its own sequence")

	// A number is unique within a tenant.
	err = s.Update(a, func(tx storage.Tx) error { return tx.Put(a, numberedDoc("case", "a3", "INC0000002"), 0) })
	var dn *storage.DuplicateNumberError
	require.ErrorAs(t, err, &dn)

	// Get, Delete and Put of another tenant's document.
	_, err = s.Get(b, "case", "a1")
	require.ErrorIs(t, err, itsm.ErrNotFound)
	got, err := s.Get(a, "case", "a1")
	require.NoError(t, err)
	require.Equal(t, "INC0000001", got.Fields[0].Str())
	err = s.Update(b, func(tx storage.Tx) error {
		_, err := tx.Get(b, "case", "a1")
		require.ErrorIs(t, err, itsm.ErrNotFound)
		return tx.Delete(b, "case", "a1", 1)
	})
	require.ErrorIs(t, err, itsm.ErrNotFound)
	err = s.Update(b, func(tx storage.Tx) error {
		d := numberedDoc("case", "a1", "INC0000009")
		d.Version = 2
		return tx.Put(b, d, 1)
	})
	require.ErrorIs(t, err, itsm.ErrConflict, "b holds no version 1 of it")
	// Documents are named by id within their tenant: b's a1 is b's own.
	require.NoError(t, s.Update(b, func(tx storage.Tx) error { return tx.Put(b, numberedDoc("case", "a1", "INC0000009"), 0) }))
	got2, err := s.Get(a, "case", "a1")
	require.NoError(t, err)
	require.Equal(t, got, got2, "a's document is untouched")
	got2, err = s.Get(b, "case", "a1")
	require.NoError(t, err)
	require.Equal(t, "INC0000009", got2.Fields[0].Str())
	// A Tx belongs to the tenant of Update's context, whatever its methods get.
	require.NoError(t, s.Update(b, func(tx storage.Tx) error {
		_, err := tx.Get(a, "case", "a2")
		require.ErrorIs(t, err, itsm.ErrNotFound)
		return nil
	}))

	// Queries see the tenant's documents only.
	ids := func(ctx context.Context) []string {
		page, err := s.Query(ctx, storage.Query{Kind: "case", Sort: []storage.Sort{{Field: "number"}}})
		require.NoError(t, err)
		var out []string
		for _, d := range page.Docs {
			out = append(out, d.ID)
		}
		return out
	}
	require.Equal(t, []string{"a1", "a2"}, ids(a))
	require.Equal(t, []string{"b1", "a1"}, ids(b))
	require.Equal(t, []string{"d1"}, ids(bg))

	// Events carry their tenant; the log is scoped but for AllTenants.
	evs := readAll(t, s, a)
	require.Len(t, evs, 2)
	for _, e := range evs {
		require.Equal(t, "acme", e.Tenant)
	}
	evs = readAll(t, s, storage.AllTenants(bg))
	var tenants []string
	for _, e := range evs {
		tenants = append(tenants, e.Tenant)
	}
	require.Equal(t, []string{"acme", "globex", "acme", itsm.DefaultTenant}, tenants)
	h, err := s.History(b, "case", "a1")
	require.NoError(t, err)
	require.Empty(t, h)
	h, err = s.History(a, "case", "a1")
	require.NoError(t, err)
	require.Len(t, h, 1)
	err = s.Update(a, func(tx storage.Tx) error {
		e := sealedEvent("case", "a1", 2, "")
		e.Tenant = "globex"
		return tx.Append(a, e)
	})
	require.ErrorIs(t, err, itsm.ErrInvalid, "an event naming another tenant")

	// Imports land in the tenant, ids named within it.
	require.NoError(t, s.Import(b, []storage.Document{numberedDoc("case", "b2", "INC0000002"), numberedDoc("case", "a2", "INC0000003")},
		[]itsm.Event{sealedEvent("case", "b2", 1, "")}))
	require.Equal(t, []string{"b1", "b2", "a2", "a1"}, ids(b))
	require.Equal(t, []string{"a1", "a2"}, ids(a))
	err = s.Import(b, []storage.Document{numberedDoc("case", "b3", "INC0000003")}, nil)
	require.ErrorAs(t, err, &dn, "numbers are unique within the tenant on import too")

	// Traversals follow the tenant's edges only.
	require.NoError(t, s.Import(a, []storage.Document{edge("ea", "x", "y", "uses")}, nil))
	require.NoError(t, s.Import(b, []storage.Document{edge("eb", "x", "z", "uses")}, nil))
	for ctx, want := range map[context.Context]string{a: "y", b: "z"} {
		hops, err := s.Traverse(ctx, storage.TraverseParams{Edges: edgeSchema(), FromField: "src", ToField: "dst", TypeField: "typ",
			Start: []string{"x"}, Direction: storage.Down, MaxDepth: 3})
		require.NoError(t, err)
		require.Len(t, hops, 1)
		require.Equal(t, want, hops[0].ID)
	}
}

// TestRowLevelSecurity runs deliberately unscoped statements (no tenant in
// the WHERE clause) on the store's own path: row-level security alone keeps
// them to the tenant set for the transaction, and without one they see and
// write nothing.
func TestRowLevelSecurity(t *testing.T) {
	s := newTestStore(t)
	bg := context.Background()
	require.NoError(t, s.Register(bg, numberedSchema("case")))
	for i, tenant := range []string{"acme", "acme", "globex", itsm.DefaultTenant} {
		ctx := itsm.WithTenant(bg, tenant)
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
			if err := tx.Put(ctx, numberedDoc("case", fmt.Sprint("c", i), ""), 0); err != nil {
				return err
			}
			return tx.Append(ctx, sealedEvent("case", fmt.Sprint("c", i), 1, ""))
		}))
	}
	table := s.ns + `."case"`
	require.Equal(t, int64(2), count(t, s, "acme", "SELECT count(*) FROM "+table))
	require.Equal(t, int64(1), count(t, s, "globex", "SELECT count(*) FROM "+table))
	require.Equal(t, int64(0), count(t, s, "initech", "SELECT count(*) FROM "+table))
	require.Equal(t, int64(2), count(t, s, "acme", "SELECT count(*) FROM "+s.eventsTable))
	require.Equal(t, int64(4), count(t, s, allTenants, "SELECT count(*) FROM "+s.eventsTable), "'*' opens the log")
	require.Equal(t, int64(0), count(t, s, allTenants, "SELECT count(*) FROM "+table), "and nothing else")

	// The role with no tenant set at all sees nothing.
	var n int64
	err := pgx.BeginFunc(bg, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(bg, "SET LOCAL ROLE "+quoteIdent(s.role)); err != nil {
			return err
		}
		return tx.QueryRow(bg, "SELECT count(*) FROM "+table).Scan(&n)
	})
	require.NoError(t, err)
	require.Zero(t, n)

	// Writes of another tenant's rows are refused by the policy, and the
	// log cannot be changed at all.
	writes := map[string]string{
		"insert another tenant's row":  "INSERT INTO " + table + ` (tenant, id, _version, _data, "number", state) VALUES ('globex', 'x', 1, '', '', 'new')`,
		"move a row to another tenant": "UPDATE " + table + " SET tenant = 'globex'",
		"update the log":               "UPDATE " + s.eventsTable + " SET reason = 'x'",
		"delete from the log":          "DELETE FROM " + s.eventsTable,
		"append another tenant's event": "INSERT INTO " + s.eventsTable + " (tenant, id, kind, record_id, number, record_version, name, from_state, to_state, actor, at_us, recorded_at_us, reason, prev_hash, hash) " +
			"VALUES ('globex', 'e', 'case', 'c0', '', 1, 'x', '', '', '', 0, 0, '', '', '')",
	}
	for what, q := range writes {
		rows, err := s.query(bg, s.pool, "acme", q)
		if err == nil {
			rows.Close()
			err = rows.Err()
		}
		require.Error(t, err, what)
	}
	require.Equal(t, int64(1), count(t, s, "globex", "SELECT count(*) FROM "+table), "nothing moved")
	require.Equal(t, int64(4), count(t, s, allTenants, "SELECT count(*) FROM "+s.eventsTable))
}

// TestRequireTenant: with WithRequireTenant every entry point refuses a
// context without a tenant, and every store refuses a malformed one.
func TestRequireTenant(t *testing.T) {
	bg := context.Background()
	strict := newTestStore(t, WithRequireTenant())
	require.NoError(t, strict.Register(bg, numberedSchema("case")))
	require.NoError(t, strict.Register(bg, edgeSchema()))
	lax, err := New(bg, strict.pool, WithSchema(strict.schema))
	require.NoError(t, err)
	require.NoError(t, lax.Register(bg, numberedSchema("case")))
	require.NoError(t, lax.Register(bg, edgeSchema()))
	calls := map[string]func(ctx context.Context, s *Store) error{
		"Get": func(ctx context.Context, s *Store) error { _, err := s.Get(ctx, "case", "x"); return err },
		"Query": func(ctx context.Context, s *Store) error {
			_, err := s.Query(ctx, storage.Query{Kind: "case"})
			return err
		},
		"Update": func(ctx context.Context, s *Store) error {
			return s.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, numberedDoc("case", "x", ""), 0) })
		},
		"ReadEvents": func(ctx context.Context, s *Store) error { _, err := s.ReadEvents(ctx, 0, 10); return err },
		"History":    func(ctx context.Context, s *Store) error { _, err := s.History(ctx, "case", "x"); return err },
		"Import": func(ctx context.Context, s *Store) error {
			return s.Import(ctx, []storage.Document{numberedDoc("case", "y", "")}, nil)
		},
		"Traverse": func(ctx context.Context, s *Store) error {
			_, err := s.Traverse(ctx, storage.TraverseParams{Edges: edgeSchema(), FromField: "src", ToField: "dst", TypeField: "typ",
				Start: []string{"x"}, Direction: storage.Down, MaxDepth: 1})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			require.ErrorIs(t, call(bg, strict), itsm.ErrInvalid, "no tenant")
			require.ErrorIs(t, call(itsm.WithTenant(bg, "Bad Tenant"), lax), itsm.ErrInvalid, "a malformed tenant")
			err := call(itsm.WithTenant(bg, "acme"), strict)
			if err != nil {
				require.ErrorIs(t, err, itsm.ErrNotFound, "with a tenant the call runs")
			}
		})
	}
	evs, err := strict.ReadEvents(storage.AllTenants(bg), 0, 10)
	require.NoError(t, err, "a log consumer of every tenant names none")
	require.Empty(t, evs)
	require.Equal(t, int64(0), count(t, strict, "acme", `SELECT count(*) FROM `+strict.ns+`."case" WHERE tenant <> 'acme'`))
}

// TestRoleChecks: a role that would bypass row-level security is refused,
// and WithRole("") runs as the pool's user.
func TestRoleChecks(t *testing.T) {
	bg := context.Background()
	p := testPool(t)
	_, err := New(bg, p, WithSchema(freshSchema(t, p)), WithRole("postgres"))
	require.ErrorIs(t, err, itsm.ErrInvalid)
	require.Contains(t, err.Error(), "BYPASSRLS")
	_, err = New(bg, p, WithSchema(freshSchema(t, p)), WithRole("Bad"))
	require.ErrorIs(t, err, itsm.ErrInvalid)

	s, err := New(bg, p, WithSchema(freshSchema(t, p)), WithRole(""))
	require.NoError(t, err)
	require.NoError(t, s.Register(bg, numberedSchema("case")))
	ctx := itsm.WithTenant(bg, "acme")
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, numberedDoc("case", "x", ""), 0) }))
	_, err = s.Get(ctx, "case", "x")
	require.NoError(t, err)
	_, err = s.Get(bg, "case", "x")
	require.ErrorIs(t, err, itsm.ErrNotFound, "the statements still name the tenant")
}

// TestTenancyMigratesInPlace opens a schema written by the release before
// tenancy (version 1: no tenant columns, indexes on the fields alone, the
// unique number index on the number alone, one sequence per name): its
// rows, events and sequences become the default tenant's, indexes are
// rebuilt to lead with the tenant, and numbers stay unique.
func TestTenancyMigratesInPlace(t *testing.T) {
	bg := context.Background()
	p := testPool(t)
	ns := freshSchema(t, p)
	q := quoteIdent(ns)
	ms, err := migrations()
	require.NoError(t, err)
	table := q + `."case"`
	oldIndex := func(purpose string, fields ...string) string { return quoteIdent(indexName("case", purpose, fields)) }
	old := []string{
		"CREATE SCHEMA " + q,
		"CREATE TABLE " + q + "._migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
		strings.ReplaceAll(ms[0].sql, "{{schema}}", q),
		"INSERT INTO " + q + "._migrations (version, name) VALUES (1, '" + ms[0].name + "')",
		"CREATE TABLE " + table + ` (id text COLLATE "C" PRIMARY KEY, _version bigint NOT NULL, _data bytea NOT NULL, "number" text COLLATE "C" NOT NULL, state text COLLATE "C" NOT NULL)`,
		"CREATE INDEX " + oldIndex("field", "number") + " ON " + table + ` ("number", id)`,
		"CREATE INDEX " + oldIndex("field", "state") + " ON " + table + " (state, id)",
		"CREATE UNIQUE INDEX " + oldIndex("unique", "number") + " ON " + table + ` ("number") WHERE "number" <> ''`,
		"INSERT INTO " + q + `._kinds (kind, fields) VALUES ('case', '[{"name":"number","type":"string"},{"name":"state","type":"string"}]')`,
		"INSERT INTO " + table + ` VALUES ('d0', 1, '{}', 'INC0000001', 'new'), ('d1', 1, '{}', 'INC0000002', 'new'), ('d2', 1, '{}', '', 'new')`,
		"CREATE SEQUENCE " + q + "._seq_case CACHE 1",
		"SELECT nextval('" + q + "._seq_case'), nextval('" + q + "._seq_case')",
	}
	for _, stmt := range old {
		_, err := p.Exec(bg, stmt)
		require.NoError(t, err, stmt)
	}
	prev := ""
	for v := int64(1); v <= 2; v++ {
		e := sealedEvent("case", "d0", v, prev)
		prev = e.Hash
		changes, _ := encodeChanges(e.Changes)
		_, err := p.Exec(bg, "INSERT INTO "+q+"._events (id, kind, record_id, number, record_version, name, from_state, to_state, actor, at_us, recorded_at_us, reason, changes, prev_hash, hash) "+
			"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
			e.ID, e.Kind, e.RecordID, e.Number, e.RecordVersion, e.Name, e.From, e.To, e.Actor, e.At.UnixMicro(), e.RecordedAt.UnixMicro(), e.Reason, changes, e.PrevHash, e.Hash)
		require.NoError(t, err)
	}

	s, err := New(bg, p, WithSchema(ns)) // the new release starting
	require.NoError(t, err)
	require.NoError(t, s.Register(bg, numberedSchema("case")))

	var inDefault int
	require.NoError(t, p.QueryRow(bg, "SELECT count(*) FROM "+table+" WHERE tenant = 'default'").Scan(&inDefault))
	require.Equal(t, 3, inDefault, "every row is the default tenant's")
	var indexes []string
	rows, err := p.Query(bg, "SELECT indexname::text FROM pg_indexes WHERE schemaname = $1 AND tablename = 'case' ORDER BY 1", ns)
	require.NoError(t, err)
	indexes, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	want := append(indexNames(kindIndexes(numberedSchema("case"))), "case_pkey")
	require.ElementsMatch(t, want, indexes, "the old indexes are replaced by ones leading with the tenant")

	d, err := s.Get(bg, "case", "d0")
	require.NoError(t, err)
	require.Equal(t, "INC0000001", d.Fields[0].Str())
	acme := itsm.WithTenant(bg, "acme")
	_, err = s.Get(acme, "case", "d0")
	require.ErrorIs(t, err, itsm.ErrNotFound)
	require.Zero(t, count(t, s, "acme", "SELECT count(*) FROM "+table), "row-level security holds on the migrated table")

	err = s.Update(bg, func(tx storage.Tx) error { return tx.Put(bg, numberedDoc("case", "x", "INC0000001"), 0) })
	var dn *storage.DuplicateNumberError
	require.ErrorAs(t, err, &dn, "numbers stay unique in the default tenant")
	require.NoError(t, s.Update(acme, func(tx storage.Tx) error { return tx.Put(acme, numberedDoc("case", "x", "INC0000001"), 0) }),
		"and are per tenant")

	next := func(ctx context.Context) int64 {
		var n int64
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
			var err error
			n, err = tx.NextSequence(ctx, "case")
			return err
		}))
		return n
	}
	require.Equal(t, int64(3), next(bg), "the default tenant's sequence goes on")
	require.Equal(t, int64(1), next(acme))

	evs, err := s.ReadEvents(bg, 0, 10)
	require.NoError(t, err)
	require.Len(t, evs, 2)
	for _, e := range evs {
		require.Equal(t, itsm.DefaultTenant, e.Tenant)
		require.Equal(t, e.Hash, itsm.ComputeHash(&e), "old chains still verify")
	}
	h, err := s.History(acme, "case", "d0")
	require.NoError(t, err)
	require.Empty(t, h)
}
