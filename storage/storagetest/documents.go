package storagetest

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// allBytes is every byte value, twice, including invalid UTF-8.
func allBytes() []byte {
	b := make([]byte, 512)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func (h *harness) testDocuments(t *testing.T) {
	t.Run("RoundTrip", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("doc")
		cases := []struct {
			name string
			data []byte
			s    string
			n    int64
			at   time.Time
		}{
			{"plain", []byte(`{"title":"printer on fire"}`), "plain", 42, time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)},
			{"empty string zero int epoch", []byte(`{}`), "", 0, time.Unix(0, 0)},
			{"unicode", []byte(`{"t":"Ünïcødé ✓ 日本語 🎉"}`), "Ünïcødé ✓ 日本語 🎉", -1, time.Date(1969, 7, 20, 20, 17, 40, 1000, time.UTC)},
			{"min int zero time", []byte(`[]`), "A", math.MinInt64, time.Time{}},
			{"max int far future", []byte(`null`), "zzzz", math.MaxInt64, time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)},
			{"one micro before epoch", allBytes(), "é", -1 << 40, time.Unix(-1, 999999000)},
			{"year 1900", []byte("x"), "Zebra", 1 << 53, time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)},
			{"other zone", []byte("y"), strings.Repeat("long ", 40), 7, time.Date(2030, 3, 31, 2, 30, 0, 654321000, time.FixedZone("X", -7*3600))},
			{"punctuation", []byte("'\"\\%_;--"), `'"\%_;--`, 8, time.Unix(1700000000, 1000)},
		}
		var docs []storage.Document
		for i, c := range cases {
			docs = append(docs, sdoc(s.Kind, "rt"+string(rune('a'+i)), int64(i+1), "", c.s, c.n, c.at))
			docs[i].Data = c.data
		}
		e.create(docs...)
		for i, c := range cases {
			got := e.get(s.Kind, docs[i].ID)
			requireSameDoc(t, docs[i], got, c.name)
			assert.Equal(t, c.s, got.Fields[0].Str(), c.name)
			assert.Equal(t, c.n, got.Fields[1].Int64(), c.name)
			assert.True(t, itsm.NormalizeTime(c.at).Equal(got.Fields[2].Time()), "%s: time %s, want %s", c.name, got.Fields[2].Time(), c.at)
			assert.Equal(t, time.UTC, got.Fields[2].Time().Location(), c.name)
			// The values survive the query path too: each one finds its document.
			for fi, f := range s.Fields {
				q := storage.Query{Kind: s.Kind, Filters: []storage.Filter{storage.Eq(f.Name, docs[i].Fields[fi])}}
				found := e.queryAll(q, len(docs))
				require.Contains(t, ids(found), docs[i].ID, "%s: Eq on %s", c.name, f.Name)
				for _, d := range found {
					if d.ID == docs[i].ID {
						requireSameDoc(t, docs[i], d, c.name)
					}
				}
			}
		}
	})

	t.Run("DataSizes", func(t *testing.T) {
		e := h.setup(t)
		s := e.register(storage.Schema{Kind: name("blob"), Fields: []storage.Field{fInt("n")}})
		cases := map[string][]byte{
			"nil":      nil,
			"empty":    {},
			"one zero": {0},
			"all":      allBytes(),
			"max":      bytes.Repeat([]byte{0xfe, 'a', 0}, storage.MaxDocumentSize/3+1)[:storage.MaxDocumentSize],
		}
		for what, data := range cases {
			d := storage.Document{Kind: s.Kind, ID: "size_" + strings.ReplaceAll(what, " ", "_"), Version: 1, Data: data, Fields: []storage.Value{storage.Int(int64(len(data)))}}
			e.create(d)
			got := e.get(s.Kind, d.ID)
			require.Equal(t, len(data), len(got.Data), what)
			require.True(t, bytes.Equal(data, got.Data), "%s: data differs", what)
		}
	})

	t.Run("Oversized", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("doc")
		d := sdoc(s.Kind, "big", 1, "", "x", 1, time.Unix(0, 0))
		d.Data = make([]byte, storage.MaxDocumentSize+1)
		require.ErrorIs(t, e.putErr(d, 0), itsm.ErrInvalid)
		e.requireMissing(s.Kind, "big")
		// Oversized replacement of an existing document changes nothing.
		small := sdoc(s.Kind, "big", 1, "small", "x", 1, time.Unix(0, 0))
		e.create(small)
		d.Version = 2
		require.ErrorIs(t, e.putErr(d, 1), itsm.ErrInvalid)
		e.requireDoc(small)
	})

	t.Run("GetNotFound", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("doc")
		_, err := e.b.Get(e.ctx, s.Kind, "missing")
		require.ErrorIs(t, err, itsm.ErrNotFound)
		require.NoError(t, e.b.Update(e.ctx, func(tx storage.Tx) error {
			_, err := tx.Get(e.ctx, s.Kind, "missing")
			assert.ErrorIs(t, err, itsm.ErrNotFound, "Tx.Get")
			return nil
		}))
	})

	t.Run("CreateExisting", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("doc")
		d := sdoc(s.Kind, "a", 1, "first", "x", 1, time.Unix(10, 0))
		e.create(d)
		again := sdoc(s.Kind, "a", 1, "second", "y", 2, time.Unix(20, 0))
		require.ErrorIs(t, e.putErr(again, 0), itsm.ErrConflict)
		again.Version = 5
		require.ErrorIs(t, e.putErr(again, 0), itsm.ErrConflict)
		e.requireDoc(d)
		requireNoMatch(e, s, "s", storage.String("y"))
	})

	t.Run("UpdateMissing", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("doc")
		d := sdoc(s.Kind, "ghost", 4, "x", "x", 1, time.Unix(0, 0))
		require.ErrorIs(t, e.putErr(d, 3), itsm.ErrConflict, "expected 3 but the document does not exist")
		e.requireMissing(s.Kind, "ghost")
	})

	t.Run("StaleVersion", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("doc")
		v1 := sdoc(s.Kind, "a", 1, "v1", "one", 1, time.Unix(1, 0))
		v2 := sdoc(s.Kind, "a", 2, "v2", "two", 2, time.Unix(2, 0))
		e.create(v1)
		e.update(v2, 1)
		for _, expected := range []int64{1, 3, 7} {
			stale := sdoc(s.Kind, "a", expected+1, "stale", "stale", 99, time.Unix(99, 0))
			require.ErrorIs(t, e.putErr(stale, expected), itsm.ErrConflict, "expected %d", expected)
		}
		e.requireDoc(v2)
		requireNoMatch(e, s, "s", storage.String("stale"))
		requireNoMatch(e, s, "n", storage.Int(99))
		requireNoMatch(e, s, "s", storage.String("one"))
		got := e.queryAll(storage.Query{Kind: s.Kind, Filters: []storage.Filter{storage.Eq("s", storage.String("two"))}}, 10)
		require.Equal(t, []string{"a"}, ids(got))
	})

	t.Run("VersionNotGreater", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("doc")
		e.create(sdoc(s.Kind, "a", 3, "v3", "x", 1, time.Unix(1, 0)))
		cases := []struct {
			version, expected int64
		}{{3, 3}, {2, 3}, {1, 3}, {0, 0}, {-1, 0}, {0, 3}}
		for _, c := range cases {
			d := sdoc(s.Kind, "a", c.version, "bad", "bad", 2, time.Unix(2, 0))
			require.ErrorIs(t, e.putErr(d, c.expected), itsm.ErrInvalid, "version %d expected %d", c.version, c.expected)
			d.ID = "fresh"
			if c.expected == 0 {
				require.ErrorIs(t, e.putErr(d, 0), itsm.ErrInvalid, "new document at version %d", c.version)
			}
		}
		require.Equal(t, int64(3), e.get(s.Kind, "a").Version)
		e.requireMissing(s.Kind, "fresh")
	})

	t.Run("LaterVersion", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("doc")
		// An import may write a record at a later version at once, and an
		// update may skip versions.
		d := sdoc(s.Kind, "imported", 7, "v7", "x", 1, time.Unix(1, 0))
		e.create(d)
		e.requireDoc(d)
		d = sdoc(s.Kind, "imported", 10, "v10", "y", 2, time.Unix(2, 0))
		e.update(d, 7)
		e.requireDoc(d)
	})

	t.Run("Delete", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("doc")
		d := sdoc(s.Kind, "a", 2, "v2", "gone", 1, time.Unix(1, 0))
		keep := sdoc(s.Kind, "b", 1, "b", "gone", 1, time.Unix(1, 0))
		e.create(d, keep)
		del := func(id string, version int64) error {
			return e.b.Update(e.ctx, func(tx storage.Tx) error { return tx.Delete(e.ctx, s.Kind, id, version) })
		}
		require.ErrorIs(t, del("a", 1), itsm.ErrConflict, "stale version")
		require.ErrorIs(t, del("a", 3), itsm.ErrConflict, "future version")
		e.requireDoc(d)
		require.ErrorIs(t, del("missing", 1), itsm.ErrNotFound)
		require.NoError(t, del("a", 2))
		e.requireMissing(s.Kind, "a")
		require.ErrorIs(t, del("a", 2), itsm.ErrNotFound, "deleted twice")
		got := e.queryAll(storage.Query{Kind: s.Kind, Filters: []storage.Filter{storage.Eq("s", storage.String("gone"))}}, 10)
		require.Equal(t, []string{"b"}, ids(got), "a deleted document leaves the indexes")
		e.requireDoc(keep)
		// The id may be created again afterwards.
		again := sdoc(s.Kind, "a", 1, "again", "back", 5, time.Unix(5, 0))
		e.create(again)
		e.requireDoc(again)
	})

	t.Run("WrongFields", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("doc")
		good := sdoc(s.Kind, "a", 1, "good", "x", 1, time.Unix(1, 0))
		cases := map[string][]storage.Value{
			"nil fields":       nil,
			"too few":          good.Fields[:2],
			"too many":         append(append([]storage.Value{}, good.Fields...), storage.Int(1)),
			"string for int":   {storage.String("x"), storage.String("1"), storage.Time(time.Unix(1, 0))},
			"int for time":     {storage.String("x"), storage.Int(1), storage.Int(1)},
			"time for int":     {storage.String("x"), storage.Time(time.Unix(1, 0)), storage.Time(time.Unix(1, 0))},
			"int for string":   {storage.Int(1), storage.Int(1), storage.Time(time.Unix(1, 0))},
			"zero value":       {storage.String("x"), {}, storage.Time(time.Unix(1, 0))},
			"all zero values":  {{}, {}, {}},
			"fields reordered": {storage.Int(1), storage.String("x"), storage.Time(time.Unix(1, 0))},
		}
		for what, fields := range cases {
			d := good
			d.Fields = fields
			require.ErrorIs(t, e.putErr(d, 0), itsm.ErrInvalid, what)
		}
		e.requireMissing(s.Kind, "a")
		e.create(good)
		for what, fields := range cases {
			d := good
			d.Version, d.Fields = 2, fields
			require.ErrorIs(t, e.putErr(d, 1), itsm.ErrInvalid, "update with "+what)
		}
		e.requireDoc(good)
	})

	t.Run("TxSeesOwnWrites", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("doc")
		old := sdoc(s.Kind, "old", 1, "old", "x", 1, time.Unix(1, 0))
		e.create(old)
		v1 := sdoc(s.Kind, "new", 1, "v1", "a", 1, time.Unix(1, 0))
		v2 := sdoc(s.Kind, "new", 2, "v2", "b", 2, time.Unix(2, 0))
		oldV2 := sdoc(s.Kind, "old", 2, "old v2", "y", 2, time.Unix(2, 0))
		require.NoError(t, e.b.Update(e.ctx, func(tx storage.Tx) error {
			require.NoError(t, tx.Put(e.ctx, v1, 0))
			got, err := tx.Get(e.ctx, s.Kind, "new")
			require.NoError(t, err)
			requireSameDoc(t, v1, got, "after create")
			require.NoError(t, tx.Put(e.ctx, v2, 1), "chained write in one unit")
			got, err = tx.Get(e.ctx, s.Kind, "new")
			require.NoError(t, err)
			requireSameDoc(t, v2, got, "after second write")

			require.NoError(t, tx.Put(e.ctx, oldV2, 1))
			got, err = tx.Get(e.ctx, s.Kind, "old")
			require.NoError(t, err)
			requireSameDoc(t, oldV2, got, "after update")
			require.ErrorIs(t, tx.Delete(e.ctx, s.Kind, "old", 1), itsm.ErrConflict, "delete at the version before the unit's write")
			require.NoError(t, tx.Delete(e.ctx, s.Kind, "old", 2))
			_, err = tx.Get(e.ctx, s.Kind, "old")
			require.ErrorIs(t, err, itsm.ErrNotFound, "after delete")
			require.ErrorIs(t, tx.Delete(e.ctx, s.Kind, "old", 2), itsm.ErrNotFound, "deleted twice in one unit")
			return nil
		}))
		e.requireDoc(v2)
		e.requireMissing(s.Kind, "old")
	})

	t.Run("DeleteAndRecreateInOneUnit", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("doc")
		e.create(sdoc(s.Kind, "a", 4, "v4", "x", 1, time.Unix(1, 0)))
		fresh := sdoc(s.Kind, "a", 1, "reborn", "y", 2, time.Unix(2, 0))
		require.NoError(t, e.b.Update(e.ctx, func(tx storage.Tx) error {
			if err := tx.Delete(e.ctx, s.Kind, "a", 4); err != nil {
				return err
			}
			return tx.Put(e.ctx, fresh, 0)
		}))
		e.requireDoc(fresh)
		requireNoMatch(e, s, "s", storage.String("x"))
	})

	t.Run("UncommittedInvisible", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("doc")
		old := sdoc(s.Kind, "a", 1, "old", "old", 1, time.Unix(1, 0))
		e.create(old)
		require.NoError(t, e.b.Update(e.ctx, func(tx storage.Tx) error {
			require.NoError(t, tx.Put(e.ctx, sdoc(s.Kind, "a", 2, "new", "new", 2, time.Unix(2, 0)), 1))
			require.NoError(t, tx.Put(e.ctx, sdoc(s.Kind, "b", 1, "b", "new", 2, time.Unix(2, 0)), 0))
			// Reads outside the unit see only committed state.
			e.requireDoc(old)
			e.requireMissing(s.Kind, "b")
			requireNoMatch(e, s, "s", storage.String("new"))
			return nil
		}))
		require.Equal(t, int64(2), e.get(s.Kind, "a").Version)
	})

	t.Run("FailedPutKeepsUnitUsable", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("doc")
		taken := sdoc(s.Kind, "taken", 1, "taken", "x", 1, time.Unix(1, 0))
		e.create(taken)
		next := sdoc(s.Kind, "next", 1, "next", "y", 2, time.Unix(2, 0))
		// Every failed call leaves the store as it was; a unit that handles
		// the failure may go on and commit its other writes.
		require.NoError(t, e.b.Update(e.ctx, func(tx storage.Tx) error {
			require.ErrorIs(t, tx.Put(e.ctx, sdoc(s.Kind, "taken", 1, "dup", "dup", 9, time.Unix(9, 0)), 0), itsm.ErrConflict)
			require.ErrorIs(t, tx.Put(e.ctx, sdoc(s.Kind, "bad", 0, "bad", "bad", 9, time.Unix(9, 0)), 0), itsm.ErrInvalid)
			require.ErrorIs(t, tx.Delete(e.ctx, s.Kind, "nothing", 1), itsm.ErrNotFound)
			return tx.Put(e.ctx, next, 0)
		}))
		e.requireDoc(taken)
		e.requireDoc(next)
		e.requireMissing(s.Kind, "bad")
	})

	t.Run("NoAliasing", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("doc")
		d := sdoc(s.Kind, "a", 1, "original", "orig", 1, time.Unix(1, 0))
		want := sdoc(s.Kind, "a", 1, "original", "orig", 1, time.Unix(1, 0))
		require.NoError(t, e.b.Update(e.ctx, func(tx storage.Tx) error {
			if err := tx.Put(e.ctx, d, 0); err != nil {
				return err
			}
			// The caller reuses its buffers after Put.
			copy(d.Data, "XXXXXXXX")
			d.Fields[0] = storage.String("mutated")
			got, err := tx.Get(e.ctx, s.Kind, "a")
			require.NoError(t, err)
			requireSameDoc(t, want, got, "Tx.Get after the caller mutated its buffers")
			got.Data[0] = 'Y'
			got.Fields[1] = storage.Int(-5)
			return nil
		}))
		// A committed document read inside a later unit is a copy too.
		require.NoError(t, e.b.Update(e.ctx, func(tx storage.Tx) error {
			got, err := tx.Get(e.ctx, s.Kind, "a")
			require.NoError(t, err)
			copy(got.Data, "ZZZZZZZZ")
			got.Fields[0] = storage.String("changed")
			again, err := tx.Get(e.ctx, s.Kind, "a")
			require.NoError(t, err)
			requireSameDoc(t, want, again, "Tx.Get of a committed document after the caller changed an earlier copy")
			return nil
		}))
		e.requireDoc(want)
		got := e.get(s.Kind, "a")
		copy(got.Data, "ZZZZ")
		got.Fields[0] = storage.String("mutated again")
		e.requireDoc(want)
		page := e.queryAll(storage.Query{Kind: s.Kind}, 10)
		require.Len(t, page, 1)
		copy(page[0].Data, "QQQQ")
		page[0].Fields[2] = storage.Time(time.Unix(999, 0))
		e.requireDoc(want)
		requireSameDoc(t, want, e.queryAll(storage.Query{Kind: s.Kind}, 10)[0])
	})
}

// requireNoMatch checks that no document of s has field = v.
func requireNoMatch(e *env, s storage.Schema, field string, v storage.Value) {
	e.t.Helper()
	got := e.queryAll(storage.Query{Kind: s.Kind, Filters: []storage.Filter{storage.Eq(field, v)}}, 100)
	require.Empty(e.t, ids(got), "documents with %s = %#v", field, v)
}
