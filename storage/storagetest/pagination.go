package storagetest

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// pageKind declares the pagination fixture kind.
func pageKind(kind string) storage.Schema {
	return storage.Schema{
		Kind:    kind,
		Fields:  []storage.Field{fInt("n"), fTime("at"), fString("s")},
		Indexes: []storage.Index{{Name: "by_s_n", Fields: []string{"s", "n"}}},
	}
}

var pageBase = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// pageDoc builds a pagination document; ties are frequent on purpose.
func pageDoc(kind, id string, n int64, s string) storage.Document {
	return storage.Document{Kind: kind, ID: id, Version: 1, Data: []byte(id),
		Fields: []storage.Value{storage.Int(n), storage.Time(pageBase.Add(time.Duration(n%97) * time.Second)), storage.String(s)}}
}

func (h *harness) testPagination(t *testing.T) {
	t.Run("Large", func(t *testing.T) {
		e := h.setup(t)
		s := e.register(pageKind(name("page")))
		n := h.scale(3000, 600)
		r := rand.New(rand.NewPCG(2, 2))
		perm := r.Perm(n)
		docs := make([]storage.Document, n)
		for i := range docs {
			docs[i] = pageDoc(s.Kind, fmt.Sprintf("p%05d", perm[i]), int64(i/3), strPool[r.IntN(len(strPool))])
		}
		e.createMany(docs, 500)
		cases := map[string]storage.Query{
			"by id":           {Limit: 37},
			"by n":            {Sort: []storage.Sort{{Field: "n"}}, Limit: 41},
			"by time desc":    {Sort: []storage.Sort{{Field: "at", Desc: true}}, Limit: 50},
			"by s then n":     {Sort: []storage.Sort{{Field: "s"}, {Field: "n", Desc: true}}, Limit: 33},
			"filtered by s n": {Filters: []storage.Filter{storage.Gte("n", storage.Int(int64(n/9)))}, Sort: []storage.Sort{{Field: "s", Desc: true}, {Field: "n"}}, Limit: 29},
			"big pages":       {Sort: []storage.Sort{{Field: "n", Desc: true}}, Limit: storage.MaxLimit},
		}
		for what, q := range cases {
			q.Kind = s.Kind
			got := e.queryAll(q, n)
			seen := make(map[string]bool, len(got))
			for _, d := range got {
				require.False(t, seen[d.ID], "%s: %s returned twice", what, d.ID)
				seen[d.ID] = true
			}
			want := reference(t, s, q, docs)
			require.Equal(t, len(want), len(got), what)
			require.Equal(t, ids(want), ids(got), what)
		}
	})

	t.Run("StableUnderWrites", func(t *testing.T) {
		e := h.setup(t)
		s := e.register(pageKind(name("page")))
		const m = 300
		docs := map[string]storage.Document{}
		var list []storage.Document
		for i := 1; i <= m; i++ {
			d := pageDoc(s.Kind, fmt.Sprintf("s%04d", i), int64(10*i), "x")
			docs[d.ID] = d
			list = append(list, d)
		}
		e.createMany(list, 150)
		orderings := []struct {
			what string
			sort []storage.Sort
		}{
			{"n asc", []storage.Sort{{Field: "n"}}},
			{"time desc", []storage.Sort{{Field: "at", Desc: true}}},
			{"s then n", []storage.Sort{{Field: "s"}, {Field: "n", Desc: true}}},
		}
		for _, o := range orderings {
			what := o.what
			q := storage.Query{Kind: s.Kind, Sort: o.sort, Limit: 25}
			var got []storage.Document
			for range 5 {
				page, err := e.b.Query(e.ctx, q)
				require.NoError(t, err)
				require.NotEmpty(t, page.Next, what)
				got = append(got, page.Docs...)
				q.Cursor = page.Next
			}
			cursorPlan, err := s.CheckQuery(q)
			require.NoError(t, err)
			anchor := got[len(got)-1]
			an := anchor.Fields[0].Int64()
			// Between pages: inserts before and after the cursor position,
			// including ties with the anchor's key on both sides of its id,
			// and deletes of the anchor itself and of documents on either
			// side of it.
			tag := strings.ReplaceAll(what, " ", "_")
			inserts := []storage.Document{
				pageDoc(s.Kind, tag+"_a_low", 1, "x"),
				pageDoc(s.Kind, tag+"_b_before", an-5, "x"),
				pageDoc(s.Kind, tag+"_c_after", an+5, "x"),
				pageDoc(s.Kind, tag+"_d_end", 10*m+5, "x"),
				pageDoc(s.Kind, tag+"_e_mid", 10*m/2+3, "y"),
				pageDoc(s.Kind, lowerID(anchor.ID)+"~"+tag+"_tie_low", an, "x"),
				pageDoc(s.Kind, anchor.ID+"~"+tag+"_tie_high", an, "x"),
			}
			before := 0
			for _, d := range inserts {
				if !cursorPlan.AfterCursor(d) {
					before++
				}
			}
			require.True(t, before > 0 && before < len(inserts), "%s: inserts fall on both sides of the cursor", what)
			e.create(inserts...)
			for _, d := range inserts {
				docs[d.ID] = d
			}
			removed := []storage.Document{anchor}
			for _, n := range []int64{an - 30, an + 30} {
				if d, ok := docs[fmt.Sprintf("s%04d", n/10)]; ok && n%10 == 0 && d.ID != anchor.ID {
					removed = append(removed, d)
				}
			}
			require.NoError(t, e.b.Update(e.ctx, func(tx storage.Tx) error {
				for _, d := range removed {
					if err := tx.Delete(e.ctx, s.Kind, d.ID, d.Version); err != nil {
						return err
					}
				}
				return nil
			}))
			for _, d := range removed {
				delete(docs, d.ID)
			}
			var all []storage.Document
			for _, d := range docs {
				all = append(all, d)
			}
			var wantRest []storage.Document
			for _, d := range reference(t, s, q, all) {
				if cursorPlan.AfterCursor(d) {
					wantRest = append(wantRest, d)
				}
			}
			rest := e.queryAll(q, len(all))
			require.Equal(t, ids(wantRest), ids(rest), what)
			seen := map[string]bool{}
			for _, d := range append(got, rest...) {
				require.False(t, seen[d.ID], "%s: %s seen twice", what, d.ID)
				seen[d.ID] = true
			}
			for _, d := range inserts {
				require.Equal(t, cursorPlan.AfterCursor(d), seen[d.ID], "%s: insert %s seen=%v", what, d.ID, seen[d.ID])
			}
			for _, d := range removed[1:] {
				require.False(t, seen[d.ID] && cursorPlan.AfterCursor(d), "%s: deleted %s seen after the cursor", what, d.ID)
			}
			// Restore the deleted documents so every ordering starts from
			// comparable data.
			e.create(removed...)
			for _, d := range removed {
				docs[d.ID] = d
			}
		}
	})

	t.Run("ForeignCursor", func(t *testing.T) {
		e := h.setup(t)
		s := e.register(pageKind(name("page")))
		other := e.register(pageKind(name("page")))
		var docs, otherDocs []storage.Document
		for i := range 30 {
			docs = append(docs, pageDoc(s.Kind, fmt.Sprintf("f%03d", i), int64(i), "x"))
			otherDocs = append(otherDocs, pageDoc(other.Kind, fmt.Sprintf("f%03d", i), int64(i), "x"))
		}
		e.create(docs...)
		e.create(otherDocs...)
		q := storage.Query{Kind: s.Kind, Filters: []storage.Filter{storage.Gte("n", storage.Int(2))}, Sort: []storage.Sort{{Field: "n"}}, Limit: 5}
		page, err := e.b.Query(e.ctx, q)
		require.NoError(t, err)
		require.NotEmpty(t, page.Next)
		same := q
		same.Cursor, same.Limit = page.Next, 7
		_, err = e.b.Query(e.ctx, same)
		require.NoError(t, err, "the same query continues with another page size")

		foreign := map[string]storage.Query{
			"other filter value": {Kind: s.Kind, Filters: []storage.Filter{storage.Gte("n", storage.Int(3))}, Sort: q.Sort},
			"other operator":     {Kind: s.Kind, Filters: []storage.Filter{storage.Gt("n", storage.Int(2))}, Sort: q.Sort},
			"no filter":          {Kind: s.Kind, Sort: q.Sort},
			"other direction":    {Kind: s.Kind, Filters: q.Filters, Sort: []storage.Sort{{Field: "n", Desc: true}}},
			"other sort field":   {Kind: s.Kind, Filters: q.Filters, Sort: []storage.Sort{{Field: "at"}}},
			"no sort":            {Kind: s.Kind, Filters: q.Filters},
			"two sort fields":    {Kind: s.Kind, Filters: q.Filters, Sort: []storage.Sort{{Field: "s"}, {Field: "n"}}},
			"other kind":         {Kind: other.Kind, Filters: q.Filters, Sort: q.Sort},
		}
		for what, fq := range foreign {
			fq.Cursor, fq.Limit = page.Next, 5
			_, err := noPanicQuery(t, what, func() (storage.Page, error) { return e.b.Query(e.ctx, fq) })
			require.ErrorIs(t, err, itsm.ErrInvalid, what)
		}
	})

	t.Run("GarbageCursor", func(t *testing.T) {
		e := h.setup(t)
		s := e.register(pageKind(name("page")))
		var docs []storage.Document
		for i := range 10 {
			docs = append(docs, pageDoc(s.Kind, fmt.Sprintf("g%03d", i), int64(i), "x"))
		}
		e.create(docs...)
		q := storage.Query{Kind: s.Kind, Sort: []storage.Sort{{Field: "n"}}, Limit: 3}
		page, err := e.b.Query(e.ctx, q)
		require.NoError(t, err)
		valid := page.Next
		require.NotEmpty(t, valid)
		raw, err := base64.RawURLEncoding.DecodeString(valid)
		require.NoError(t, err, "cursors are base64url; this test mangles them below")
		flip := func(i int) string {
			b := append([]byte(nil), raw...)
			b[i] ^= 0x40
			return base64.RawURLEncoding.EncodeToString(b)
		}
		garbage := map[string]string{
			"punctuation":        "!!!",
			"spaces":             "not a cursor",
			"short base64":       "AAAA",
			"standard base64":    base64.StdEncoding.EncodeToString(raw),
			"truncated":          valid[:len(valid)-1],
			"half":               valid[:len(valid)/2],
			"trailing bytes":     valid + "AA",
			"huge":               strings.Repeat("A", 100_000),
			"unknown version":    flip(0),
			"other fingerprint":  flip(3),
			"random bytes":       base64.RawURLEncoding.EncodeToString([]byte("\x01 some random bytes that mean nothing")),
			"zero bytes":         base64.RawURLEncoding.EncodeToString(make([]byte, 40)),
			"unicode":            "ç游标",
			"sql":                "' OR 1=1 --",
			"cursor of a cursor": base64.RawURLEncoding.EncodeToString([]byte(valid)),
		}
		for what, c := range garbage {
			gq := q
			gq.Cursor = c
			_, err := noPanicQuery(t, what, func() (storage.Page, error) { return e.b.Query(e.ctx, gq) })
			require.ErrorIs(t, err, itsm.ErrInvalid, what)
			require.NoError(t, e.b.Update(e.ctx, func(tx storage.Tx) error {
				_, err := noPanicQuery(t, what, func() (storage.Page, error) { return tx.Query(e.ctx, gq) })
				require.ErrorIs(t, err, itsm.ErrInvalid, "Tx.Query "+what)
				return nil
			}))
		}
	})
}

// lowerID returns a string that sorts just before the ASCII id.
func lowerID(id string) string {
	return id[:len(id)-1] + string(rune(id[len(id)-1]-1))
}
