package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

func TestDocuments(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	require.NoError(t, s.Register(ctx, ticketSchema))
	a1 := ticket("a", 1, "net", "new", 3, t0)
	put(t, s, a1, 0)

	got, err := s.Get(ctx, "ticket", "a")
	require.NoError(t, err)
	assert.Equal(t, a1, got)

	a2 := ticket("a", 2, "net", "work", 1, t0.Add(3600e9))
	tests := []struct {
		name     string
		doc      storage.Document
		expected int64
		want     error
	}{
		{"create existing", ticket("a", 1, "x", "y", 0, t0), 0, itsm.ErrConflict},
		{"stale version", ticket("a", 3, "x", "y", 0, t0), 2, itsm.ErrConflict},
		{"missing with expected", ticket("b", 2, "x", "y", 0, t0), 1, itsm.ErrConflict},
		{"version not above expected", ticket("a", 1, "x", "y", 0, t0), 1, itsm.ErrInvalid},
		{"negative expected", ticket("a", 1, "x", "y", 0, t0), -1, itsm.ErrInvalid},
		{"wrong field type", storage.Document{Kind: "ticket", ID: "c", Version: 1,
			Fields: []storage.Value{storage.Int(1), storage.String("s"), storage.Int(1), storage.Time(t0)}}, 0, itsm.ErrInvalid},
		{"unknown kind", storage.Document{Kind: "nope", ID: "c", Version: 1}, 0, itsm.ErrInvalid},
		{"too large", storage.Document{Kind: "ticket", ID: "c", Version: 1, Data: make([]byte, storage.MaxDocumentSize+1),
			Fields: a1.Fields}, 0, itsm.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, tt.doc, tt.expected) })
			require.ErrorIs(t, err, tt.want)
		})
	}
	got, err = s.Get(ctx, "ticket", "a")
	require.NoError(t, err)
	assert.Equal(t, a1, got, "failed puts changed nothing")

	put(t, s, a2, 1)
	got, err = s.Get(ctx, "ticket", "a")
	require.NoError(t, err)
	assert.Equal(t, a2, got)

	err = s.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, ticket("a", 3, "x", "y", 0, t0), 1) })
	var ce *itsm.ConflictError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, itsm.ConflictError{Kind: "ticket", ID: "a", Expected: 1}, *ce)

	t.Run("delete", func(t *testing.T) {
		require.ErrorIs(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Delete(ctx, "ticket", "a", 1) }), itsm.ErrConflict)
		require.ErrorIs(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Delete(ctx, "ticket", "zz", 1) }), itsm.ErrNotFound)
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Delete(ctx, "ticket", "a", 2) }))
		_, err := s.Get(ctx, "ticket", "a")
		var nf *itsm.NotFoundError
		require.ErrorAs(t, err, &nf)
		assert.Equal(t, itsm.NotFoundError{Kind: "ticket", ID: "a"}, *nf)
		put(t, s, a1, 0) // an id can be created again after a delete
	})

	t.Run("empty and nil data", func(t *testing.T) {
		for _, data := range [][]byte{nil, {}} {
			d := ticket("data", 1, "g", "s", 1, t0)
			d.Data = data
			put(t, s, d, 0)
			got, err := s.Get(ctx, "ticket", "data")
			require.NoError(t, err)
			assert.Empty(t, got.Data)
			require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Delete(ctx, "ticket", "data", 1) }))
		}
	})
}

