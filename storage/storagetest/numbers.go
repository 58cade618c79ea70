package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// numSchema registers a fresh kind with human numbers: the NumberField and
// a string field.
func (e *env) numSchema(base string) storage.Schema {
	return e.register(storage.Schema{Kind: name(base), Fields: []storage.Field{fString(storage.NumberField), fString("s")}})
}

// ndoc builds a document of a numSchema kind.
func ndoc(kind, id string, version int64, number string) storage.Document {
	return storage.Document{Kind: kind, ID: id, Version: version, Data: []byte(`{"number":"` + number + `"}`),
		Fields: []storage.Value{storage.String(number), storage.String(id)}}
}

// requireDuplicateNumber checks that err refuses number for kind.
func requireDuplicateNumber(t testing.TB, err error, kind, number, msg string) {
	t.Helper()
	require.ErrorIs(t, err, itsm.ErrConflict, msg)
	var dn *storage.DuplicateNumberError
	require.ErrorAs(t, err, &dn, msg)
	require.Equal(t, kind, dn.Kind, msg)
	require.Equal(t, number, dn.Number, msg)
	require.Contains(t, err.Error(), number, "%s: the error names the number", msg)
	require.Contains(t, err.Error(), kind, "%s: the error names the kind", msg)
}

// advance moves a sequence past atLeast in its own unit of work.
func (e *env) advance(seq string, atLeast int64) {
	e.t.Helper()
	require.NoError(e.t, e.b.Update(e.ctx, func(tx storage.Tx) error { return tx.AdvanceSequence(e.ctx, seq, atLeast) }))
}

