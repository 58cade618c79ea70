package operation_test

import (
	"testing"

	"github.com/pillars-itsm/pillars/internal/pgtest"
	"github.com/pillars-itsm/pillars/storage"
)

// TestOnPostgres runs the same tests as TestOnSQLite on PostgreSQL, each
// fixture in its own schema, when PILLARS_POSTGRES_DSN is set.
func TestOnPostgres(t *testing.T) {
	if _, ok := pgtest.DSN(); !ok {
		t.Skip(pgtest.Hint)
	}
	prev := newStore
	newStore = func(tb testing.TB) storage.Backend {
		st, _ := pgtest.Open(tb, "operation_test")
		return st
	}
	defer func() { newStore = prev }()
	for name, fn := range storeSuite {
		t.Run(name, fn)
	}
}
