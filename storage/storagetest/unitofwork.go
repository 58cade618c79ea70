package storagetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// snapshot is what a test can observe of its own kinds: every document and
// every event.
type snapshot struct {
	Docs   map[string][]storage.Document
	Events []itsm.Event
}

// snapshot reads the documents of the kinds and the events of those kinds.
func (e *env) snapshot(kinds ...string) snapshot {
	e.t.Helper()
	s := snapshot{Docs: map[string][]storage.Document{}}
	for _, k := range kinds {
		s.Docs[k] = e.queryAll(storage.Query{Kind: k, Limit: storage.MaxLimit}, 1_000_000)
	}
	s.Events = e.events(kinds...)
	return s
}

// requireSame compares two snapshots.
func requireSame(t testing.TB, want, got snapshot, msg string) {
	t.Helper()
	require.Equal(t, len(want.Docs), len(got.Docs), msg)
	for k, docs := range want.Docs {
		require.Equal(t, ids(docs), ids(got.Docs[k]), "%s: documents of %s", msg, k)
		for i := range docs {
			requireSameDoc(t, docs[i], got.Docs[k][i], msg)
		}
	}
	requireSameEvents(t, want.Events, got.Events, msg)
}

func (h *harness) testUnitOfWork(t *testing.T) {
	// fixture registers a kind with two documents and one event, and
	// returns the kind and the unit of work used by the rollback tests:
	// it creates, updates and deletes documents, takes a sequence value
	// and appends events.
	fixture := func(e *env) (storage.Schema, func(tx storage.Tx) error) {
		s := e.docSchema("uow")
		a := sdoc(s.Kind, "a", 1, "a1", "a", 1, time.Unix(1, 0))
		b := sdoc(s.Kind, "b", 1, "b1", "b", 1, time.Unix(1, 0))
		ev := sealed(s.Kind, "a", 1, "")
		require.NoError(e.t, e.b.Update(e.ctx, func(tx storage.Tx) error {
			require.NoError(e.t, tx.Put(e.ctx, a, 0))
			require.NoError(e.t, tx.Put(e.ctx, b, 0))
			return tx.Append(e.ctx, ev)
		}))
		seq := name("uow_seq")
		writes := func(tx storage.Tx) error {
			if err := tx.Put(e.ctx, sdoc(s.Kind, "c", 1, "c1", "c", 3, time.Unix(3, 0)), 0); err != nil {
				return err
			}
			if err := tx.Put(e.ctx, sdoc(s.Kind, "a", 2, "a2", "changed", 2, time.Unix(2, 0)), 1); err != nil {
				return err
			}
			if err := tx.Delete(e.ctx, s.Kind, "b", 1); err != nil {
				return err
			}
			if _, err := tx.NextSequence(e.ctx, seq); err != nil {
				return err
			}
			return tx.Append(e.ctx, sealed(s.Kind, "a", 2, ev.Hash), sealed(s.Kind, "c", 1, ""))
		}
		return s, writes
	}

	t.Run("CommitTogether", func(t *testing.T) {
		e := h.setup(t)
		s, writes := fixture(e)
		require.NoError(t, e.b.Update(e.ctx, writes))
		got := e.snapshot(s.Kind)
		require.Equal(t, []string{"a", "c"}, ids(got.Docs[s.Kind]))
		require.Equal(t, int64(2), got.Docs[s.Kind][0].Version)
		require.Len(t, got.Events, 3)
		require.Equal(t, []string{"a", "a", "c"}, []string{got.Events[0].RecordID, got.Events[1].RecordID, got.Events[2].RecordID})
		history, err := e.b.History(e.ctx, s.Kind, "a")
		require.NoError(t, err)
		require.NoError(t, itsm.Verify(history, ""))
	})

	t.Run("ErrorRollsBack", func(t *testing.T) {
		e := h.setup(t)
		s, writes := fixture(e)
		before := e.snapshot(s.Kind)
		custom := &itsm.ValidationError{Kind: "test"}
		custom.Add("field", "bad")
		cases := map[string]error{
			"plain":      errBoom,
			"wrapped":    fmt.Errorf("wrapped: %w", errBoom),
			"sentinel":   itsm.ErrForbidden,
			"validation": custom,
		}
		for what, want := range cases {
			err := e.b.Update(e.ctx, func(tx storage.Tx) error {
				require.NoError(t, writes(tx))
				return want
			})
			require.ErrorIs(t, err, want, "%s: Update returns fn's error", what)
			requireSame(t, before, e.snapshot(s.Kind), what)
		}
	})

	t.Run("PanicRollsBack", func(t *testing.T) {
		e := h.setup(t)
		s, writes := fixture(e)
		before := e.snapshot(s.Kind)
		for what, value := range map[string]any{"string": "boom", "error": errBoom, "int": 42} {
			err := noPanic(t, "Update with a panicking fn", func() error {
				return e.b.Update(e.ctx, func(tx storage.Tx) error {
					require.NoError(t, writes(tx))
					panic(value)
				})
			})
			require.Error(t, err, "%s: a panic in fn is returned as an error", what)
			requireSame(t, before, e.snapshot(s.Kind), what)
		}
		// The store is still usable, for the same documents too.
		require.NoError(t, e.b.Update(e.ctx, writes))
		require.Equal(t, int64(2), e.get(s.Kind, "a").Version)
	})

	t.Run("StaleWriteRollsBack", func(t *testing.T) {
		e := h.setup(t)
		s, _ := fixture(e)
		read := e.get(s.Kind, "a")
		e.update(sdoc(s.Kind, "a", 2, "a2", "other writer", 2, time.Unix(2, 0)), 1)
		before := e.snapshot(s.Kind)
		err := e.b.Update(e.ctx, func(tx storage.Tx) error {
			require.NoError(t, tx.Put(e.ctx, sdoc(s.Kind, "new", 1, "new", "new", 1, time.Unix(1, 0)), 0))
			require.NoError(t, tx.Append(e.ctx, sealed(s.Kind, "new", 1, "")))
			err := tx.Put(e.ctx, sdoc(s.Kind, "a", read.Version+1, "lost", "lost", 9, time.Unix(9, 0)), read.Version)
			require.ErrorIs(t, err, itsm.ErrConflict, "Put with a stale version")
			return err
		})
		require.ErrorIs(t, err, itsm.ErrConflict)
		requireSame(t, before, e.snapshot(s.Kind), "after a stale write")
	})

	t.Run("EmptyUnit", func(t *testing.T) {
		e := h.setup(t)
		s, _ := fixture(e)
		before := e.snapshot(s.Kind)
		require.NoError(t, e.b.Update(e.ctx, func(storage.Tx) error { return nil }))
		require.NoError(t, e.b.Update(e.ctx, func(tx storage.Tx) error {
			if _, err := tx.Get(e.ctx, s.Kind, "a"); err != nil {
				return err
			}
			return tx.Append(e.ctx)
		}), "a read-only unit with an empty Append")
		requireSame(t, before, e.snapshot(s.Kind), "after empty units")
	})

	t.Run("TxAfterReturn", func(t *testing.T) {
		e := h.setup(t)
		s, _ := fixture(e)
		before := e.snapshot(s.Kind)
		for what, result := range map[string]error{"committed": nil, "rolled back": errBoom} {
			var leaked storage.Tx
			err := e.b.Update(e.ctx, func(tx storage.Tx) error { leaked = tx; return result })
			require.ErrorIs(t, err, result)
			err = noPanic(t, "Put on a finished Tx", func() error {
				return leaked.Put(e.ctx, sdoc(s.Kind, "late", 1, "late", "late", 1, time.Unix(1, 0)), 0)
			})
			require.Error(t, err, "%s: Put on a Tx whose unit ended", what)
			_ = noPanic(t, "Append on a finished Tx", func() error { return leaked.Append(e.ctx, sealed(s.Kind, "late", 1, "")) })
			_ = noPanic(t, "Delete on a finished Tx", func() error { return leaked.Delete(e.ctx, s.Kind, "a", 1) })
			_ = noPanic(t, "Get on a finished Tx", func() error { _, err := leaked.Get(e.ctx, s.Kind, "a"); return err })
			requireSame(t, before, e.snapshot(s.Kind), what)
		}
		// Later units are unaffected by the stale Tx.
		require.NoError(t, e.b.Update(e.ctx, func(tx storage.Tx) error {
			return tx.Put(e.ctx, sdoc(s.Kind, "later", 1, "later", "later", 1, time.Unix(1, 0)), 0)
		}))
		e.get(s.Kind, "later")
		e.requireMissing(s.Kind, "late")
	})

	t.Run("CancelledContext", func(t *testing.T) {
		e := h.setup(t)
		s, writes := fixture(e)
		before := e.snapshot(s.Kind)
		// A unit whose context is cancelled, before it starts or in the
		// middle, either commits entirely or writes nothing.
		ctx, cancel := context.WithCancel(e.ctx)
		cancel()
		err := noPanic(t, "Update with a cancelled context", func() error {
			return e.b.Update(ctx, func(tx storage.Tx) error { return writes(tx) })
		})
		after := e.snapshot(s.Kind)
		if err != nil {
			requireSame(t, before, after, "cancelled before the unit: "+err.Error())
		} else {
			require.Equal(t, []string{"a", "c"}, ids(after.Docs[s.Kind]), "cancelled unit reported success")
			before = after
		}

		ctx, cancel = context.WithCancel(e.ctx)
		err = noPanic(t, "Update cancelled in the middle", func() error {
			return e.b.Update(ctx, func(tx storage.Tx) error {
				if err := tx.Put(ctx, sdoc(s.Kind, "mid1", 1, "m", "m", 1, time.Unix(1, 0)), 0); err != nil {
					return err
				}
				cancel()
				if err := tx.Put(ctx, sdoc(s.Kind, "mid2", 1, "m", "m", 1, time.Unix(1, 0)), 0); err != nil {
					return err
				}
				return tx.Append(ctx, sealed(s.Kind, "mid1", 1, ""))
			})
		})
		after = e.snapshot(s.Kind)
		if err != nil {
			requireSame(t, before, after, "cancelled in the middle: "+err.Error())
		} else {
			_, err1 := e.b.Get(e.ctx, s.Kind, "mid1")
			_, err2 := e.b.Get(e.ctx, s.Kind, "mid2")
			assert.NoError(t, errors.Join(err1, err2), "a unit reported committed must be complete")
			assert.Len(t, after.Events, len(before.Events)+1)
		}
	})
}