func (h *harness) testNumbers(t *testing.T) {
	t.Run("DuplicateRefused", func(t *testing.T) {
		e := h.setup(t)
		s := e.numSchema("num")
		a := ndoc(s.Kind, "a", 1, "INC0000001")
		e.create(a)
		err := noPanic(t, "Put", func() error { return e.putErr(ndoc(s.Kind, "b", 1, "INC0000001"), 0) })
		requireDuplicateNumber(t, err, s.Kind, "INC0000001", "a new document with a taken number")
		e.requireMissing(s.Kind, "b")

		// Taking it over by an update of another document is refused too.
		c := ndoc(s.Kind, "c", 1, "INC0000002")
		e.create(c)
		err = e.putErr(ndoc(s.Kind, "c", 2, "INC0000001"), 1)
		requireDuplicateNumber(t, err, s.Kind, "INC0000001", "an update taking a held number")
		e.requireDoc(c)

		// Two new documents of one unit with one number: neither is written.
		err = e.b.Update(e.ctx, func(tx storage.Tx) error {
			if err := tx.Put(e.ctx, ndoc(s.Kind, "d", 1, "INC0000009"), 0); err != nil {
				return err
			}
			return tx.Put(e.ctx, ndoc(s.Kind, "e", 1, "INC0000009"), 0)
		})
		requireDuplicateNumber(t, err, s.Kind, "INC0000009", "one number twice in a unit")
		e.requireMissing(s.Kind, "d")
		e.requireMissing(s.Kind, "e")
		e.requireDoc(a)

	})

	t.Run("Allowed", func(t *testing.T) {
		e := h.setup(t)
		s := e.numSchema("num")
		other := e.numSchema("other")
		a := ndoc(s.Kind, "a", 1, "INC0000001")
		e.create(a)
		cases := []struct {
			what     string
			d        storage.Document
			expected int64
		}{
			{"the same number on another kind", ndoc(other.Kind, "a2", 1, "INC0000001"), 0},
			{"an update keeping its own number", ndoc(s.Kind, "a", 2, "INC0000001"), 1},
			{"a document without a number", ndoc(s.Kind, "n1", 1, ""), 0},
			{"another document without a number", ndoc(s.Kind, "n2", 1, ""), 0},
			{"a number differing only in case", ndoc(s.Kind, "lower", 1, "inc0000001"), 0},
			{"an update changing to a free number", ndoc(s.Kind, "a", 3, "INC0000002"), 2},
			{"the number given up by that update", ndoc(s.Kind, "b", 1, "INC0000001"), 0},
		}
		for _, c := range cases {
			require.NoError(t, e.putErr(c.d, c.expected), c.what)
			e.requireDoc(c.d)
		}
		// Deleting a document frees its number.
		require.NoError(t, e.b.Update(e.ctx, func(tx storage.Tx) error { return tx.Delete(e.ctx, s.Kind, "b", 1) }))
		require.NoError(t, e.putErr(ndoc(s.Kind, "c", 1, "INC0000001"), 0), "a number freed by a delete")
		requireDuplicateNumber(t, e.putErr(ndoc(s.Kind, "d", 1, "INC0000001"), 0), s.Kind, "INC0000001", "taken again")
	})

	t.Run("Import", func(t *testing.T) {
		e := h.setup(t)
		for how, b := range importers(e.b) {
			s := e.numSchema("imp")
			e.create(ndoc(s.Kind, "held", 1, "INC0000007"))
			before := e.snapshot(s.Kind)
			for what, docs := range map[string][]storage.Document{
				"a held number":        {ndoc(s.Kind, "x", 1, "INC0000001"), ndoc(s.Kind, "y", 1, "INC0000007")},
				"one number twice":     {ndoc(s.Kind, "x", 1, "INC0000002"), ndoc(s.Kind, "y", 1, "INC0000002")},
				"twice after the held": {ndoc(s.Kind, "x", 1, "INC0000003"), ndoc(s.Kind, "y", 2, "INC0000004"), ndoc(s.Kind, "z", 1, "INC0000003")},
			} {
				err := noPanic(t, "Import", func() error { return storage.Import(e.ctx, b, docs, nil) })
				require.ErrorIs(t, err, itsm.ErrConflict, "%s: %s", how, what)
				var dn *storage.DuplicateNumberError
				require.ErrorAs(t, err, &dn, "%s: %s", how, what)
				require.Equal(t, s.Kind, dn.Kind, "%s: %s", how, what)
				requireSame(t, before, e.snapshot(s.Kind), how+": "+what)
			}
			docs := []storage.Document{ndoc(s.Kind, "x", 1, "INC0000001"), ndoc(s.Kind, "y", 1, ""), ndoc(s.Kind, "z", 1, "")}
			require.NoError(t, storage.Import(e.ctx, b, docs, nil), how)
			for _, d := range docs {
				e.requireDoc(d)
			}
		}
	})

	t.Run("ConcurrentClaims", func(t *testing.T) {
		e := h.setup(t)
		s := e.numSchema("num")
		writers := h.scale(8, 4)
		var wg sync.WaitGroup
		errs := make([]error, writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[w] = e.putErr(ndoc(s.Kind, fmt.Sprintf("w%d", w), 1, "INC0000001"), 0)
			}()
		}
		wg.Wait()
		won := 0
		for w, err := range errs {
			if err == nil {
				won++
				continue
			}
			require.ErrorIs(t, err, itsm.ErrConflict, "writer %d", w)
		}
		require.Equal(t, 1, won, "exactly one writer keeps the number")
		got := e.queryAll(storage.Query{Kind: s.Kind, Filters: []storage.Filter{storage.Eq(storage.NumberField, storage.String("INC0000001"))}}, writers)
		require.Len(t, got, 1, "one document holds the number")
	})

	t.Run("NumberMustBeString", func(t *testing.T) {
		e := h.setup(t)
		err := noPanic(t, "Register", func() error {
			return e.b.Register(e.ctx, storage.Schema{Kind: name("num"), Fields: []storage.Field{fInt(storage.NumberField)}})
		})
		require.ErrorIs(t, err, itsm.ErrInvalid)
	})

	t.Run("Advance", func(t *testing.T) {
		e := h.setup(t)
		seq := name("seq")
		e.advance(seq, 41)
		first := e.next(seq)
		require.Greater(t, first, int64(41), "the next value passes what was advanced to")
		e.advance(seq, 10)
		require.Greater(t, e.next(seq), first, "a sequence never moves back")

		// Advancing to where the sequence is moves nothing needlessly far.
		cur := e.next(seq)
		e.advance(seq, cur)
		require.Greater(t, e.next(seq), cur)

		fresh := name("seq")
		e.advance(fresh, 0)
		e.advance(fresh, -5)
		require.Equal(t, int64(1), e.next(fresh), "advancing to below 1 changes nothing")

		// An advance holds even when its unit fails, and later values of
		// the unit go on from it.
		rolled := name("seq")
		err := e.b.Update(e.ctx, func(tx storage.Tx) error {
			if err := tx.AdvanceSequence(e.ctx, rolled, 100); err != nil {
				return err
			}
			v, err := tx.NextSequence(e.ctx, rolled)
			if err != nil {
				return err
			}
			assert.Greater(t, v, int64(100), "NextSequence in the advancing unit")
			return errBoom
		})
		require.ErrorIs(t, err, errBoom)
		require.Greater(t, e.next(rolled), int64(101), "a failed unit keeps its advance and the values it drew")

		// Sequences stay independent.
		require.Equal(t, int64(1), e.next(name("seq")))
	})

	t.Run("AdvanceBadInput", func(t *testing.T) {
		e := h.setup(t)
		for _, bad := range []string{"", "Upper", "has space", "x'; DROP TABLE x; --"} {
			err := noPanic(t, "AdvanceSequence", func() error {
				return e.b.Update(e.ctx, func(tx storage.Tx) error { return tx.AdvanceSequence(e.ctx, bad, 5) })
			})
			require.ErrorIs(t, err, itsm.ErrInvalid, "sequence name %q", bad)
		}
		var leaked storage.Tx
		require.NoError(t, e.b.Update(e.ctx, func(tx storage.Tx) error { leaked = tx; return nil }))
		seq := name("seq")
		err := noPanic(t, "AdvanceSequence on a finished Tx", func() error { return leaked.AdvanceSequence(e.ctx, seq, 50) })
		require.Error(t, err, "AdvanceSequence on a Tx whose unit ended")
	})

	t.Run("ConcurrentAdvance", func(t *testing.T) {
		e := h.setup(t)
		seq := name("seq")
		workers, rounds := h.scale(8, 4), h.scale(60, 20)
		var (
			mu    sync.Mutex
			drawn []int64
			wg    sync.WaitGroup
		)
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var last int64
				for r := range rounds {
					var v int64
					err := e.b.Update(e.ctx, func(tx storage.Tx) error {
						if (w+r)%3 == 0 {
							// Jump a little past what this worker saw, racing
							// the others' draws.
							if err := tx.AdvanceSequence(e.ctx, seq, last+int64(w%4)+1); err != nil {
								return err
							}
						}
						var err error
						v, err = tx.NextSequence(e.ctx, seq)
						return err
					})
					if err != nil {
						errs <- err
						return
					}
					if v <= last {
						errs <- fmt.Errorf("worker %d drew %d after %d", w, v, last)
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
	})

	t.Run("Records", func(t *testing.T) {
		e := h.setup(t)
		recs := newNumbered(t, e)
		ctx := itsm.WithActor(e.ctx, itsm.Actor{ID: "migrator", Roles: []string{"admin"}})
		create := func(number string) (*numbered, error) {
			rec := &numbered{Title: "t"}
			rec.Number = number
			err := recs.Create(ctx, rec, storage.Command{})
			return rec, err
		}
		mustCreate := func(number string) string {
			t.Helper()
			rec, err := create(number)
			require.NoError(t, err, "create with number %q", number)
			return rec.Number
		}
		require.Equal(t, "INC0000005", mustCreate("INC0000005"), "a kept number is kept")
		require.GreaterOrEqual(t, mustCreate(""), "INC0000006", "the next new number passes the kept one")
		drawn := mustCreate("")
		require.Equal(t, "LEGACY-7", mustCreate("LEGACY-7"), "a number in another format is kept")
		require.Equal(t, "INC3", mustCreate("INC3"), "a kept number below the sequence")
		after := mustCreate("")
		require.Greater(t, after, drawn, "numbers in another format and below the sequence leave it alone")
		n, ok := storage.NumberValue("INC", after)
		require.True(t, ok)
		m, _ := storage.NumberValue("INC", drawn)
		require.Equal(t, m+1, n, "numbers in another format and below the sequence do not move it")

		_, err := create("INC0000005")
		requireDuplicateNumber(t, err, recs.Collection().Kind(), "INC0000005", "a kept number already held")
		_, err = create("LEGACY-7")
		requireDuplicateNumber(t, err, recs.Collection().Kind(), "LEGACY-7", "a foreign number already held")
		got, err := recs.All(ctx, storage.Query{Kind: recs.Collection().Kind(), Filters: []storage.Filter{storage.Eq(storage.NumberField, storage.String("INC0000005"))}})
		if !errors.Is(err, itsm.ErrForbidden) { // reads may be authorised by record
			require.NoError(t, err)
			require.Len(t, got, 1, "the refused create wrote nothing")
		}
		// Far ahead: the next new number follows it.
		require.Equal(t, "INC0123456", mustCreate("INC0123456"))
		require.Equal(t, "INC0123457", mustCreate(""))
	})
}

// numbered is the record kind of the Records test.
type numbered struct {
	itsm.Record
	Title string `json:"title"`
}

// newNumbered registers a fresh numbered kind on e's backend and returns
// its Records with prefix "INC".
func newNumbered(t *testing.T, e *env) *storage.Records[numbered, *numbered] {
	t.Helper()
	kind := name("numbered")
	m, err := itsm.NewLifecycle[*numbered](kind).Initial("new").Final("closed").Event("close", "closed", "new").Compile()
	require.NoError(t, err)
	coll := storage.NewCollection[numbered](kind)
	require.NoError(t, coll.Register(context.WithoutCancel(e.ctx), e.b))
	recs, err := storage.NewRecords(e.b, coll, m, storage.RecordsConfig{Prefix: "INC"})
	require.NoError(t, err)
	return recs
}
