package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/internal/pgtest"
	"github.com/pillars-itsm/pillars/storage"
)

func TestOpenDropsItsSchema(t *testing.T) {
	dsn, ok := pgtest.DSN()
	if !ok {
		t.Skip(pgtest.Hint)
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	defer pool.Close()
	count := func() int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'pgtest\_self\_%'`).Scan(&n))
		return n
	}
	before := count()
	t.Run("open", func(t *testing.T) {
		st, ok := pgtest.Open(t, "pgtest_self")
		require.True(t, ok)
		require.NoError(t, st.Register(ctx, storage.Schema{Kind: "note"}))
		require.NoError(t, st.Update(ctx, func(tx storage.Tx) error {
			return tx.Put(ctx, storage.Document{Kind: "note", ID: "n1", Version: 1, Data: []byte(`{}`)}, 0)
		}))
		_, err := st.Get(ctx, "note", "n1")
		require.NoError(t, err)
		assert.Equal(t, before+1, count(), "the store has its own schema")
	})
	assert.Equal(t, before, count(), "the schema is dropped when the test ends")
}

func TestSchemaNamesAreFresh(t *testing.T) {
	a, b := pgtest.Schema("X_test"), pgtest.Schema("X_test")
	assert.NotEqual(t, a, b)
	assert.Regexp(t, `^x_test_[0-9a-f]{12}$`, a)
}
