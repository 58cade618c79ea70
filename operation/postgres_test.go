package operation_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/postgres"
)

// TestOnPostgres runs the same tests as TestOnSQLite on PostgreSQL, each
// fixture in its own schema, when PILLARS_POSTGRES_DSN is set.
func TestOnPostgres(t *testing.T) {
	dsn := os.Getenv("PILLARS_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("PILLARS_POSTGRES_DSN is not set; for example postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	defer pool.Close()
	prev := newStore
	newStore = func(tb testing.TB) storage.Backend {
		var b [6]byte
		_, _ = rand.Read(b[:])
		schema := "operation_test_" + hex.EncodeToString(b[:])
		s, err := postgres.New(ctx, pool, postgres.WithSchema(schema))
		require.NoError(tb, err)
		tb.Cleanup(func() {
			c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = s.Close()
			_, err := pool.Exec(c, `DROP SCHEMA IF EXISTS "`+schema+`" CASCADE`)
			if err != nil {
				tb.Errorf("drop schema %s: %v", schema, err)
			}
		})
		return s
	}
	defer func() { newStore = prev }()
	for name, fn := range storeSuite {
		t.Run(name, fn)
	}
}
