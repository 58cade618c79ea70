package storagetest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// queueSchema is a kind with a composite index, used by the registration
// tests.
func queueSchema(kind string) storage.Schema {
	return storage.Schema{
		Kind:    kind,
		Fields:  []storage.Field{fString("grp"), fString("state"), fInt("prio"), fTime("opened")},
		Indexes: []storage.Index{{Name: "queue", Fields: []string{"grp", "state", "prio", "opened"}}},
	}
}

func (h *harness) testRegister(t *testing.T) {
	t.Run("Idempotent", func(t *testing.T) {
		e := h.setup(t)
		s := e.register(queueSchema(name("reg")))
		for range 3 {
			require.NoError(t, e.b.Register(e.ctx, queueSchema(s.Kind)), "registering the same schema again is a no-op")
		}
	})

	t.Run("KeepsData", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("reg")
		d := sdoc(s.Kind, "a", 1, `{"x":1}`, "x", 1, time.Unix(1, 0))
		e.create(d)
		require.NoError(t, e.b.Register(e.ctx, s))
		e.requireDoc(d)
	})

	t.Run("FieldTypeConflicts", func(t *testing.T) {
		e := h.setup(t)
		kind := name("reg")
		e.register(queueSchema(kind))
		for i, to := range map[int]storage.FieldType{0: storage.TypeInt, 1: storage.TypeTime, 2: storage.TypeString, 3: storage.TypeInt} {
			s := queueSchema(kind)
			from := s.Fields[i].Type
			s.Fields[i].Type = to
			require.NoError(t, s.Validate())
			err := e.b.Register(e.ctx, s)
			require.ErrorIs(t, err, itsm.ErrConflict, "field %s from %s to %s", s.Fields[i].Name, from, to)
		}
		require.NoError(t, e.b.Register(e.ctx, queueSchema(kind)), "the original schema still registers")
	})

	t.Run("InvalidSchema", func(t *testing.T) {
		e := h.setup(t)
		long := strings.Repeat("k", 64)
		cases := map[string]storage.Schema{
			"empty kind":            {Kind: ""},
			"upper-case kind":       {Kind: "Incident"},
			"kind with space":       {Kind: "my kind"},
			"kind with dash":        {Kind: "my-kind"},
			"kind starting digit":   {Kind: "1kind"},
			"kind too long":         {Kind: long},
			"kind with quote":       {Kind: `x"; drop table x; --`},
			"field id reserved":     {Kind: name("bad"), Fields: []storage.Field{fString("id")}},
			"field bad name":        {Kind: name("bad"), Fields: []storage.Field{fString("Bad")}},
			"field empty name":      {Kind: name("bad"), Fields: []storage.Field{fString("")}},
			"field twice":           {Kind: name("bad"), Fields: []storage.Field{fString("a"), fInt("a")}},
			"field type zero":       {Kind: name("bad"), Fields: []storage.Field{{Name: "a"}}},
			"field type unknown":    {Kind: name("bad"), Fields: []storage.Field{{Name: "a", Type: 99}}},
			"index no fields":       {Kind: name("bad"), Fields: []storage.Field{fString("a")}, Indexes: []storage.Index{{Name: "ix"}}},
			"index undeclared":      {Kind: name("bad"), Fields: []storage.Field{fString("a")}, Indexes: []storage.Index{{Name: "ix", Fields: []string{"b"}}}},
			"index on id":           {Kind: name("bad"), Fields: []storage.Field{fString("a")}, Indexes: []storage.Index{{Name: "ix", Fields: []string{"a", "id"}}}},
			"index bad name":        {Kind: name("bad"), Fields: []storage.Field{fString("a")}, Indexes: []storage.Index{{Name: "Ix", Fields: []string{"a"}}}},
			"index name repeated":   {Kind: name("bad"), Fields: []storage.Field{fString("a")}, Indexes: []storage.Index{{Name: "ix", Fields: []string{"a"}}, {Name: "ix", Fields: []string{"a"}}}},
			"index name empty":      {Kind: name("bad"), Fields: []storage.Field{fString("a")}, Indexes: []storage.Index{{Name: "", Fields: []string{"a"}}}},
			"field name injection":  {Kind: name("bad"), Fields: []storage.Field{fString("a text); drop")}},
			"field name too long":   {Kind: name("bad"), Fields: []storage.Field{fString(long)}},
			"field name with digit": {Kind: name("bad"), Fields: []storage.Field{fString("9a")}},
		}
		for what, s := range cases {
			err := noPanic(t, "Register "+what, func() error { return e.b.Register(e.ctx, s) })
			require.ErrorIs(t, err, itsm.ErrInvalid, what)
		}
	})

	t.Run("ZeroFields", func(t *testing.T) {
		e := h.setup(t)
		s := e.register(storage.Schema{Kind: name("plain")})
		d := storage.Document{Kind: s.Kind, ID: "only", Version: 1, Data: []byte("data")}
		e.create(d)
		e.requireDoc(d)
		got := e.queryAll(storage.Query{Kind: s.Kind}, 10)
		require.Equal(t, []string{"only"}, ids(got))
	})

	t.Run("UnregisteredKind", func(t *testing.T) {
		e := h.setup(t)
		kind := name("unreg")
		// A registered kind with the same fields, so only registration differs.
		other := e.docSchema("reg")
		d := sdoc(kind, "a", 1, "x", "x", 1, time.Unix(0, 0))
		calls := map[string]func(ctx context.Context) error{
			"Get": func(ctx context.Context) error { _, err := e.b.Get(ctx, kind, "a"); return err },
			"Query": func(ctx context.Context) error {
				_, err := e.b.Query(ctx, storage.Query{Kind: kind})
				return err
			},
			"Tx.Put": func(ctx context.Context) error { return e.putErr(d, 0) },
			"Tx.Get": func(ctx context.Context) error {
				return e.b.Update(ctx, func(tx storage.Tx) error { _, err := tx.Get(ctx, kind, "a"); return err })
			},
			"Tx.Query": func(ctx context.Context) error {
				return e.b.Update(ctx, func(tx storage.Tx) error {
					_, err := tx.Query(ctx, storage.Query{Kind: kind})
					return err
				})
			},
			"Tx.Delete": func(ctx context.Context) error {
				return e.b.Update(ctx, func(tx storage.Tx) error { return tx.Delete(ctx, kind, "a", 1) })
			},
		}
		for what, call := range calls {
			require.ErrorIs(t, call(e.ctx), itsm.ErrInvalid, what)
		}
		// The failed calls wrote nothing to the registered kind either.
		require.Empty(t, e.queryAll(storage.Query{Kind: other.Kind}, 10))
	})

	t.Run("Concurrent", func(t *testing.T) {
		e := h.setup(t)
		kind := name("reg")
		const n = 16
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = e.b.Register(e.ctx, queueSchema(kind)) })
		}
		wg.Wait()
		for i, err := range errs {
			assert.NoError(t, err, "goroutine %d", i)
		}
		s := queueSchema(kind)
		s.Fields[2].Type = storage.TypeString
		require.ErrorIs(t, e.b.Register(e.ctx, s), itsm.ErrConflict, "a changed field type")
	})

	t.Run("ManyKinds", func(t *testing.T) {
		e := h.setup(t)
		// Kinds are independent: the same id in two kinds is two documents.
		a, b := e.docSchema("kind_a"), e.docSchema("kind_b")
		da := sdoc(a.Kind, "same", 1, "a", "a", 1, time.Unix(1, 0))
		db := sdoc(b.Kind, "same", 3, "b", "b", 2, time.Unix(2, 0))
		e.create(da, db)
		e.requireDoc(da)
		e.requireDoc(db)
		require.Equal(t, []string{"same"}, ids(e.queryAll(storage.Query{Kind: a.Kind}, 10)))
	})
}
