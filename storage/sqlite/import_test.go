package sqlite

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

func TestImport(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	require.NoError(t, s.Register(ctx, ticketSchema))
	wide := storage.Schema{Kind: "wide"}
	for i := range 60 {
		wide.Fields = append(wide.Fields, storage.Field{Name: fmt.Sprintf("f%02d", i), Type: storage.TypeInt})
	}
	require.NoError(t, s.Register(ctx, wide))

	n := 1234 // several full chunks and a remainder
	if raceEnabled || testing.Short() {
		n = 300
	}
	var docs []storage.Document
	var events []itsm.Event
	for i := range n {
		d := ticket(fmt.Sprintf("imp%05d", i), int64(1+i%3), "g", "s", int64(i), t0)
		docs = append(docs, d)
		events = append(events, chain("ticket", d.ID, 1, t0)...)
		w := storage.Document{Kind: "wide", ID: d.ID, Version: 7, Fields: make([]storage.Value, 60)}
		for j := range w.Fields {
			w.Fields[j] = storage.Int(int64(i * j))
		}
		docs = append(docs, w)
	}
	require.NoError(t, s.Import(ctx, docs, events))
	for _, i := range []int{0, 1, 2*n - 1, n, 201} {
		got, err := s.Get(ctx, docs[i].Kind, docs[i].ID)
		require.NoError(t, err)
		assert.Equal(t, docs[i], got, "written at its own version")
	}
	all, err := s.ReadEvents(ctx, 0, 2*n)
	require.NoError(t, err)
	require.Len(t, all, n)
	assert.Equal(t, events[n-1].ID, all[n-1].ID, "events in the order given")

	tests := []struct {
		name string
		docs []storage.Document
		want error
	}{
		{"existing id", []storage.Document{ticket("new1", 1, "g", "s", 1, t0), ticket("imp00200", 1, "g", "s", 1, t0)}, itsm.ErrConflict},
		{"duplicate in batch", []storage.Document{ticket("dup", 1, "g", "s", 1, t0), ticket("dup", 1, "g", "s", 1, t0)}, itsm.ErrConflict},
		{"invalid document", []storage.Document{ticket("new2", 1, "g", "s", 1, t0), {Kind: "ticket", ID: "bad", Version: 0}}, itsm.ErrInvalid},
		{"unknown kind", []storage.Document{{Kind: "nope", ID: "x", Version: 1}}, itsm.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Import(ctx, tt.docs, chain("ticket", "never", 1, t0))
			require.ErrorIs(t, err, tt.want)
			_, err = s.Get(ctx, "ticket", tt.docs[0].ID)
			if tt.docs[0].ID != "imp00200" {
				require.ErrorIs(t, err, itsm.ErrNotFound, "all or nothing")
			}
			h, err := s.History(ctx, "ticket", "never")
			require.NoError(t, err)
			assert.Empty(t, h, "no events either")
		})
	}
	var ce *itsm.ConflictError
	require.ErrorAs(t, s.Import(ctx, []storage.Document{ticket("imp00007", 1, "g", "s", 1, t0)}, nil), &ce)
	assert.Equal(t, "imp00007", ce.ID, "the conflict names the document")
	require.NoError(t, s.Import(ctx, nil, nil))
}

