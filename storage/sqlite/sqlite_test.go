package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

var _ storage.Backend = (*Store)(nil)

// openAt opens a store on path with synchronous=NORMAL, which keeps the
// tests fast; durability is not under test here.
func openAt(t testing.TB, path string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, append([]Option{WithSynchronous("NORMAL")}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func openTest(t testing.TB, opts ...Option) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "pillars.db"), opts...)
}

// ticketSchema is the kind most tests use: a queue index on (grp, state,
// prio, opened) as a service desk declares it.
var ticketSchema = storage.Schema{
	Kind: "ticket",
	Fields: []storage.Field{
		{Name: "grp", Type: storage.TypeString},
		{Name: "state", Type: storage.TypeString},
		{Name: "prio", Type: storage.TypeInt},
		{Name: "opened", Type: storage.TypeTime},
	},
	Indexes: []storage.Index{{Name: "queue", Fields: []string{"grp", "state", "prio", "opened"}}},
}

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

func ticket(id string, version int64, grp, state string, prio int64, opened time.Time) storage.Document {
	return storage.Document{Kind: "ticket", ID: id, Version: version, Data: []byte(`{"id":"` + id + `"}`),
		Fields: []storage.Value{storage.String(grp), storage.String(state), storage.Int(prio), storage.Time(opened)}}
}

func put(t testing.TB, s *Store, d storage.Document, expected int64) {
	t.Helper()
	require.NoError(t, s.Update(context.Background(), func(tx storage.Tx) error { return tx.Put(context.Background(), d, expected) }))
}

func TestOpenOptions(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
		opts []Option
	}{
		{"empty path", "", nil},
		{"memory", ":memory:", nil},
		{"uri", "file:x.db", nil},
		{"synchronous", filepath.Join(dir, "a.db"), []Option{WithSynchronous("sometimes")}},
		{"busy timeout", filepath.Join(dir, "b.db"), []Option{WithBusyTimeout(-time.Second)}},
		{"read conns", filepath.Join(dir, "c.db"), []Option{WithReadConns(0)}},
		{"cache", filepath.Join(dir, "d.db"), []Option{WithCacheSize(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(t.Context(), tt.path, tt.opts...)
			require.ErrorIs(t, err, itsm.ErrInvalid)
		})
	}
}

func TestOpenPragmas(t *testing.T) {
	s := openTest(t, WithBusyTimeout(1500*time.Millisecond))
	ctx := t.Context()
	var mode string
	require.NoError(t, s.r.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode))
	assert.Equal(t, "wal", mode)
	for name, want := range map[string]int{"foreign_keys": 1, "busy_timeout": 1500, "synchronous": 1, "temp_store": 2} {
		var got int
		require.NoError(t, s.w.QueryRowContext(ctx, "PRAGMA "+name).Scan(&got), name)
		assert.Equal(t, want, got, name)
	}
	var ro int
	require.NoError(t, s.r.QueryRowContext(ctx, "PRAGMA query_only").Scan(&ro))
	assert.Equal(t, 1, ro, "readers are read-only")
	v, err := s.SchemaVersion(ctx)
	require.NoError(t, err)
	assert.Equal(t, migrationVersion, v)
	assert.True(t, filepath.IsAbs(s.Path()))
}

