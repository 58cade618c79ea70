package customstore_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/examples/customstore"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

var numbered = storage.Schema{Kind: "case", Fields: []storage.Field{{Name: storage.NumberField, Type: storage.TypeString}}}

func numberedDoc(id, number string) storage.Document {
	return storage.Document{Kind: "case", ID: id, Version: 1, Data: []byte(`{}`), Fields: []storage.Value{storage.String(number)}}
}

// TestNumbersOfAnEarlierVersion registers a kind on a prefix written before
// numbers were kept unique (no number hash): Register builds the hash from
// the documents, or names a number they repeat.
func TestNumbersOfAnEarlierVersion(t *testing.T) {
	ctx := context.Background()
	rdb := redisClient(t)
	// forget drops the number hash and its marker, as an earlier version
	// never wrote them.
	forget := func(s *customstore.Store) {
		require.NoError(t, rdb.Del(ctx, "{"+s.Prefix()+"}:num:case", "{"+s.Prefix()+"}:numready:case").Err())
	}
	put := func(s *customstore.Store, d storage.Document) error {
		return s.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, d, 0) })
	}

	t.Run("distinct numbers", func(t *testing.T) {
		old := newStore(t)
		require.NoError(t, old.Register(ctx, numbered))
		require.NoError(t, put(old, numberedDoc("a", "INC0000001")))
		require.NoError(t, put(old, numberedDoc("b", "")))
		forget(old)
		s, err := customstore.New(rdb, old.Prefix())
		require.NoError(t, err)
		require.NoError(t, s.Register(ctx, numbered))
		err = put(s, numberedDoc("c", "INC0000001"))
		var dn *storage.DuplicateNumberError
		require.ErrorAs(t, err, &dn, "the number held before the upgrade is known")
		require.NoError(t, put(s, numberedDoc("d", "INC0000002")))
	})

	t.Run("repeated numbers", func(t *testing.T) {
		old := newStore(t)
		require.NoError(t, old.Register(ctx, numbered))
		require.NoError(t, put(old, numberedDoc("a", "INC0000001")))
		forget(old)
		require.NoError(t, put(old, numberedDoc("b", "INC0000001")), "without the hash nothing stops it")
		forget(old)
		s, err := customstore.New(rdb, old.Prefix())
		require.NoError(t, err)
		err = s.Register(ctx, numbered)
		require.ErrorIs(t, err, itsm.ErrConflict)
		var dn *storage.DuplicateNumberError
		require.ErrorAs(t, err, &dn)
		require.Equal(t, "INC0000001", dn.Number)
	})
}