// TestImportRebuildsIndexes: a large import into a small table drops the
// kind's indexes and rebuilds them, ending with the same definitions; a
// failing one leaves them as they were.
func TestImportRebuildsIndexes(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	require.NoError(t, s.Register(ctx, ticketSchema))
	indexes := func() map[string]string {
		rows, err := s.r.QueryContext(ctx, "SELECT name, coalesce(sql, '') FROM sqlite_schema WHERE type = 'index' AND tbl_name IN ('pillars_doc_ticket', 'pillars_events')")
		require.NoError(t, err)
		defer rows.Close()
		out := map[string]string{}
		for rows.Next() {
			var n, def string
			require.NoError(t, rows.Scan(&n, &def))
			out[n] = def
		}
		return out
	}
	before := indexes()
	require.Len(t, before, 3+len(ticketSchema.Fields)+len(ticketSchema.Indexes), "primary key, two event indexes, fields, composite")

	batch := func(from, n int) ([]storage.Document, []itsm.Event) {
		var docs []storage.Document
		var events []itsm.Event
		for i := from; i < from+n; i++ {
			d := ticket(fmt.Sprintf("big%06d", i), 1, fmt.Sprintf("g%d", i%7), "new", int64(i%5), t0)
			docs = append(docs, d)
			events = append(events, chain("ticket", d.ID, 1, t0)...)
		}
		return docs, events
	}
	docs, events := batch(0, rebuildMin)
	failing := append(docs, ticket("big000001", 1, "g", "s", 1, t0)) // a duplicate at the very end
	require.ErrorIs(t, s.Import(ctx, failing, events), itsm.ErrConflict)
	assert.Equal(t, before, indexes(), "a failed import leaves the indexes")

	require.NoError(t, s.Import(ctx, docs, events))
	assert.Equal(t, before, indexes(), "rebuilt with the same definitions")
	more, moreEvents := batch(rebuildMin, rebuildMin/2)
	require.NoError(t, s.Import(ctx, more, moreEvents), "a smaller batch into a larger table maintains the indexes")
	assert.Equal(t, before, indexes())

	page, err := s.Query(ctx, storage.Query{Kind: "ticket", Limit: 500,
		Filters: []storage.Filter{storage.Eq("grp", storage.String("g3")), storage.Eq("state", storage.String("new"))},
		Sort:    []storage.Sort{{Field: "prio"}, {Field: "opened"}}})
	require.NoError(t, err)
	assert.Len(t, idsOf(page.Docs), 500)
	var integrity string
	require.NoError(t, s.r.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&integrity))
	assert.Equal(t, "ok", integrity)
	h, err := s.History(ctx, "ticket", "big000042")
	require.NoError(t, err)
	require.NoError(t, itsm.Verify(h, ""))
}

// TestImportOrder: Import writes a kind's documents in id order whatever
// order they come in, without reordering the caller's slice; every document
// lands, and a conflict still names the document that exists.
func TestImportOrder(t *testing.T) {
	ctx := t.Context()
	n := 3000
	if raceEnabled || testing.Short() {
		n = 600
	}
	tests := []struct {
		name  string
		order func(i int) int // position of document i
	}{
		{"ascending", func(i int) int { return i }},
		{"descending", func(i int) int { return n - 1 - i }},
		{"scattered", func(i int) int { return (i * 7919) % n }}, // 7919 is prime, n is not a multiple of it
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t)
			require.NoError(t, s.Register(ctx, ticketSchema))
			docs := make([]storage.Document, n)
			for i := range n {
				docs[tt.order(i)] = ticket(fmt.Sprintf("o%05d", i), 1, fmt.Sprintf("g%d", i%7), "s", int64(i%5), t0)
			}
			given := slices.Clone(docs)
			require.NoError(t, s.Import(ctx, docs, nil))
			assert.Equal(t, given, docs, "the caller's slice is left as it was")
			var ids []string
			rows, err := s.w.QueryContext(ctx, "SELECT _id FROM pillars_doc_ticket ORDER BY rowid")
			require.NoError(t, err)
			for rows.Next() {
				var id string
				require.NoError(t, rows.Scan(&id))
				ids = append(ids, id)
			}
			require.NoError(t, rows.Err())
			require.Len(t, ids, n)
			assert.True(t, slices.IsSorted(ids), "rows were inserted in id order")
			for _, i := range []int{0, n / 2, n - 1} {
				got, err := s.Get(ctx, "ticket", docs[i].ID)
				require.NoError(t, err)
				assert.Equal(t, docs[i], got)
			}
			more := []storage.Document{ticket("zz-new", 1, "g", "s", 1, t0), docs[n/3], ticket("aa-new", 1, "g", "s", 1, t0)}
			var ce *itsm.ConflictError
			require.ErrorAs(t, s.Import(ctx, more, nil), &ce)
			assert.Equal(t, docs[n/3].ID, ce.ID, "the conflict names the document that exists")
			_, err = s.Get(ctx, "ticket", "aa-new")
			require.ErrorIs(t, err, itsm.ErrNotFound, "all or nothing")
			// The conflict ended the import's transaction inside SQLite (OR
			// ROLLBACK): the writer connection is usable afterwards.
			put(t, s, ticket("after", 1, "g", "s", 1, t0), 0)
			require.NoError(t, s.Import(ctx, more[:1], chain("ticket", "zz-new", 1, t0)))
			h, err := s.History(ctx, "ticket", "zz-new")
			require.NoError(t, err)
			assert.Len(t, h, 1)
		})
	}
}