func TestMigrate(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "m.db")

	t.Run("explicit", func(t *testing.T) {
		s := openAt(t, path, WithMigrate(false))
		v, err := s.SchemaVersion(ctx)
		require.NoError(t, err)
		assert.Equal(t, 0, v)
		require.ErrorIs(t, s.Register(ctx, ticketSchema), itsm.ErrInvalid, "unmigrated store refuses work")
		_, err = s.Get(ctx, "ticket", "x")
		require.ErrorIs(t, err, itsm.ErrInvalid)
		require.NoError(t, s.Migrate(ctx))
		require.NoError(t, s.Migrate(ctx), "idempotent")
		require.NoError(t, s.Register(ctx, ticketSchema))
		var n int
		require.NoError(t, s.r.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n))
		assert.Equal(t, migrationVersion, n)
	})

	t.Run("two processes at once", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "race.db")
		a, b := openAt(t, path, WithMigrate(false)), openAt(t, path, WithMigrate(false))
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, s := range []*Store{a, b} {
			wg.Go(func() { errs[i] = s.Migrate(ctx) })
		}
		wg.Wait()
		require.NoError(t, errs[0])
		require.NoError(t, errs[1])
		var n int
		require.NoError(t, a.r.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n))
		assert.Equal(t, migrationVersion, n)
	})

	t.Run("newer file refused", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "future.db")
		s := openAt(t, path)
		_, err := s.w.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', 0)", migrationVersion+1)
		require.NoError(t, err)
		require.NoError(t, s.Close())
		_, err = Open(ctx, path)
		require.ErrorContains(t, err, "newer than this package")
	})
}

func TestClosed(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	require.NoError(t, s.Register(ctx, ticketSchema))
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "closing twice is a no-op")
	_, err := s.Get(ctx, "ticket", "a")
	checks := map[string]error{
		"Register": s.Register(ctx, ticketSchema),
		"Get":      err,
		"Update":   s.Update(ctx, func(storage.Tx) error { return nil }),
		"Import":   s.Import(ctx, nil, nil),
		"Migrate":  s.Migrate(ctx),
	}
	_, checks["Query"] = s.Query(ctx, storage.Query{Kind: "ticket"})
	_, checks["ReadEvents"] = s.ReadEvents(ctx, 0, 10)
	_, checks["History"] = s.History(ctx, "ticket", "a")
	_, checks["Traverse"] = s.Traverse(ctx, storage.TraverseParams{})
	for name, err := range checks {
		assert.ErrorIs(t, err, ErrClosed, name)
		assert.ErrorIs(t, err, itsm.ErrInvalid, name)
	}
}

