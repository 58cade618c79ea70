package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

var numberedSchema = storage.Schema{Kind: "case", Fields: []storage.Field{
	{Name: storage.NumberField, Type: storage.TypeString},
	{Name: "state", Type: storage.TypeString},
}}

func numberedDoc(id, number string) storage.Document {
	return storage.Document{Kind: "case", ID: id, Version: 1, Data: []byte(`{}`),
		Fields: []storage.Value{storage.String(number), storage.String("new")}}
}

// oldDatabase builds a file as an earlier version of this package left it:
// the kind's table without the unique number index, holding docs written
// by raw SQL (which may repeat a number).
func oldDatabase(t *testing.T, docs ...storage.Document) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	s, err := Open(ctx, path, WithSynchronous("NORMAL"))
	require.NoError(t, err)
	require.NoError(t, s.Register(ctx, numberedSchema))
	_, err = s.w.ExecContext(ctx, "DROP INDEX "+quoteIdent(numberIndexName("case")))
	require.NoError(t, err)
	for _, d := range docs {
		_, err := s.w.ExecContext(ctx, `INSERT INTO "pillars_doc_case" (_id, _version, _data, "number", state) VALUES (?, 1, '{}', ?, 'new')`, d.ID, d.Fields[0].Str())
		require.NoError(t, err)
	}
	require.NoError(t, s.Close())
	return path
}

func hasNumberIndex(t *testing.T, s *Store) bool {
	t.Helper()
	var n int
	require.NoError(t, s.r.QueryRowContext(context.Background(),
		`SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ?`, numberIndexName("case")).Scan(&n))
	return n == 1
}

// TestNumberIndexMigratesInPlace opens files written before human numbers
// were unique: registering the kind adds the index, or names the number
// its documents repeat until they are fixed.
func TestNumberIndexMigratesInPlace(t *testing.T) {
	ctx := context.Background()
	t.Run("distinct numbers", func(t *testing.T) {
		path := oldDatabase(t, numberedDoc("a", "INC0000001"), numberedDoc("b", ""), numberedDoc("c", ""))
		s := openAt(t, path)
		require.False(t, hasNumberIndex(t, s), "the old file has no index")
		require.NoError(t, s.Register(ctx, numberedSchema))
		require.True(t, hasNumberIndex(t, s), "Register adds it")
		err := s.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, numberedDoc("d", "INC0000001"), 0) })
		var dn *storage.DuplicateNumberError
		require.ErrorAs(t, err, &dn)
		require.Equal(t, "INC0000001", dn.Number)
		put(t, s, numberedDoc("e", ""), 0) // empty numbers still repeat
	})

	t.Run("repeated numbers", func(t *testing.T) {
		path := oldDatabase(t, numberedDoc("a", "INC0000001"), numberedDoc("b", "INC0000001"), numberedDoc("c", "INC0000002"))
		s := openAt(t, path)
		err := s.Register(ctx, numberedSchema)
		require.ErrorIs(t, err, itsm.ErrConflict)
		var dn *storage.DuplicateNumberError
		require.ErrorAs(t, err, &dn)
		require.Equal(t, storage.DuplicateNumberError{Kind: "case", Number: "INC0000001"}, *dn)
		require.Contains(t, err.Error(), "INC0000001")
		require.False(t, hasNumberIndex(t, s))

		// The host renumbers one of them; registering then succeeds.
		_, err = s.w.ExecContext(ctx, `UPDATE "pillars_doc_case" SET "number" = 'INC0000001-2' WHERE _id = 'b'`)
		require.NoError(t, err)
		require.NoError(t, s.Register(ctx, numberedSchema))
		require.True(t, hasNumberIndex(t, s))
	})

	t.Run("reopened after the migration", func(t *testing.T) {
		path := oldDatabase(t, numberedDoc("a", "INC0000001"))
		s := openAt(t, path)
		require.NoError(t, s.Register(ctx, numberedSchema))
		require.NoError(t, s.Close())
		s = openAt(t, path)
		require.True(t, hasNumberIndex(t, s))
		require.NoError(t, s.Register(ctx, numberedSchema), "registering again is a no-op")
	})
}

// TestImportRebuildingIndexesRefusesTakenNumber covers the Import path that
// drops a new table's indexes and rebuilds them after the insert: the
// rebuilt unique index finds the number held already.
func TestImportRebuildingIndexesRefusesTakenNumber(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	require.NoError(t, s.Register(ctx, numberedSchema))
	put(t, s, numberedDoc("held", "INC0000042"), 0)
	docs := make([]storage.Document, rebuildMin)
	for i := range docs {
		docs[i] = numberedDoc(fmt.Sprintf("imp%05d", i), "")
	}
	docs[len(docs)/2].Fields[0] = storage.String("INC0000042")
	err := s.Import(ctx, docs, nil)
	var dn *storage.DuplicateNumberError
	require.ErrorAs(t, err, &dn)
	require.Equal(t, "INC0000042", dn.Number)
	page, err := s.Query(ctx, storage.Query{Kind: "case", Limit: 10})
	require.NoError(t, err)
	require.Len(t, page.Docs, 1, "nothing was imported")
	require.True(t, hasNumberIndex(t, s), "the index is back")
}
