package customstore

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/storage"
)

// TestPlan checks which sorted set a query walks and how: the queue queries
// the indexes were declared for are read straight off one set.
func TestPlan(t *testing.T) {
	sc := storage.Schema{
		Kind: "incident",
		Fields: []storage.Field{{Name: "assignment_group", Type: storage.TypeString}, {Name: "state", Type: storage.TypeString},
			{Name: "priority", Type: storage.TypeInt}, {Name: "opened_at", Type: storage.TypeTime}},
		Indexes: []storage.Index{{Name: "queue", Fields: []string{"assignment_group", "state", "priority", "opened_at"}}},
	}
	ki := newKindInfo("{p}:", sc)
	str, num := storage.String, storage.Int
	at := storage.Time(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	ix := "{p}:ix:incident:"
	cases := []struct {
		name    string
		filters []storage.Filter
		sort    []storage.Sort
		key     string
		mode    int
		lo      string // expected lower bound, "" for none
	}{
		{"everything by id", nil, nil, ix + "id", served, ""},
		{"one group by id", []storage.Filter{storage.Eq("assignment_group", str("net"))}, nil, ix + "f:assignment_group:a", served, encodeFields([]storage.Value{str("net")})},
		{"queue", []storage.Filter{storage.Eq("assignment_group", str("net")), storage.Eq("state", str("new"))},
			[]storage.Sort{{Field: "priority"}, {Field: "opened_at"}}, ix + "i:queue:a", served, encodeFields([]storage.Value{str("net"), str("new")})},
		{"queue newest first", []storage.Filter{storage.Eq("assignment_group", str("net")), storage.Eq("state", str("new"))},
			[]storage.Sort{{Field: "priority", Desc: true}, {Field: "opened_at", Desc: true}}, ix + "i:queue:d", served, encodeFields([]storage.Value{str("net"), str("new")})},
		{"queue with a priority floor", []storage.Filter{storage.Eq("assignment_group", str("net")), storage.Eq("state", str("new")), storage.Gte("priority", num(2))},
			[]storage.Sort{{Field: "priority"}, {Field: "opened_at"}}, ix + "i:queue:a", served, encodeFields([]storage.Value{str("net"), str("new"), num(2)})},
		{"opened since", []storage.Filter{storage.Gte("opened_at", at)}, []storage.Sort{{Field: "opened_at", Desc: true}}, ix + "f:opened_at:d", served, encodeFields([]storage.Value{at})},
		{"mixed directions with a group", []storage.Filter{storage.Eq("assignment_group", str("net")), storage.Eq("state", str("new"))},
			[]storage.Sort{{Field: "priority"}, {Field: "opened_at", Desc: true}}, ix + "i:queue:a", gathered, encodeFields([]storage.Value{str("net"), str("new")})},
		{"suffix without its prefix", nil, []storage.Sort{{Field: "priority"}, {Field: "opened_at"}}, ix + "f:priority:a", grouped, ""},
		{"suffix without its prefix desc", nil, []storage.Sort{{Field: "priority", Desc: true}, {Field: "opened_at", Desc: true}}, ix + "f:priority:d", grouped, ""},
	}
	for _, c := range cases {
		p, err := sc.CheckQuery(storage.Query{Kind: "incident", Filters: c.filters, Sort: c.sort})
		require.NoError(t, err, c.name)
		ws, mode := ki.plan(p)
		require.Len(t, ws, 1, c.name)
		w := ws[0]
		assert.Equal(t, c.key, w.key, c.name)
		assert.Equal(t, c.mode, mode, c.name)
		assert.Equal(t, c.lo, w.lo, c.name)
		assert.False(t, w.empty, c.name)
	}
	// With the queue's fields CompositeOnly, a group alone is read as the
	// queue's range for that group, not the whole kind in id order.
	compact := sc
	compact.Fields = append([]storage.Field(nil), sc.Fields...)
	for i := range compact.Fields {
		compact.Fields[i].CompositeOnly = true
	}
	kc := newKindInfo("{p}:", compact)
	for _, c := range []struct {
		name    string
		filters []storage.Filter
		sort    []storage.Sort
		key     string
		mode    int
	}{
		{"one group by id", []storage.Filter{storage.Eq("assignment_group", str("net"))}, nil, ix + "i:queue:a", gathered},
		{"queue", []storage.Filter{storage.Eq("assignment_group", str("net")), storage.Eq("state", str("new"))},
			[]storage.Sort{{Field: "priority"}, {Field: "opened_at"}}, ix + "i:queue:a", served},
		{"listing in queue order", nil, []storage.Sort{{Field: "assignment_group"}, {Field: "state"}, {Field: "priority"}, {Field: "opened_at"}},
			ix + "i:queue:a", served},
	} {
		p, err := compact.CheckQuery(storage.Query{Kind: "incident", Filters: c.filters, Sort: c.sort})
		require.NoError(t, err, c.name)
		ws, mode := kc.plan(p)
		require.Len(t, ws, 1, c.name)
		assert.Equal(t, c.key, ws[0].key, c.name)
		assert.Equal(t, c.mode, mode, c.name)
	}

	// A range that cannot hold anything is known before reading.
	p, err := sc.CheckQuery(storage.Query{Kind: "incident", Filters: []storage.Filter{storage.Gt("priority", num(1<<63-1))}, Sort: []storage.Sort{{Field: "priority"}}})
	require.NoError(t, err)
	ws, _ := ki.plan(p)
	require.Len(t, ws, 1)
	assert.True(t, ws[0].empty)

	// "Unassigned in my groups, by priority": one range per group, merged.
	p, err = sc.CheckQuery(storage.Query{Kind: "incident", Filters: []storage.Filter{
		storage.In("assignment_group", str("net"), str("db"), str("net")), storage.Eq("state", str("new"))},
		Sort: []storage.Sort{{Field: "priority"}, {Field: "opened_at"}}})
	require.NoError(t, err)
	ws, mode := ki.plan(p)
	assert.Equal(t, served, mode)
	require.Len(t, ws, 2, "one range per distinct group")
	for i, g := range []string{"db", "net"} {
		assert.Equal(t, ix+"i:queue:a", ws[i].key)
		assert.Equal(t, encodeFields([]storage.Value{str(g), str("new")}), ws[i].lo)
	}
}
