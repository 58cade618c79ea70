package storagetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// sharedGet reads through g's storage.SharedGetter when it has one and by
// Get otherwise: the contract of a lent document is the contract of a copy
// that the caller does not modify, so every check below holds for both,
// and a backend without the capabilities still runs them.
func sharedGet(ctx context.Context, g storage.Getter, kind, id string) (storage.Document, error) {
	if sg, ok := g.(storage.SharedGetter); ok {
		return sg.GetShared(ctx, kind, id)
	}
	return g.Get(ctx, kind, id)
}

// ownedPut writes through tx's storage.OwnedPutter when it has one and by
// Put otherwise.
func ownedPut(ctx context.Context, tx storage.Tx, d storage.Document, expected int64) error {
	if op, ok := tx.(storage.OwnedPutter); ok {
		return op.PutOwned(ctx, d, expected)
	}
	return tx.Put(ctx, d, expected)
}

// cloneDoc copies a document's slices, so a document handed over with
// ownedPut can still be compared with what was stored.
func cloneDoc(d storage.Document) storage.Document {
	d.Data, d.Fields = slices.Clone(d.Data), slices.Clone(d.Fields)
	return d
}

// testLending checks storage.SharedGetter and storage.OwnedPutter: a lent
// document reads as Get reads it, inside and outside a unit of work, and
// later writes never change it; a handed-over document is stored as given
// and refused exactly as Put refuses it, leaving the store as it was.
func (h *harness) testLending(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

	t.Run("LentDocumentStaysAsRead", func(t *testing.T) {
		e := h.setup(t)
		_, shares := e.b.(storage.SharedGetter)
		t.Logf("backend lends documents (SharedGetter): %v", shares)
		s := e.docSchema("lend")
		first := sdoc(s.Kind, "l1", 1, `{"v":"first"}`, "a", 1, at)
		e.create(first)
		lent, err := sharedGet(e.ctx, e.b, s.Kind, "l1")
		require.NoError(t, err)
		requireSameDoc(t, first, lent)
		requireSameDoc(t, e.get(s.Kind, "l1"), lent, "GetShared reads as Get")

		// Same length, other bytes: a store reusing the lent slices would show it.
		e.update(sdoc(s.Kind, "l1", 2, `{"v":"later"}`, "b", 2, at.Add(time.Hour)), 1)
		requireSameDoc(t, first, lent, "a later write changed a lent document")
		e.requireDoc(sdoc(s.Kind, "l1", 2, `{"v":"later"}`, "b", 2, at.Add(time.Hour)))

		_, err = sharedGet(e.ctx, e.b, s.Kind, "missing")
		require.ErrorIs(t, err, itsm.ErrNotFound)
		_, err = sharedGet(e.ctx, e.b, name("unregistered"), "l1")
		require.Error(t, err)
		require.NotErrorIs(t, err, itsm.ErrNotFound, "an unregistered kind is not a missing document")
	})

	t.Run("InsideUnitOfWork", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("lendtx")
		committed := sdoc(s.Kind, "t1", 1, `{"v":1}`, "a", 1, at)
		e.create(committed)
		pending := sdoc(s.Kind, "t2", 1, `{"v":2}`, "b", 2, at)
		var lentCommitted, lentPending storage.Document
		require.NoError(t, e.b.Update(e.ctx, func(tx storage.Tx) error {
			var err error
			if lentCommitted, err = sharedGet(e.ctx, tx, s.Kind, "t1"); err != nil {
				return err
			}
			if err := ownedPut(e.ctx, tx, cloneDoc(pending), 0); err != nil {
				return err
			}
			if lentPending, err = sharedGet(e.ctx, tx, s.Kind, "t2"); err != nil {
				return err
			}
			requireSameDoc(t, pending, lentPending, "the unit sees its own handed-over write")
			// Later writes of the unit, with data of the same length, replace
			// what it lent: neither lent document may change.
			if err := ownedPut(e.ctx, tx, sdoc(s.Kind, "t2", 2, `{"v":3}`, "c", 3, at), 1); err != nil {
				return err
			}
			return ownedPut(e.ctx, tx, sdoc(s.Kind, "t1", 2, `{"v":9}`, "z", 9, at), 1)
		}))
		requireSameDoc(t, committed, lentCommitted, "a later write of the unit changed a lent committed document")
		requireSameDoc(t, pending, lentPending, "a later write of the unit changed its lent pending document")
		e.requireDoc(sdoc(s.Kind, "t2", 2, `{"v":3}`, "c", 3, at))
		e.requireDoc(sdoc(s.Kind, "t1", 2, `{"v":9}`, "z", 9, at))
	})

	t.Run("OwnedPutRefusedAsPut", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("own")
		base := sdoc(s.Kind, "o1", 1, `{"v":1}`, "a", 1, at)
		e.create(base)
		cases := []struct {
			name     string
			doc      storage.Document
			expected int64
			want     error
		}{
			{"stale version", sdoc(s.Kind, "o1", 2, `{"v":2}`, "b", 2, at), 0, itsm.ErrConflict},
			{"ahead of stored", sdoc(s.Kind, "o1", 3, `{"v":2}`, "b", 2, at), 2, itsm.ErrConflict},
			{"version not above expected", sdoc(s.Kind, "o1", 1, `{"v":2}`, "b", 2, at), 1, itsm.ErrInvalid},
			{"missing field", storage.Document{Kind: s.Kind, ID: "o1", Version: 2, Data: []byte(`{}`), Fields: []storage.Value{storage.String("x")}}, 1, itsm.ErrInvalid},
			{"wrong field type", storage.Document{Kind: s.Kind, ID: "o1", Version: 2, Data: []byte(`{}`),
				Fields: []storage.Value{storage.Int(1), storage.Int(1), storage.Time(at)}}, 1, itsm.ErrInvalid},
			{"unregistered kind", sdoc(name("nokind"), "o1", 1, `{}`, "a", 1, at), 0, itsm.ErrInvalid},
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				// The unit goes on after the refusal and commits, so a store
				// that buffered the refused document would show it.
				next := sdoc(s.Kind, fmt.Sprintf("next%d", i), 1, `{"v":0}`, "n", int64(i), at)
				var putErr error
				err := noPanic(t, "PutOwned", func() error {
					return e.b.Update(e.ctx, func(tx storage.Tx) error {
						putErr = ownedPut(e.ctx, tx, c.doc, c.expected)
						return ownedPut(e.ctx, tx, cloneDoc(next), 0)
					})
				})
				require.ErrorIs(t, putErr, c.want)
				require.NoError(t, err, "the unit goes on after a refused PutOwned")
				e.requireDoc(base)
				e.requireDoc(next)
			})
		}
	})
}
