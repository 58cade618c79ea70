package storage

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/internal/jsontext"
	"github.com/pillars-itsm/pillars/itsm"
)

type foldProbe struct {
	itsm.Record
	Title string    `json:"title"`
	Note  string    `json:"note,omitempty"`
	N     int       `json:"n,omitempty"`
	On    bool      `json:"on"`
	At    time.Time `json:"at,omitzero"`
	Tags  []string  `json:"tags,omitempty"`
	Small int8      `json:"small,omitempty"`
	Mid   int32     `json:"mid"`
	Level probeName `json:"level,omitzero"`
}

type probeName string

// encodeAfter encodes what a command changed and lists the changes: the
// document is the whole encoding's, and the changes are those a diff of
// every member lists, whatever changed; prev members out of the codec's
// order are left to the diff.
func TestEncodeAfterListsWhatADiffLists(t *testing.T) {
	if !jsontext.MatchesEncodingJSON() {
		t.Skip("the codec defers to encoding/json")
	}
	c := newCodec(reflect.TypeFor[foldProbe]())
	require.True(t, c.encodable)
	plan := c.foldPlan(reflect.TypeFor[foldProbe]())
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	base := foldProbe{Record: itsm.Record{ID: "a", Version: 3, Head: "h1", State: "new", UpdatedAt: t0}, Title: "mail", Note: "x", On: true, Tags: []string{"a"}}
	for _, tc := range []struct {
		name    string
		prev    func(*foldProbe)
		change  func(*foldProbe)
		reorder bool // prev's members stored in another order
		listed  bool
	}{
		{name: "meta only", change: func(p *foldProbe) {}, listed: true},
		{name: "a string", change: func(p *foldProbe) { p.Title = "mail slow" }, listed: true},
		{name: "dropped by omitempty", change: func(p *foldProbe) { p.Note = "" }, listed: true},
		{name: "added", change: func(p *foldProbe) { p.N, p.At = 2, t0 }, listed: true},
		{name: "from prev without members", prev: func(p *foldProbe) { p.Note, p.Tags = "", nil }, change: func(p *foldProbe) { p.Note = "y"; p.State = "done" }, listed: true},
		{name: "narrow integers and a named string", change: func(p *foldProbe) { p.Small, p.Mid, p.Level = -3, 1<<20, "high" }, listed: true},
		{name: "narrow integers dropped", prev: func(p *foldProbe) { p.Small, p.Mid, p.Level = 5, 7, "low" }, change: func(p *foldProbe) { p.Small, p.Mid, p.Level = 0, 0, "" }, listed: true},
		{name: "a slice, re-encoded", change: func(p *foldProbe) { p.Tags = append(p.Tags, "b") }, listed: true},
		{name: "a slice, the same", change: func(p *foldProbe) { p.Tags = []string{"a"} }, listed: true},
		{name: "a time, the same instant", prev: func(p *foldProbe) { p.At = t0 }, change: func(p *foldProbe) { p.At = t0.In(time.FixedZone("x", 0)) }, listed: true},
		{name: "prev out of order", change: func(p *foldProbe) { p.On = false }, reorder: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prev := base
			prev.Tags = append([]string(nil), base.Tags...)
			if tc.prev != nil {
				tc.prev(&prev)
			}
			data, err := json.Marshal(&prev)
			require.NoError(t, err)
			pm, err := topLevelMembers(data, nil)
			require.NoError(t, err)
			if tc.reorder {
				pm[0], pm[1] = pm[1], pm[0]
			}
			next := prev
			next.Tags = append([]string(nil), prev.Tags...)
			tc.change(&next)
			next.Version, next.Head, next.UpdatedAt = prev.Version+1, headPlaceholder, t0.Add(time.Minute)

			got, ok := c.encodeAfter(reflect.ValueOf(&next).Elem(), reflect.ValueOf(&prev).Elem(), pm, nil, plan)
			require.True(t, ok)
			whole, err := json.Marshal(&next)
			require.NoError(t, err)
			assert.Equal(t, string(whole), string(joinMembers(got.members)))
			assert.Equal(t, tc.listed, got.listed)
			if !got.listed {
				return
			}
			changes, head := diffMembers(pm, got.members, metaFields, "head")
			assert.Equal(t, changes, got.changes)
			assert.Equal(t, string(head), string(got.head))
			assert.Equal(t, `"`+headPlaceholder+`"`, string(got.head))
		})
	}
}

// A fold's event ids are version 7 UUIDs as itsm.NewID writes them, in
// the order they are drawn.
func TestFoldIDs(t *testing.T) {
	var ids foldIDs
	prev := ""
	for range 3*foldIDBlock + 1 {
		id := ids.next()
		require.True(t, itsm.ValidID(id), id)
		u, err := uuid.Parse(id)
		require.NoError(t, err)
		assert.Equal(t, uuid.Version(7), u.Version())
		assert.Equal(t, u.String(), id)
		assert.Less(t, prev, id)
		prev = id
	}
}