func TestRegister(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "reg.db")
	s := openAt(t, path)
	require.NoError(t, s.Register(ctx, ticketSchema))
	require.NoError(t, s.Register(ctx, ticketSchema), "same schema again is a no-op")

	changed := cloneSchema(ticketSchema)
	changed.Fields = append(changed.Fields, storage.Field{Name: "extra", Type: storage.TypeString})

	// Each field is a real column with an index; the composite index holds
	// the tenant, the declared fields in order, then _id.
	cols := map[string]string{}
	rows, err := s.r.QueryContext(ctx, "SELECT name, type FROM pragma_table_info('pillars_doc_ticket')")
	require.NoError(t, err)
	for rows.Next() {
		var n, typ string
		require.NoError(t, rows.Scan(&n, &typ))
		cols[n] = typ
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, map[string]string{"_id": "TEXT", "_version": "INTEGER", "_data": "BLOB", "_tenant": "TEXT",
		"grp": "TEXT", "state": "TEXT", "prio": "INTEGER", "opened": "INTEGER"}, cols)
	indexCols := func(index string) []string {
		rows, err := s.r.QueryContext(ctx, "SELECT name FROM pragma_index_info(?) ORDER BY seqno", index)
		require.NoError(t, err)
		defer rows.Close()
		var out []string
		for rows.Next() {
			var n string
			require.NoError(t, rows.Scan(&n))
			out = append(out, n)
		}
		return out
	}
	assert.Equal(t, []string{"_tenant", "grp", "state", "prio", "opened", "_id"}, indexCols("pillars_doc_ticket__i_queue"))
	for _, f := range ticketSchema.Fields {
		assert.Equal(t, []string{"_tenant", f.Name, "_id"}, indexCols("pillars_doc_ticket__f_"+f.Name))
	}
	assert.Equal(t, []string{"_tenant", "_id"}, indexCols("sqlite_autoindex_pillars_doc_ticket_1"), "the primary key")

	put(t, s, ticket("a", 1, "net", "new", 2, t0), 0)
	require.NoError(t, s.Close())

	t.Run("reopened store knows the kind", func(t *testing.T) {
		s := openAt(t, path)
		d, err := s.Get(ctx, "ticket", "a")
		require.NoError(t, err)
		assert.Equal(t, "net", d.Fields[0].Str())
		require.NoError(t, s.Close())
	})

	t.Run("reopened store adds a field", func(t *testing.T) {
		s := openAt(t, path)
		require.NoError(t, s.Register(ctx, changed))
		d, err := s.Get(ctx, "ticket", "a")
		require.NoError(t, err)
		require.Len(t, d.Fields, 5)
		assert.Equal(t, storage.String(""), d.Fields[4], "existing documents hold the zero value")
		assert.Equal(t, []string{"_tenant", "extra", "_id"}, indexColsOf(t, s, "pillars_doc_ticket__f_extra"))
		require.NoError(t, s.Close())
	})

	t.Run("reopened store refuses a type change", func(t *testing.T) {
		s := openAt(t, path)
		bad := cloneSchema(changed)
		bad.Fields[2].Type = storage.TypeString
		require.ErrorIs(t, s.Register(ctx, bad), itsm.ErrConflict)
		require.NoError(t, s.Register(ctx, changed))
		require.NoError(t, s.Close())
	})

	t.Run("reopened store drops and restores a field's own index", func(t *testing.T) {
		compact := cloneSchema(changed)
		for i := range compact.Fields[:4] { // the queue's fields
			compact.Fields[i].CompositeOnly = true
		}
		s := openAt(t, path)
		require.NoError(t, s.Register(ctx, compact))
		for _, f := range compact.Fields[:4] {
			assert.Empty(t, indexColsOf(t, s, "pillars_doc_ticket__f_"+f.Name), "CompositeOnly %s has no index", f.Name)
		}
		assert.Equal(t, []string{"_tenant", "extra", "_id"}, indexColsOf(t, s, "pillars_doc_ticket__f_extra"))
		page, err := s.Query(ctx, storage.Query{Kind: "ticket", Filters: []storage.Filter{storage.Eq("grp", storage.String("net"))}})
		require.NoError(t, err)
		require.Len(t, page.Docs, 1, "served by the queue index")
		_, err = s.Query(ctx, storage.Query{Kind: "ticket", Filters: []storage.Filter{storage.Eq("state", storage.String("new"))}})
		require.ErrorIs(t, err, itsm.ErrInvalid, "no index serves state alone any more")
		require.NoError(t, s.Close())

		s = openAt(t, path)
		require.NoError(t, s.Register(ctx, changed))
		assert.Equal(t, []string{"_tenant", "state", "_id"}, indexColsOf(t, s, "pillars_doc_ticket__f_state"), "own index rebuilt")
		require.NoError(t, s.Close())
	})

	t.Run("invalid schema", func(t *testing.T) {
		s := openTest(t)
		for _, bad := range []storage.Schema{
			{Kind: `x"; DROP TABLE pillars_events; --`},
			{Kind: "ok", Fields: []storage.Field{{Name: `a" TEXT); DROP TABLE x; --`, Type: storage.TypeString}}},
			{Kind: "ok", Fields: []storage.Field{{Name: "id", Type: storage.TypeString}}},
		} {
			require.ErrorIs(t, s.Register(ctx, bad), itsm.ErrInvalid)
		}
	})

	t.Run("keyword names are quoted", func(t *testing.T) {
		s := openTest(t)
		sch := storage.Schema{Kind: "order", Fields: []storage.Field{{Name: "select", Type: storage.TypeString}, {Name: "from", Type: storage.TypeInt}},
			Indexes: []storage.Index{{Name: "where", Fields: []string{"select", "from"}}}}
		require.NoError(t, s.Register(ctx, sch))
		d := storage.Document{Kind: "order", ID: "1", Version: 1, Fields: []storage.Value{storage.String("x"), storage.Int(1)}}
		put(t, s, d, 0)
		page, err := s.Query(ctx, storage.Query{Kind: "order", Filters: []storage.Filter{storage.Eq("select", storage.String("x"))},
			Sort: []storage.Sort{{Field: "select"}, {Field: "from", Desc: true}}})
		require.NoError(t, err)
		require.Len(t, page.Docs, 1)
	})
}

