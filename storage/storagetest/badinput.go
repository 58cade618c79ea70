package storagetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// The suite's decisions where the contract leaves room, so every adapter
// behaves alike:
//
//   - A nil context never panics: a method either works as with
//     context.Background or returns an error matching ErrInvalid.
//   - Empty Data (nil or zero length) is allowed; stores need not tell the
//     two apart.
//   - Get or Delete of an empty or over-long id is ErrNotFound or ErrInvalid;
//     Put of one is ErrInvalid.
//   - ReadEvents with a negative after reads from the start; a limit below 1
//     returns no events or ErrInvalid; a huge limit is served (up to
//     whatever the store returns at once) without exhausting memory.
//   - Update with a nil function returns an error and writes nothing.
func (h *harness) testBadInput(t *testing.T) {
	t.Run("NilContext", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("nilctx")
		e.create(sdoc(s.Kind, "a", 1, "a", "a", 1, time.Unix(1, 0)), sdoc(s.Kind, "del", 1, "d", "d", 1, time.Unix(1, 0)))
		e.appendEvents(sealed(s.Kind, "a", 1, ""))
		var nilCtx context.Context // a nil context, as a careless caller passes it
		inUnit := func(fn func(tx storage.Tx) error) func() error {
			return func() error { return e.b.Update(e.ctx, fn) }
		}
		calls := map[string]func() error{
			"Register": func() error { return e.b.Register(nilCtx, s) },
			"Get":      func() error { _, err := e.b.Get(nilCtx, s.Kind, "a"); return err },
			"Query": func() error {
				_, err := e.b.Query(nilCtx, storage.Query{Kind: s.Kind})
				return err
			},
			"Update": func() error {
				return e.b.Update(nilCtx, func(tx storage.Tx) error {
					return tx.Put(e.ctx, sdoc(s.Kind, "via_nil_update", 1, "", "", 0, time.Unix(0, 0)), 0)
				})
			},
			"ReadEvents": func() error { _, err := e.b.ReadEvents(nilCtx, 0, 10); return err },
			"History":    func() error { _, err := e.b.History(nilCtx, s.Kind, "a"); return err },
			"Tx.Get":     inUnit(func(tx storage.Tx) error { _, err := tx.Get(nilCtx, s.Kind, "a"); return err }),
			"Tx.Query": inUnit(func(tx storage.Tx) error {
				_, err := tx.Query(nilCtx, storage.Query{Kind: s.Kind})
				return err
			}),
			"Tx.Put": inUnit(func(tx storage.Tx) error {
				return tx.Put(nilCtx, sdoc(s.Kind, "via_nil_put", 1, "", "", 0, time.Unix(0, 0)), 0)
			}),
			"Tx.Delete":       inUnit(func(tx storage.Tx) error { return tx.Delete(nilCtx, s.Kind, "del", 1) }),
			"Tx.NextSequence": inUnit(func(tx storage.Tx) error { _, err := tx.NextSequence(nilCtx, name("seq")); return err }),
			"Tx.AdvanceSequence": inUnit(func(tx storage.Tx) error {
				return tx.AdvanceSequence(nilCtx, name("seq"), 5)
			}),
			"Tx.Append": inUnit(func(tx storage.Tx) error { return tx.Append(nilCtx, sealed(s.Kind, "b", 1, "")) }),
		}
		for what, call := range calls {
			err := noPanic(t, what+" with a nil context", call)
			if err != nil {
				require.ErrorIs(t, err, itsm.ErrInvalid, "%s with a nil context either works or is ErrInvalid", what)
			}
		}
		// Whatever was refused, the store is intact and usable.
		require.NoError(t, e.b.Update(e.ctx, func(tx storage.Tx) error {
			return tx.Put(e.ctx, sdoc(s.Kind, "after", 1, "", "", 0, time.Unix(0, 0)), 0)
		}))
	})

	t.Run("EmptyNames", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("empty")
		long := strings.Repeat("i", 129)
		for what, call := range map[string]func() error{
			"Get empty kind":   func() error { _, err := e.b.Get(e.ctx, "", "a"); return err },
			"Query empty kind": func() error { _, err := e.b.Query(e.ctx, storage.Query{}); return err },
			"Put empty kind":   func() error { return e.putErr(sdoc("", "a", 1, "", "", 0, time.Unix(0, 0)), 0) },
			"Put empty id":     func() error { return e.putErr(sdoc(s.Kind, "", 1, "", "", 0, time.Unix(0, 0)), 0) },
			"Put long id":      func() error { return e.putErr(sdoc(s.Kind, long, 1, "", "", 0, time.Unix(0, 0)), 0) },
			"Register empty":   func() error { return e.b.Register(e.ctx, storage.Schema{}) },
			"Delete empty kind": func() error {
				return e.b.Update(e.ctx, func(tx storage.Tx) error { return tx.Delete(e.ctx, "", "a", 1) })
			},
		} {
			err := noPanic(t, what, call)
			require.ErrorIs(t, err, itsm.ErrInvalid, what)
		}
		for what, call := range map[string]func() error{
			"Get empty id": func() error { _, err := e.b.Get(e.ctx, s.Kind, ""); return err },
			"Get long id":  func() error { _, err := e.b.Get(e.ctx, s.Kind, long); return err },
			"Delete empty id": func() error {
				return e.b.Update(e.ctx, func(tx storage.Tx) error { return tx.Delete(e.ctx, s.Kind, "", 1) })
			},
			"Tx.Get empty id": func() error {
				return e.b.Update(e.ctx, func(tx storage.Tx) error { _, err := tx.Get(e.ctx, s.Kind, ""); return err })
			},
		} {
			err := noPanic(t, what, call)
			requireErrorIsOneOf(t, err, []error{itsm.ErrNotFound, itsm.ErrInvalid}, what)
		}
		// A 128-byte id is the longest allowed.
		longest := sdoc(s.Kind, long[:128], 1, "", "", 0, time.Unix(0, 0))
		e.create(longest)
		e.requireDoc(longest)
		hist, err := e.b.History(e.ctx, "", "")
		if err != nil {
			require.ErrorIs(t, err, itsm.ErrInvalid, "History of an empty kind and id")
		} else {
			require.Empty(t, hist)
		}
	})

	t.Run("EmptyData", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("empty")
		for _, d := range []storage.Document{
			{Kind: s.Kind, ID: "nil", Version: 1, Data: nil, Fields: sdoc("", "", 0, "", "", 0, time.Time{}).Fields},
			{Kind: s.Kind, ID: "empty", Version: 1, Data: []byte{}, Fields: sdoc("", "", 0, "", "", 0, time.Time{}).Fields},
		} {
			e.create(d)
			got := e.get(s.Kind, d.ID)
			require.Empty(t, got.Data)
			requireSameDoc(t, d, got)
		}
	})

	t.Run("NilFields", func(t *testing.T) {
		e := h.setup(t)
		none := e.register(storage.Schema{Kind: name("nofields")})
		some := e.docSchema("somefields")
		d := storage.Document{Kind: none.Kind, ID: "a", Version: 1, Data: []byte("x")}
		e.create(d)
		e.requireDoc(d)
		d.Kind = some.Kind
		require.ErrorIs(t, e.putErr(d, 0), itsm.ErrInvalid, "nil Fields for a kind with fields")
		d.Fields = []storage.Value{}
		require.ErrorIs(t, e.putErr(d, 0), itsm.ErrInvalid, "empty Fields for a kind with fields")
		d.Kind, d.ID, d.Fields = none.Kind, "b", []storage.Value{storage.String("x")}
		require.ErrorIs(t, e.putErr(d, 0), itsm.ErrInvalid, "a value for a kind without fields")
		e.requireMissing(some.Kind, "a")
		e.requireMissing(none.Kind, "b")
	})

	t.Run("ReadEventsLimits", func(t *testing.T) {
		e := h.setup(t)
		kind := name("evt")
		evs := chain(kind, "a", 5)
		e.appendEvents(evs...)
		all := e.events(kind)
		require.Len(t, all, 5)

		neg, err := e.b.ReadEvents(e.ctx, -100, 1000)
		require.NoError(t, err)
		zero, err := e.b.ReadEvents(e.ctx, 0, 1000)
		require.NoError(t, err)
		require.Equal(t, len(zero), len(neg), "a negative after reads from the start")

		for _, limit := range []int{0, -1, -1 << 40} {
			got, err := noPanicEvents(t, func() ([]itsm.Event, error) { return e.b.ReadEvents(e.ctx, 0, limit) })
			if err != nil {
				require.ErrorIs(t, err, itsm.ErrInvalid, "limit %d", limit)
			} else {
				require.Empty(t, got, "limit %d", limit)
			}
		}
		got, err := noPanicEvents(t, func() ([]itsm.Event, error) { return e.b.ReadEvents(e.ctx, all[0].Seq-1, 1<<40) })
		if err != nil {
			require.ErrorIs(t, err, itsm.ErrInvalid, "huge limit")
		} else {
			require.NotEmpty(t, got, "a huge limit still returns events")
			require.Equal(t, all[0].ID, got[0].ID)
		}
	})

	t.Run("NilFunc", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("nilfn")
		before := e.snapshot(s.Kind)
		err := noPanic(t, "Update(nil)", func() error { return e.b.Update(e.ctx, nil) })
		assert.Error(t, err, "Update with a nil function")
		requireSame(t, before, e.snapshot(s.Kind), "after Update(nil)")
		require.NoError(t, e.b.Update(e.ctx, func(storage.Tx) error { return nil }), "the store is still usable")
	})
}

func noPanicEvents(t testing.TB, fn func() ([]itsm.Event, error)) (evs []itsm.Event, err error) {
	err = noPanic(t, "ReadEvents", func() error {
		var e error
		evs, e = fn()
		return e
	})
	return evs, err
}
