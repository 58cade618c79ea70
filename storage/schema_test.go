package storage

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
)

func TestIndexedStringsAreBounded(t *testing.T) {
	s := Schema{Kind: "ticket", Fields: []Field{{Name: "a", Type: TypeString}, {Name: "b", Type: TypeString}, {Name: "c", Type: TypeString}},
		Indexes: []Index{{Name: "abc", Fields: []string{"a", "b", "c"}}}}
	require.NoError(t, s.Validate())
	doc := func(id, v string) Document {
		return Document{Kind: "ticket", ID: id, Version: 1, Fields: []Value{String(v), String(v), String(v)}}
	}
	longest := strings.Repeat("é", MaxStringValue/2)
	tests := []struct {
		name string
		doc  Document
		ok   bool
	}{
		{"longest allowed", doc("x", longest), true},
		{"too long", doc("x", longest+"a"), false},
		{"NUL", doc("x", "a\x00b"), false},
		{"invalid UTF-8", doc("x", "a\xffb"), false},
		{"NUL in id", doc("a\x00", "v"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CheckDocument(tt.doc)
			if tt.ok {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, itsm.ErrInvalid)
			_, err = s.CheckQuery(Query{Kind: "ticket", Filters: []Filter{Eq("a", tt.doc.Fields[0])}})
			if tt.name != "NUL in id" {
				assert.ErrorIs(t, err, itsm.ErrInvalid, "filters refuse what documents refuse")
			}
		})
	}

	// A cursor over three of the longest sort values still round trips.
	q := Query{Kind: "ticket", Sort: []Sort{{Field: "a"}, {Field: "b", Desc: true}, {Field: "c"}}}
	p, err := s.CheckQuery(q)
	require.NoError(t, err)
	d := doc(strings.Repeat("i", 128), longest)
	q.Cursor = p.NextCursor(d)
	p2, err := s.CheckQuery(q)
	require.NoError(t, err)
	assert.Equal(t, p.SortKey(d), p2.After)
	assert.Equal(t, d.ID, p2.AfterID)
}

// A plan matches a long In list through a set; it must agree with the
// filter's reference semantics on every value, in and out of the list.
func TestPlanMatchesLongInListsAsFilterMatch(t *testing.T) {
	s := Schema{Kind: "k", Fields: []Field{{Name: "s", Type: TypeString}, {Name: "n", Type: TypeInt}}}
	for _, size := range []int{1, 16, 17, 100} {
		var strs, ints []Value
		for i := range size {
			strs = append(strs, String(fmt.Sprintf("v%d", 2*i)))
			ints = append(ints, Int(int64(3*i)))
		}
		filters := []Filter{In("s", strs...), In("n", ints...)}
		p, err := s.CheckQuery(Query{Kind: "k", Filters: filters})
		require.NoError(t, err)
		for i := range 4 * size {
			d := Document{Kind: "k", ID: "x", Fields: []Value{String(fmt.Sprintf("v%d", i)), Int(int64(i))}}
			want := filters[0].Match(d.Fields[0]) && filters[1].Match(d.Fields[1])
			assert.Equal(t, want, p.Matches(d), "size %d value %d", size, i)
		}
	}
}

// A CompositeOnly field must be named by an index, and a query touching one
// is accepted only when an index serves it.
func TestCompositeOnlyQueriesMustBeServedByAnIndex(t *testing.T) {
	s := Schema{Kind: "ticket", Fields: []Field{
		{Name: "grp", Type: TypeString, CompositeOnly: true},
		{Name: "state", Type: TypeString, CompositeOnly: true},
		{Name: "prio", Type: TypeInt, CompositeOnly: true},
		{Name: "caller", Type: TypeString},
	}, Indexes: []Index{{Name: "queue", Fields: []string{"grp", "state", "prio"}}}}
	require.NoError(t, s.Validate())

	orphan := s
	orphan.Fields = append(append([]Field(nil), s.Fields...), Field{Name: "loose", Type: TypeInt, CompositeOnly: true})
	require.ErrorIs(t, orphan.Validate(), itsm.ErrInvalid, "a CompositeOnly field no index names")

	g, st, pr := Eq("grp", String("net")), Eq("state", String("new")), Eq("prio", Int(1))
	tests := []struct {
		name    string
		filters []Filter
		sort    []Sort
		ok      bool
	}{
		{"no filters, no sort", nil, nil, true},
		{"own index only", []Filter{Eq("caller", String("c"))}, nil, true},
		{"own index beside composite-only", []Filter{Eq("caller", String("c")), st, pr}, nil, true},
		{"range on own index beside composite-only", []Filter{Gt("caller", String("c")), pr}, nil, true},
		{"first field of the index", []Filter{g}, nil, true},
		{"In on the first field", []Filter{In("grp", String("a"), String("b")), pr}, nil, true},
		{"queue: fixed prefix, sorted suffix", []Filter{g, st}, []Sort{{Field: "prio"}}, true},
		{"queue sort after the fixed first field", []Filter{g}, []Sort{{Field: "state"}, {Field: "prio"}}, true},
		{"second field alone", []Filter{st}, nil, false},
		{"range on the first field", []Filter{Gt("grp", String("a"))}, nil, false},
		{"sort by a composite-only field", nil, []Sort{{Field: "prio"}}, false},
		{"declared suffix without its prefix fixed", []Filter{st}, []Sort{{Field: "prio"}}, false},
		{"sort by an undeclared composite-only suffix", []Filter{g}, []Sort{{Field: "state"}}, false},
		{"own-index sort", nil, []Sort{{Field: "caller"}}, true},
		{"one-value In fixes a queue prefix", []Filter{In("grp", String("net")), st}, []Sort{{Field: "prio", Desc: true}}, true},
		{"listing in the whole index's order", nil, []Sort{{Field: "grp"}, {Field: "state"}, {Field: "prio"}}, true},
		{"whole-index sort hides a second-field filter", []Filter{pr}, []Sort{{Field: "grp"}, {Field: "state"}, {Field: "prio"}}, false},
		{"whole-index sort with a first-field range", []Filter{Gt("grp", String("a"))}, []Sort{{Field: "grp"}, {Field: "state"}, {Field: "prio"}}, false},
		{"mixed directions", nil, []Sort{{Field: "grp"}, {Field: "state", Desc: true}, {Field: "prio"}}, false},
		{"mixed directions within a fixed first field", []Filter{g}, []Sort{{Field: "state"}, {Field: "prio", Desc: true}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CheckQuery(Query{Kind: "ticket", Filters: tt.filters, Sort: tt.sort})
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, itsm.ErrInvalid)
		})
	}
}

// FieldSpec.CompositeOnly marks the declared field, and only it.
func TestFieldSpecCompositeOnly(t *testing.T) {
	type rec struct {
		itsm.Record
		Group string `json:"group"`
		Owner string `json:"owner"`
	}
	c := NewCollection[rec]("rec",
		StringField("group", func(r *rec) string { return r.Group }).CompositeOnly(),
		StringField("owner", func(r *rec) string { return r.Owner }),
	).WithIndex("queue", "group", "state")
	s := c.Schema()
	require.NoError(t, s.Validate())
	for _, f := range s.Fields {
		assert.Equal(t, f.Name == "group", f.CompositeOnly, f.Name)
	}
}
