package sqlite

import (
	"fmt"
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
