package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// dsnEnv names the environment variable the tests read.
const dsnEnv = "PILLARS_POSTGRES_DSN"

var (
	poolOnce sync.Once
	pool     *pgxpool.Pool
	poolErr  error
)

// testDSN returns the database of the tests, or skips the test.
func testDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		t.Skipf("%s is not set; to run the PostgreSQL tests set it, for example %s=postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
			dsnEnv, dsnEnv)
	}
	return dsn
}

// testPool returns the pool shared by the tests of this package, sized for
// the conformance suite's parallel writers.
func testPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dsn := testDSN(t)
	poolOnce.Do(func() {
		cfg, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			poolErr = err
			return
		}
		cfg.MaxConns = 24
		if os.Getenv("PILLARS_BENCH_ASYNC_COMMIT") == "1" {
			// Takes the disk out of the figures on a machine whose fsync
			// is shared and slow; baseline and store alike.
			cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
		}
		pool, poolErr = pgxpool.NewWithConfig(context.Background(), cfg)
	})
	require.NoError(t, poolErr)
	return pool
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pool != nil {
		pool.Close()
	}
	os.Exit(code)
}

// freshSchema returns a random schema name and drops the schema when the
// test ends, so runs never see one another's data.
func freshSchema(t testing.TB, p *pgxpool.Pool) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	ns := "pillars_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := p.Exec(ctx, "DROP SCHEMA IF EXISTS "+quoteIdent(ns)+" CASCADE")
		if err != nil {
			t.Errorf("drop schema %s: %v", ns, err)
		}
	})
	return ns
}

// newTestStore returns a migrated store in a fresh schema on the shared pool.
func newTestStore(t testing.TB, opts ...Option) *Store {
	t.Helper()
	p := testPool(t)
	ns := freshSchema(t, p)
	s, err := New(context.Background(), p, append([]Option{WithSchema(ns)}, opts...)...)
	require.NoError(t, err)
	return s
}

// Fixtures.

func ticketSchema(kind string) storage.Schema {
	return storage.Schema{
		Kind: kind,
		Fields: []storage.Field{
			{Name: "grp", Type: storage.TypeString},
			{Name: "state", Type: storage.TypeString},
			{Name: "prio", Type: storage.TypeInt},
			{Name: "opened", Type: storage.TypeTime},
		},
		Indexes: []storage.Index{
			{Name: "queue", Fields: []string{"grp", "state", "prio", "opened"}},
			{Name: "by_prio", Fields: []string{"prio", "opened"}},
		},
	}
}

func ticket(kind, id string, version int64, grp, state string, prio int64, opened time.Time) storage.Document {
	return storage.Document{Kind: kind, ID: id, Version: version, Data: []byte(`{"id":"` + id + `"}`),
		Fields: []storage.Value{storage.String(grp), storage.String(state), storage.Int(prio), storage.Time(opened)}}
}

// sealedEvent returns a sealed event of a record at version v chained to
// prev.
func sealedEvent(kind, id string, v int64, prev string) itsm.Event {
	e := itsm.Event{
		ID: itsm.NewID(), Kind: kind, RecordID: id, Number: "INC0000001", RecordVersion: v,
		Name: "update", From: "new", To: "in_progress", Actor: "alice",
		At:         time.Date(2024, 1, 2, 3, 4, 5, 678901234, time.UTC),
		RecordedAt: time.Date(2024, 1, 2, 3, 4, 6, 0, time.UTC),
		Changes:    []itsm.FieldChange{{Field: "state", From: `"new"`, To: `"in_progress"`}},
	}
	itsm.Seal(&e, prev)
	return e
}
