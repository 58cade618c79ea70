// Package pgtest opens PostgreSQL stores for the module's own tests: each in
// a fresh schema of the database named by PILLARS_POSTGRES_DSN, dropped when
// the test ends, so test runs never see each other's data and leave nothing
// behind.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pillars-itsm/pillars/storage/postgres"
)

// EnvDSN names the environment variable holding the test database's DSN.
const EnvDSN = "PILLARS_POSTGRES_DSN"

// Hint is what a test says when it skips PostgreSQL: how to turn it on.
const Hint = EnvDSN + " is not set; for example " + EnvDSN + "=postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// DSN returns the test database's DSN and whether it is set.
func DSN() (string, bool) {
	dsn := os.Getenv(EnvDSN)
	return dsn, dsn != ""
}

// Schema returns a fresh schema name starting with prefix (lower-case
// letters, digits and underscores).
func Schema(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(prefix) + "_" + hex.EncodeToString(b[:])
}

// Open returns a store in a fresh schema named after prefix, migrated, and
// registers its clean-up with tb: the store is closed and the schema
// dropped. It returns nil, false when PILLARS_POSTGRES_DSN is not set, so
// the caller decides whether to skip; it fails tb when the database cannot
// be reached.
func Open(tb testing.TB, prefix string, opts ...postgres.Option) (*postgres.Store, bool) {
	tb.Helper()
	return OpenSchema(tb, Schema(prefix), opts...)
}

// OpenSchema is Open in the named schema, for a test that closes a store
// and opens it again on the same data (a restart); every store opened in
// the schema drops it when its test ends.
func OpenSchema(tb testing.TB, schema string, opts ...postgres.Option) (*postgres.Store, bool) {
	tb.Helper()
	dsn, ok := DSN()
	if !ok {
		return nil, false
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	st, err := postgres.New(ctx, pool, append(opts, postgres.WithSchema(schema))...)
	if err != nil {
		pool.Close()
		tb.Fatalf("pgtest: open a store in schema %s: %v", schema, err)
	}
	tb.Cleanup(func() {
		_ = st.Close()
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(c, `DROP SCHEMA IF EXISTS "`+schema+`" CASCADE`); err != nil {
			tb.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
		pool.Close()
	})
	return st, true
}
