package storage_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

type gauge struct {
	itsm.Record
	Name   string   `json:"name"`
	Level  int64    `json:"level,omitempty"`
	Labels []string `json:"labels,omitempty"`
}

// TestFieldChangesListsWhatRecordsWrites: the changes FieldChanges finds
// between two stored versions of a record are those the event of the
// Records write between them lists.
func TestFieldChangesListsWhatRecordsWrites(t *testing.T) {
	ctx := itsm.WithActor(context.Background(), itsm.Actor{ID: "ann", Roles: []string{"agent"}})
	store := memory.New()
	coll := storage.NewCollection[gauge]("gauge")
	require.NoError(t, coll.Register(ctx, store))
	m, err := itsm.NewLifecycle[*gauge]("gauge").Initial("on").Final("off").Event("stop", "off", "on").Compile()
	require.NoError(t, err)
	recs, err := storage.NewRecords(store, coll, m, storage.RecordsConfig{})
	require.NoError(t, err)
	g := &gauge{Name: "boiler", Labels: []string{"a"}}
	require.NoError(t, recs.Create(ctx, g, storage.Command{}))
	edits := []struct {
		name  string
		event string
		edit  func(*gauge) error
	}{
		{"a field and a new member", "", func(x *gauge) error { x.Name, x.Level = "boiler 2", 7; return nil }},
		{"a member dropped, an array changed", "", func(x *gauge) error { x.Level, x.Labels = 0, []string{"a", "<b>"}; return nil }},
		{"a state change", "stop", nil},
	}
	for _, e := range edits {
		t.Run(e.name, func(t *testing.T) {
			before, err := store.Get(ctx, "gauge", g.ID)
			require.NoError(t, err)
			if e.event == "" {
				_, err = recs.Change(ctx, g.ID, storage.Command{}, e.edit)
			} else {
				_, err = recs.Fire(ctx, g.ID, e.event, storage.Command{}, e.edit)
			}
			require.NoError(t, err)
			after, err := store.Get(ctx, "gauge", g.ID)
			require.NoError(t, err)
			hist, err := store.History(ctx, "gauge", g.ID)
			require.NoError(t, err)
			got, err := storage.FieldChanges(before.Data, after.Data)
			require.NoError(t, err)
			require.NotEmpty(t, got)
			assert.Equal(t, hist[len(hist)-1].Changes, got)
		})
	}
	_, err = storage.FieldChanges([]byte(`{}`), []byte(`[1]`))
	assert.ErrorIs(t, err, itsm.ErrInvalid)
}

// TestRewriteEncodesAndListsAsFieldChanges: Collection.Rewrite's document
// is the one Encode writes for the edited record, its changes are those
// FieldChanges lists between the two encodings, and its head is the head
// member within the document's data; a nil record writes nothing.
func TestRewriteEncodesAndListsAsFieldChanges(t *testing.T) {
	coll := storage.NewCollection[gauge]("gauge")
	stored := &gauge{Record: itsm.Record{ID: "g1", Version: 3, State: "on", Head: "abc"}, Name: "boiler", Level: 2, Labels: []string{"a"}}
	before, err := coll.Encode(stored)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		edit func(g *gauge)
	}{
		{"nothing but the head and version", func(g *gauge) { g.Version, g.Head = 4, "def" }},
		{"a field and a member dropped", func(g *gauge) { g.Version, g.Head, g.Name, g.Level = 4, "def", "boiler 2", 0 }},
		{"a new member and an array", func(g *gauge) { g.Version, g.Head, g.Labels, g.State = 4, "", []string{"a", `"b"`}, "off" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want gauge
			doc, changes, head, err := coll.Rewrite(before, func(g *gauge) (*gauge, error) {
				want = *g
				want.Labels = append([]string(nil), g.Labels...)
				tc.edit(&want)
				return &want, nil
			})
			require.NoError(t, err)
			enc, err := coll.Encode(&want)
			require.NoError(t, err)
			assert.Equal(t, string(enc.Data), string(doc.Data))
			assert.Equal(t, enc.Fields, doc.Fields)
			listed, err := storage.FieldChanges(before.Data, enc.Data)
			require.NoError(t, err)
			assert.Equal(t, listed, changes)
			assert.Equal(t, `"`+want.Head+`"`, string(head))
			if want.Head == "" {
				return
			}
			copy(head[1:], "xyz")
			assert.Contains(t, string(doc.Data), `"head":"xyz"`, "the head is part of the data")
		})
	}
	doc, changes, head, err := coll.Rewrite(before, func(*gauge) (*gauge, error) { return nil, nil })
	require.NoError(t, err)
	assert.Nil(t, doc.Data)
	assert.Nil(t, changes)
	assert.Nil(t, head)
}