func indexColsOf(t *testing.T, s *Store, index string) []string {
	t.Helper()
	rows, err := s.r.QueryContext(t.Context(), "SELECT name FROM pragma_index_info(?) ORDER BY seqno", index)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		out = append(out, n)
	}
	return out
}

// TestRegisterFromAnotherProcess: a kind registered through another Store
// on the same file is found on first use.
func TestRegisterFromAnotherProcess(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "two.db")
	a, b := openAt(t, path), openAt(t, path)
	require.NoError(t, a.Register(ctx, ticketSchema))
	put(t, b, ticket("x", 1, "g", "s", 1, t0), 0)
	d, err := a.Get(ctx, "ticket", "x")
	require.NoError(t, err)
	assert.Equal(t, int64(1), d.Version)
	_, err = b.Get(ctx, "nosuchkind", "x")
	require.ErrorIs(t, err, itsm.ErrInvalid)
}

// errorsAs is a small helper for tests that need a typed error.
func errorsAs[T error](err error) (T, bool) {
	var target T
	ok := errors.As(err, &target)
	return target, ok
}

func TestInterpretError(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	_, err := s.w.ExecContext(ctx, "CREATE TABLE u (a TEXT PRIMARY KEY, b TEXT NOT NULL)")
	require.NoError(t, err)
	_, err = s.w.ExecContext(ctx, "INSERT INTO u VALUES ('k', 'v')")
	require.NoError(t, err)
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, itsm.Event{ID: "e"}) }))
	tests := []struct {
		name string
		sql  string
		want error
	}{
		{"primary key", "INSERT INTO u VALUES ('k', 'w')", itsm.ErrConflict},
		{"not null", "INSERT INTO u VALUES ('j', NULL)", itsm.ErrInvalid},
		{"append-only log: delete", "DELETE FROM pillars_events", itsm.ErrInvalid},
		{"append-only log: update", "UPDATE pillars_events SET reason = 'edited'", itsm.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.w.ExecContext(ctx, tt.sql)
			require.Error(t, err)
			require.ErrorIs(t, interpretError(err), tt.want)
		})
	}
	assert.NoError(t, interpretError(nil))
	plain := fmt.Errorf("disk on fire")
	assert.Equal(t, plain, interpretError(plain))
	assert.ErrorIs(t, interpretError(context.Canceled), context.Canceled)
	_, ok := errorsAs[*itsm.NotFoundError](interpretError(&itsm.NotFoundError{Kind: "k", ID: "i"}))
	assert.True(t, ok)
	assert.True(t, strings.Contains(ErrClosed.Error(), "closed"))
}

// TestOpenGathersPlannerStatistics: a database filled by an earlier run gets
// planner statistics when it is opened, so queries with several equality
// filters are planned on the selective index.
func TestOpenGathersPlannerStatistics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pillars.db")
	ctx := t.Context()
	s := openAt(t, path)
	require.NoError(t, s.Register(ctx, ticketSchema))
	seedTickets(t, s, 300, 3)
	require.NoError(t, s.Close())
	// Forget what the store gathered when it closed, as a database filled by
	// another tool and never analysed would be.
	raw, err := sql.Open(driverName, path)
	require.NoError(t, err)
	_, err = raw.ExecContext(ctx, "DROP TABLE IF EXISTS sqlite_stat1")
	require.NoError(t, err)
	require.NoError(t, raw.Close())

	s = openAt(t, path)
	var n int
	require.NoError(t, s.r.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_stat1 WHERE tbl = ?", tableName("ticket")).Scan(&n))
	assert.Positive(t, n, "the ticket table has planner statistics after Open")
}
