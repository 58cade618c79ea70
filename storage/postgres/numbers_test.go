package postgres

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

func numberedSchema(kind string) storage.Schema {
	return storage.Schema{Kind: kind, Fields: []storage.Field{
		{Name: storage.NumberField, Type: storage.TypeString},
		{Name: "state", Type: storage.TypeString},
	}}
}

func numberedDoc(kind, id, number string) storage.Document {
	return storage.Document{Kind: kind, ID: id, Version: 1, Data: []byte(`{}`),
		Fields: []storage.Value{storage.String(number), storage.String("new")}}
}

// TestNumberIndexMigratesInPlace opens schemas written before human numbers
// were unique (the kind's table without its unique index): a store
// registering the kind adds the index, or names the number its documents
// repeat until they are fixed.
func TestNumberIndexMigratesInPlace(t *testing.T) {
	ctx := context.Background()
	p := testPool(t)
	old := func(t *testing.T, numbers ...string) (string, *Store) {
		ns := freshSchema(t, p)
		s, err := New(ctx, p, WithSchema(ns))
		require.NoError(t, err)
		require.NoError(t, s.Register(ctx, numberedSchema("case")))
		_, err = p.Exec(ctx, "DROP INDEX "+s.ns+"."+quoteIdent(numberIndexName("case")))
		require.NoError(t, err)
		for i, n := range numbers {
			_, err := p.Exec(ctx, "INSERT INTO "+s.ns+`."case" (id, _version, _data, "number", state) VALUES ($1, 1, '', $2, 'new')`, fmt.Sprint("d", i), n)
			require.NoError(t, err)
		}
		return ns, s
	}
	hasIndex := func(t *testing.T, ns string) bool {
		var ok bool
		require.NoError(t, p.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", quoteIdent(ns)+"."+quoteIdent(numberIndexName("case"))).Scan(&ok))
		return ok
	}

	t.Run("distinct numbers", func(t *testing.T) {
		ns, _ := old(t, "INC0000001", "", "")
		require.False(t, hasIndex(t, ns))
		s, err := New(ctx, p, WithSchema(ns)) // the next release starting
		require.NoError(t, err)
		require.NoError(t, s.Register(ctx, numberedSchema("case")))
		require.True(t, hasIndex(t, ns), "Register adds the index")
		err = s.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, numberedDoc("case", "x", "INC0000001"), 0) })
		var dn *storage.DuplicateNumberError
		require.ErrorAs(t, err, &dn)
		require.Equal(t, storage.DuplicateNumberError{Kind: "case", Number: "INC0000001", ID: "x"}, *dn)
	})

	t.Run("repeated numbers", func(t *testing.T) {
		ns, _ := old(t, "INC0000001", "INC0000001", "INC0000002")
		s, err := New(ctx, p, WithSchema(ns))
		require.NoError(t, err)
		err = s.Register(ctx, numberedSchema("case"))
		require.ErrorIs(t, err, itsm.ErrConflict)
		var dn *storage.DuplicateNumberError
		require.ErrorAs(t, err, &dn)
		require.Equal(t, storage.DuplicateNumberError{Kind: "case", Number: "INC0000001"}, *dn)
		require.False(t, hasIndex(t, ns))
		_, err = s.Get(ctx, "case", "d0")
		require.ErrorIs(t, err, itsm.ErrInvalid, "the kind stays unregistered")

		_, err = p.Exec(ctx, "UPDATE "+quoteIdent(ns)+`."case" SET "number" = 'INC0000001-2' WHERE id = 'd1'`)
		require.NoError(t, err)
		require.NoError(t, s.Register(ctx, numberedSchema("case")))
		require.True(t, hasIndex(t, ns))
	})
}

// TestAdvanceSequenceAcrossStores draws and advances one sequence from two
// store instances at once: no value is handed out twice, and each advance
// holds for the drawer that made it.
func TestAdvanceSequenceAcrossStores(t *testing.T) {
	ctx := context.Background()
	p := testPool(t)
	ns := freshSchema(t, p)
	var stores []*Store
	for range 2 {
		s, err := New(ctx, p, WithSchema(ns))
		require.NoError(t, err)
		stores = append(stores, s)
	}
	var (
		mu    sync.Mutex
		drawn []int64
		wg    sync.WaitGroup
	)
	errs := make(chan error, 6)
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[w%2]
			var last int64
			for r := range 25 {
				var v int64
				// Short ways are drawn, long ones locked: both race the
				// other workers' draws.
				bound := last + 3
				if r%4 == 2 {
					bound = last + 2*maxAdvanceDraws
				}
				err := s.Update(ctx, func(tx storage.Tx) error {
					if r%2 == 0 {
						if err := tx.AdvanceSequence(ctx, "shared", bound); err != nil {
							return err
						}
					}
					var err error
					v, err = tx.NextSequence(ctx, "shared")
					return err
				})
				if err != nil {
					errs <- err
					return
				}
				if r%2 == 0 && v <= bound {
					errs <- fmt.Errorf("worker %d drew %d after advancing past %d", w, v, bound)
					return
				}
				last = v
				mu.Lock()
				drawn = append(drawn, v)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	slices.Sort(drawn)
	require.Len(t, slices.Compact(slices.Clone(drawn)), len(drawn), "no value is drawn twice")
}