func TestUnitOfWork(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	require.NoError(t, s.Register(ctx, ticketSchema))
	errBoom := errors.New("boom")

	t.Run("own writes are visible", func(t *testing.T) {
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
			require.NoError(t, tx.Put(ctx, ticket("own", 1, "g", "s", 1, t0), 0))
			d, err := tx.Get(ctx, "ticket", "own")
			require.NoError(t, err)
			assert.Equal(t, int64(1), d.Version)
			page, err := tx.Query(ctx, storage.Query{Kind: "ticket", Filters: []storage.Filter{storage.Eq("grp", storage.String("g"))}})
			require.NoError(t, err)
			assert.Len(t, page.Docs, 1, "the unit's Query sees its own writes too")
			_, err = s.Get(ctx, "ticket", "own")
			require.ErrorIs(t, err, itsm.ErrNotFound, "others do not see uncommitted writes")
			return nil
		}))
	})

	for _, tt := range []struct {
		name string
		fn   func(tx storage.Tx) error
		want error
	}{
		{"error", func(tx storage.Tx) error {
			tx.Put(ctx, ticket("r1", 1, "g", "s", 1, t0), 0)
			tx.Append(ctx, itsm.Event{ID: "ev-r1", Kind: "ticket", RecordID: "r1", RecordVersion: 1})
			return errBoom
		}, errBoom},
		{"panic", func(tx storage.Tx) error {
			tx.Put(ctx, ticket("r1", 1, "g", "s", 1, t0), 0)
			panic("boom")
		}, nil},
		{"panic with error", func(tx storage.Tx) error {
			tx.Put(ctx, ticket("r1", 1, "g", "s", 1, t0), 0)
			panic(errBoom)
		}, errBoom},
		{"error after sequence", func(tx storage.Tx) error {
			tx.Put(ctx, ticket("r1", 1, "g", "s", 1, t0), 0)
			tx.NextSequence(ctx, "rollback_seq")
			tx.Append(ctx, itsm.Event{ID: "ev-r1", Kind: "ticket", RecordID: "r1", RecordVersion: 1})
			return errBoom
		}, errBoom},
	} {
		t.Run("rollback on "+tt.name, func(t *testing.T) {
			err := s.Update(ctx, tt.fn)
			require.Error(t, err)
			if tt.want != nil {
				require.ErrorIs(t, err, tt.want)
			}
			_, err = s.Get(ctx, "ticket", "r1")
			require.ErrorIs(t, err, itsm.ErrNotFound)
			h, err := s.History(ctx, "ticket", "r1")
			require.NoError(t, err)
			assert.Empty(t, h)
		})
	}

	t.Run("tx after the unit", func(t *testing.T) {
		var kept storage.Tx
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { kept = tx; return nil }))
		_, err := kept.Get(ctx, "ticket", "own")
		require.ErrorIs(t, err, itsm.ErrInvalid)
		require.ErrorIs(t, kept.Put(ctx, ticket("late", 1, "g", "s", 1, t0), 0), itsm.ErrInvalid)
		_, err = kept.NextSequence(ctx, "late")
		require.ErrorIs(t, err, itsm.ErrInvalid)
		require.ErrorIs(t, kept.Append(ctx, itsm.Event{}), itsm.ErrInvalid)
		_, err = kept.Query(ctx, storage.Query{Kind: "ticket"})
		require.ErrorIs(t, err, itsm.ErrInvalid)
	})

	t.Run("nil function", func(t *testing.T) {
		require.ErrorIs(t, s.Update(ctx, nil), itsm.ErrInvalid)
	})

	t.Run("cancelled context writes nothing", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		err := s.Update(cctx, func(tx storage.Tx) error {
			require.NoError(t, tx.Put(cctx, ticket("cx", 1, "g", "s", 1, t0), 0))
			cancel()
			return nil
		})
		require.ErrorIs(t, err, context.Canceled)
		_, err = s.Get(ctx, "ticket", "cx")
		require.ErrorIs(t, err, itsm.ErrNotFound)
	})
}

func TestSequences(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "seq.db")
	a, b := openAt(t, path), openAt(t, path) // two "processes" on one file

	next := func(s *Store, name string) int64 {
		var v int64
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
			var err error
			v, err = tx.NextSequence(ctx, name)
			return err
		}))
		return v
	}
	assert.Equal(t, int64(1), next(a, "inc"))
	assert.Equal(t, int64(2), next(b, "inc"))
	assert.Equal(t, int64(1), next(a, "chg"), "sequences are independent")

	t.Run("a failed unit's value is not reissued", func(t *testing.T) {
		var drawn int64
		err := a.Update(ctx, func(tx storage.Tx) error {
			drawn, _ = tx.NextSequence(ctx, "inc")
			return errors.New("boom")
		})
		require.Error(t, err)
		assert.Equal(t, int64(3), drawn)
		assert.Equal(t, int64(4), next(b, "inc"))
	})

	t.Run("invalid name", func(t *testing.T) {
		err := a.Update(ctx, func(tx storage.Tx) error {
			_, err := tx.NextSequence(ctx, "Bad Name'; --")
			return err
		})
		require.ErrorIs(t, err, itsm.ErrInvalid)
	})

	t.Run("unique across concurrent units and stores", func(t *testing.T) {
		const workers, each = 8, 25
		var mu sync.Mutex
		seen := map[int64]bool{}
		var wg sync.WaitGroup
		for w := range workers {
			s := a
			if w%2 == 1 {
				s = b
			}
			wg.Go(func() {
				for range each {
					var v int64
					err := s.Update(ctx, func(tx storage.Tx) error {
						var err error
						v, err = tx.NextSequence(ctx, "load")
						if v%3 == 0 {
							return errors.New("roll back some")
						}
						return err
					})
					if err != nil && v%3 != 0 {
						t.Error(err)
						return
					}
					mu.Lock()
					assert.False(t, seen[v], "value %d handed out twice", v)
					seen[v] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		assert.Len(t, seen, workers*each)
	})
}

// TestNoLostUpdates: parallel read-modify-write units across two stores on
// one file never lose an increment.
func TestNoLostUpdates(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "lost.db")
	a, b := openAt(t, path), openAt(t, path)
	require.NoError(t, a.Register(ctx, ticketSchema))
	put(t, a, ticket("ctr", 1, "g", "s", 0, t0), 0)
	const workers, each = 6, 20
	var wg sync.WaitGroup
	for w := range workers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for range each {
				err := s.Update(ctx, func(tx storage.Tx) error {
					d, err := tx.Get(ctx, "ticket", "ctr")
					if err != nil {
						return err
					}
					n := ticket("ctr", d.Version+1, "g", "s", d.Fields[2].Int64()+1, t0)
					return tx.Put(ctx, n, d.Version)
				})
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	d, err := a.Get(ctx, "ticket", "ctr")
	require.NoError(t, err)
	assert.Equal(t, int64(workers*each), d.Fields[2].Int64())
	assert.Equal(t, int64(workers*each+1), d.Version)
}
